"""Working time: a plan's working days and hours in its own time zone.

Every figure that speaks of delay, busy time or schedule counts working time,
so a task due at Friday 17:00 and still open on Monday 09:30 is 30 minutes
late, not 64 hours. Local wall times are resolved with zoneinfo on each date,
so the working day stays 09:00–17:00 local across daylight-saving changes.
"""

from collections.abc import Container, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A span longer than this is certainly a mistake (a clock far in the future).
_MAX_DAYS = 366 * 20


def wall_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant the clocks of `zone` read `wall` on `day`, by the rules of time (docs/semantics.md).

    A wall time inside an overlap (it shows twice) is its first occurrence. One inside a gap (the
    clocks jump over it: 02:30 on a spring-forward night, 00:00 in Santiago) is the first instant
    after the gap, when the clocks show the gap's end.
    """
    local = datetime.combine(day, wall, zone)  # fold=0: the offset before a change, the first occurrence
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return local
    # In a gap: read with the offset after the change (fold=1) it is an instant before the jump, with
    # the offset before it (fold=0) an instant after. The jump lies between, on a whole second.
    before = int(local.replace(fold=1).timestamp())
    after = int(local.timestamp())
    offset_after = local.astimezone(UTC).astimezone(zone).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, zone)


def next_wall_instant(start: datetime, wall: time, zone: ZoneInfo, weekdays: Container[int]) -> datetime | None:
    """The first instant at or after `start` when `zone`'s clocks read `wall` on one of `weekdays`
    (0 = Monday), by the rules of `wall_instant`; None when no weekday is given."""
    day = start.astimezone(zone).date() - timedelta(days=1)  # a jump can carry a time to the next date
    for _ in range(9):
        if day.weekday() in weekdays:
            instant = wall_instant(day, wall, zone)
            if instant >= start:
                return instant
        day += timedelta(days=1)
    return None


class WorkCalendar:
    def __init__(
        self,
        timezone: str = "UTC",
        working_days: Iterable[str] = WEEKDAYS[:5],
        working_hours: tuple[str, str] = ("09:00", "17:00"),
        holidays: Iterable[date] = (),
        holiday_calendar: str | None = None,
    ):
        self.zone = ZoneInfo(timezone)
        self.weekdays = {WEEKDAYS.index(d) for d in working_days}
        self.opens = time.fromisoformat(working_hours[0])
        # "24:00" closes the day at the next midnight: hours 00:00–24:00 every day are around the clock.
        self._to_midnight = working_hours[1] == "24:00"
        self.closes = time(0) if self._to_midnight else time.fromisoformat(working_hours[1])
        self.holidays = set(holidays)
        self.holiday_calendar = holiday_calendar

    @property
    def day_s(self) -> int:
        """Length of one working day in seconds (what ``1d`` means in an estimate)."""
        opens = datetime.combine(date(2000, 1, 3), self.opens)
        closes = datetime.combine(date(2000, 1, 4 if self._to_midnight else 3), self.closes)
        return int((closes - opens).total_seconds())

    @cached_property
    def _public_holidays(self) -> Container[date]:
        if not self.holiday_calendar:
            return {}
        import holidays  # only plans that name a calendar pay for the import

        country, _, region = self.holiday_calendar.partition("-")  # "US-NY": New York's calendar
        return holidays.country_holidays(country, subdiv=region or None)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays and day not in self._public_holidays

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The working hours of a local date, as aware datetimes."""
        return (
            datetime.combine(day, self.opens, self.zone),
            datetime.combine(day + timedelta(days=1) if self._to_midnight else day, self.closes, self.zone),
        )

    def is_working_time(self, instant: datetime) -> bool:
        """Whether `instant` falls inside this calendar's working hours of a working day, the closing
        minute included (a sync at 17:00 still finds the people whose day ends at 17:00)."""
        day = self.local_date(instant)
        if not self.is_working_day(day):
            return False
        opens, closes = self.window(day)
        return opens <= instant <= closes

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def _days_from(self, day: date, step: int = 1) -> Iterator[date]:
        for offset in range(_MAX_DAYS):
            yield day + timedelta(days=offset * step)

    def working_seconds(self, start: datetime, end: datetime) -> int:
        """Working seconds in ``[start, end)``; zero when end is not after start."""
        if end <= start:
            return 0
        total = 0.0
        last = self.local_date(end)
        for day in self._days_from(self.local_date(start)):
            if day > last:
                break
            if not self.is_working_day(day):
                continue
            opens, closes = self.window(day)
            lo, hi = max(opens, start), min(closes, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        return int(total)

    def add_working(self, start: datetime, seconds: float) -> datetime:
        """The instant ``seconds`` of working time after ``start``."""
        remaining = float(seconds)
        for day in self._days_from(self.local_date(start)):
            if not self.is_working_day(day):
                continue
            opens, closes = self.window(day)
            lo = max(opens, start)
            if lo >= closes:
                continue
            available = (closes - lo).total_seconds()
            if remaining <= available:
                return lo + timedelta(seconds=remaining)
            remaining -= available
        raise ValueError("no working time within twenty years: check working-days and holidays")

    def subtract_working(self, end: datetime, seconds: float) -> datetime:
        """The instant ``seconds`` of working time before ``end``."""
        remaining = float(seconds)
        for day in self._days_from(self.local_date(end), step=-1):
            if not self.is_working_day(day):
                continue
            opens, closes = self.window(day)
            hi = min(closes, end)
            if hi <= opens:
                continue
            available = (hi - opens).total_seconds()
            if remaining <= available:
                return hi - timedelta(seconds=remaining)
            remaining -= available
        raise ValueError("no working time within twenty years: check working-days and holidays")

    def working_day_number(self, start: datetime, day: date) -> int:
        """1 for the plan's first working day, 2 for the next, … (0 before it)."""
        first = self.nth_working_day(start, 1)
        return sum(1 for d in self._span(first, day) if self.is_working_day(d))

    def nth_working_day(self, start: datetime, n: int) -> date:
        """Working day ``n`` of a plan started at ``start``; a start after closing time counts from the next."""
        if n < 1:
            raise ValueError(f"working days are numbered from 1, not {n}")
        count = 0
        for day in self._days_from(self.local_date(start)):
            if self.is_working_day(day) and start < self.window(day)[1]:
                count += 1
                if count == n:
                    return day
        raise ValueError("no working day within twenty years: check working-days and holidays")

    def end_of_working_day(self, start: datetime, n: int) -> datetime:
        """When working day ``n`` of a plan started at ``start`` closes."""
        return self.window(self.nth_working_day(start, n))[1]

    def _span(self, first: date, last: date) -> Iterator[date]:
        day = first
        while day <= last:
            yield day
            day += timedelta(days=1)
