"""Turns at the Slack method rationed for the whole app (models/state/turns.py), on both stores.

Slack allows an app outside the Marketplace one conversations.history call a minute, whichever of its
processes makes it (https://api.slack.com/changelog/2025-05-terms-rate-limit-update-and-faq). The
alert deliveries of every replica look every two seconds; a sync prompt in doubt looks when its retry
comes round: the first refused keeps the next turn, or the most frequent caller would take them all.
"""

from datetime import UTC, datetime, timedelta

from models.state.turns import RESERVED_FOR, opens_at, take_turn

LOOKS = "conversations.history"
MINUTE = timedelta(seconds=61)
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_one_caller_a_turn_and_the_next_opens_a_minute_later(engine):
    assert opens_at(engine, LOOKS, "alerts") is None
    assert take_turn(engine, LOOKS, T0, MINUTE, "alerts") is None  # the first turn ever
    assert take_turn(engine, LOOKS, T0 + timedelta(seconds=1), MINUTE, "alerts") == T0 + MINUTE
    assert take_turn(engine, LOOKS, T0 + MINUTE, MINUTE, "alerts") is None


def test_the_first_refused_has_the_next_turn_kept_for_it(engine):
    take_turn(engine, LOOKS, T0, MINUTE, "alerts")
    # A prompt in doubt is refused while the alerts' turn lasts: the next turn is kept for it...
    assert take_turn(engine, LOOKS, T0 + timedelta(seconds=5), MINUTE, "sync slot 7") == T0 + MINUTE
    # ... so the alert deliveries, which look every two seconds, do not take it when it opens.
    opened = T0 + MINUTE
    assert opens_at(engine, LOOKS, "alerts") == opened + RESERVED_FOR
    assert take_turn(engine, LOOKS, opened, MINUTE, "alerts") == opened + RESERVED_FOR
    assert take_turn(engine, LOOKS, opened + timedelta(seconds=2), MINUTE, "sync slot 7") is None
    # Then the turn after is anyone's again, the refused alerts' first.
    assert opens_at(engine, LOOKS, "alerts") == opened + timedelta(seconds=2) + MINUTE


def test_a_turn_kept_for_a_caller_that_does_not_come_is_anyones_after_a_while(engine):
    take_turn(engine, LOOKS, T0, MINUTE, "alerts")
    take_turn(engine, LOOKS, T0 + timedelta(seconds=5), MINUTE, "sync slot 7")  # then its post was settled
    assert take_turn(engine, LOOKS, T0 + MINUTE + RESERVED_FOR, MINUTE, "alerts") is None
