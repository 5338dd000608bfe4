"""The fault campaign of issue 15, bounded: three replicas on a throwaway PostgreSQL, kills, Slack's 429s
and 500s, answers lost after a post, SMTP down and up, a PostgreSQL restart, Slack's history limit; then
the ledger of everything sent and acked against what happened (tests/fault_campaign.py).

Its clock is scaled down to fit the suite (about three minutes): load and faults for 75 s, a replica
killed every 20 to 30 s, Slack's one conversations.history call a minute shortened to one per 20 s.
ORCHESTRATE_FAULT_SEED picks the seed (the run's figures are printed: -s shows them); the full
campaign, at Slack's real pace and over several seeds, is `python bench/fault_campaign.py`.
"""

import os

import pytest

from tests import pg
from tests.fault_campaign import Campaign, Settings

BOUNDED = Settings(
    seed=int(os.environ.get("ORCHESTRATE_FAULT_SEED", "1")),
    faults_s=75.0,
    kill_every=(20.0, 30.0),
    history_window_s=20.0,
    drain_s=120.0,
    command_every_s=1.0,
    smtp_down_s=15.0,
    lease_s=10,
)


@pytest.mark.postgresql
def test_nothing_acked_is_lost_and_nothing_is_done_twice_under_faults(tmp_path):
    reason = pg.Server.unavailable()
    if reason:
        pytest.skip(reason)
    campaign = Campaign(BOUNDED, tmp_path).run()
    print("figures:", campaign.figures)
    print("faults:", campaign.faults)
    assert campaign.violations == [], (campaign.figures, campaign.faults)
    # The campaign happened as designed (a busy machine sends fewer commands, never fewer kills).
    assert campaign.figures["commands_acked"] >= 25 and campaign.figures["kills"] >= 2
    assert campaign.figures["alerts"] >= 20 and campaign.figures["answers"] >= 3
