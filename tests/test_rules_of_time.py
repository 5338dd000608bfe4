"""The rules of time for scheduled syncs (docs/semantics.md, "Local times that do not exist or happen twice").

A sync's local time inside a daylight-saving gap (it never shows on the clocks that day) posts once,
at the first instant after the gap; a time inside an overlap (it shows twice) posts once, at its
first occurrence. The long walk checks every slot of three years in eight zones against instants
this file works out by its own means: stepping through UTC in quarter hours and reading the wall
clock with zoneinfo, never with the project's calendar code.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.scheduler import sync_trigger
from models.rules.sync import ScheduledSync, SyncEntry
from models.time.calendar import wall_instant

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Sync times inside each zone's gaps and overlaps of 2026–2028, at midnight, and an ordinary one.
ZONES = {
    "America/Santiago": ["00:00", "00:30", "23:30", "09:00"],  # gap 00:00–01:00 (Sep), overlap 23:00–24:00 (Apr)
    "Australia/Lord_Howe": ["02:00", "02:15", "01:45", "09:00"],  # half-hour gap (Oct) and overlap (Apr)
    "Asia/Kathmandu": ["00:00", "09:00"],  # UTC+05:45, no change
    "Europe/Dublin": ["01:00", "01:30", "09:00"],  # gap (Mar) and overlap (Oct) 01:00–02:00
    "Africa/Casablanca": ["02:00", "02:30", "09:00"],  # the hour around Ramadan, each year on other dates
    "Pacific/Apia": ["00:00", "09:00"],  # no change since 2021
    "America/New_York": ["02:00", "02:30", "01:30", "00:00"],  # gap (Mar) and overlap (Nov) around 02:00
    "Europe/Paris": ["02:00", "02:30", "09:00"],  # gap (Mar) 02:00–03:00, overlap (Oct)
}
FIRST, END = date(2026, 1, 1), date(2029, 1, 1)
QUARTER = timedelta(minutes=15)  # every offset and change of these zones falls on a quarter hour


def expected_instants(zone: ZoneInfo, wall: time) -> list[datetime]:
    """Per local day, the first UTC quarter hour whose wall clock reads `wall` or later that day."""
    found = []
    instant = datetime.combine(FIRST, time(0), UTC) - timedelta(hours=15)
    day = FIRST
    while day < END:
        local = instant.astimezone(zone)
        if local.date() > day:  # the day's wall clock never reached `wall` (cannot happen here)
            raise AssertionError(f"{zone} {day} {wall}: no instant")
        if local.date() == day and local.time() >= wall:
            found.append(instant)
            day += timedelta(days=1)
            instant = datetime.combine(day, time(0), UTC) - timedelta(hours=15)
            continue
        instant += QUARTER
    return found


def walk(zone_name: str, wall: str) -> list[datetime]:
    trigger = sync_trigger(
        ScheduledSync("WALK", SyncEntry("standup", wall, 900, ("all-agents",)), EVERY_DAY, zone_name)
    )
    start = datetime.combine(FIRST, time(0), ZoneInfo(zone_name))
    fires, previous = [], None
    while True:
        fire = trigger.get_next_fire_time(previous, previous or start)
        if fire is None or fire.astimezone(ZoneInfo(zone_name)).date() >= END:
            return fires
        fires.append(fire.astimezone(UTC))
        previous = fire


@pytest.mark.parametrize("zone_name, wall", [(z, w) for z, walls in ZONES.items() for w in walls])
def test_every_slot_of_three_years_fires_once_at_its_instant(zone_name, wall):
    expected = expected_instants(ZoneInfo(zone_name), time.fromisoformat(wall))
    fired = walk(zone_name, wall)
    assert len(expected) == (END - FIRST).days
    missing = sorted(set(expected) - set(fired))
    extra = sorted(set(fired) - set(expected))
    assert (missing, extra, len(fired)) == ([], [], len(expected))


@pytest.mark.parametrize(
    "zone_name, day, wall, expected_local",
    [
        # 02:30 does not exist in New York on 8 March 2026 (02:00 EST → 03:00 EDT): 03:00 EDT, not 03:30.
        ("America/New_York", date(2026, 3, 8), "02:30", "2026-03-08T03:00:00-04:00"),
        # 01:30 happens twice on 1 November 2026: the first, in EDT.
        ("America/New_York", date(2026, 11, 1), "01:30", "2026-11-01T01:30:00-04:00"),
        # Santiago springs forward at midnight on 6 September 2026: the day begins at 01:00.
        ("America/Santiago", date(2026, 9, 6), "00:00", "2026-09-06T01:00:00-03:00"),
        ("America/Santiago", date(2026, 9, 6), "00:30", "2026-09-06T01:00:00-03:00"),
        # Lord Howe moves half an hour on 4 October 2026: 02:15 posts at 02:30 (+11:00).
        ("Australia/Lord_Howe", date(2026, 10, 4), "02:15", "2026-10-04T02:30:00+11:00"),
        ("Europe/Paris", date(2026, 1, 5), "09:00", "2026-01-05T09:00:00+01:00"),
    ],
)
def test_a_local_time_is_one_instant_by_the_rules_of_time(zone_name, day, wall, expected_local):
    instant = wall_instant(day, time.fromisoformat(wall), ZoneInfo(zone_name))
    assert instant.astimezone(UTC) == datetime.fromisoformat(expected_local).astimezone(UTC)
