"""The example plan's clock, once for every test: Paris, January 2026, and how the dashboard rounds.

January 2026 has no daylight-saving change in Paris (UTC+1 all month), so a local time written here
is one instant, and the plan's working hours (Mon–Fri 09:00–17:00) are 08:00–16:00 UTC.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

PARIS = ZoneInfo("Europe/Paris")
H = 3600  # seconds in an hour

# Monday 5 January 2026, 09:00 in Paris (08:00 UTC): the example plan's first working hour.
MONDAY_9AM_PARIS = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def paris(day: int, hour: int, minute: int = 0, second: float = 0) -> datetime:
    """A local time in Paris on `day` January 2026."""
    whole = int(second)
    return datetime(2026, 1, day, hour, minute, whole, round((second - whole) * 1e6), tzinfo=PARIS)


def pct(value: float):
    """A computed figure as the dashboard shows it: in %, to one decimal."""
    return pytest.approx(value, abs=0.05)


def same_instant(expected: datetime, tolerance_s: float = 1.0):
    """A stored timestamp equal to `expected` to within a second."""
    return pytest.approx(expected.timestamp(), abs=tolerance_s)
