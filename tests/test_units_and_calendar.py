"""Durations, values, conditions, targets; working time across weekends and DST."""

from datetime import UTC, date, datetime

import pytest

from models.time.calendar import WorkCalendar
from models.time.units import (
    Quantity,
    UnitError,
    format_duration,
    parse_condition,
    parse_duration,
    parse_quantity,
    parse_target,
)
from tests.clock import PARIS


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("15min", 900),
        ("4h", 14400),
        ("4 hours", 14400),
        ("1.5 hours", 5400),
        ("2d", 2 * 28800),
        ("1d 4h", 28800 + 14400),
        ("90m", 5400),
        ("500ms", 0.5),
    ],
)
def test_durations_in_working_days(text, seconds):
    assert parse_duration(text, day_s=28800) == round(seconds)


@pytest.mark.parametrize("text", ["", "soon", "4 parsecs", "-2h", "0h", "4h later"])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(UnitError):
        parse_duration(text)


def test_values_come_in_base_units():
    assert parse_quantity("78%") == Quantity(78, "%")
    assert parse_quantity("620ms") == Quantity(0.62, "s")
    assert parse_quantity("1.5 hours") == Quantity(5400, "s")
    assert parse_quantity("3/day") == Quantity(3, "/day")
    assert parse_quantity("12") == Quantity(12, "")
    with pytest.raises(UnitError, match=r"e\.g\. 78%"):
        parse_quantity("lots")


def test_conditions_and_events():
    condition = parse_condition("task-delay > 4 hours")
    assert condition.metric == "task-delay"
    assert condition.comparison.holds(Quantity(5 * 3600, "s"))
    assert not condition.comparison.holds(Quantity(4 * 3600, "s"))
    assert parse_condition("api-response > 500ms").comparison.threshold == Quantity(0.5, "s")
    assert parse_condition("critical-bug-found").event == "critical-bug-found"
    with pytest.raises(UnitError, match="METRIC OP VALUE"):
        parse_condition("coverage is low!")


def test_targets_default_to_at_least():
    assert parse_target("100%").display() == ">= 100%"
    assert parse_target("< 5/day").holds(Quantity(3, "/day"))
    assert parse_target("< 2 hours").holds(Quantity(1.5 * 3600, "s"))
    with pytest.raises(UnitError, match="is not a target"):
        parse_target("")


def test_durations_read_like_the_seed():
    assert format_duration(2 * 86400 + 14 * 3600 + 30 * 60) == "2d 14h 30m"
    assert format_duration(45 * 60) == "45m"


CAL = WorkCalendar("Europe/Paris", ["mon", "tue", "wed", "thu", "fri"], ("09:00", "17:00"))


def test_nights_and_weekends_are_not_working_time():
    friday_4pm = datetime(2026, 1, 9, 16, tzinfo=PARIS)
    monday_10am = datetime(2026, 1, 12, 10, tzinfo=PARIS)
    assert CAL.working_seconds(friday_4pm, monday_10am) == 2 * 3600
    assert CAL.add_working(friday_4pm, 2 * 3600) == monday_10am
    assert CAL.subtract_working(monday_10am, 2 * 3600) == friday_4pm


def test_working_day_numbers_skip_weekends_and_late_starts():
    saturday = datetime(2026, 1, 10, 12, tzinfo=PARIS)
    assert CAL.nth_working_day(saturday, 1) == date(2026, 1, 12)
    tuesday_evening = datetime(2026, 1, 6, 18, tzinfo=PARIS)  # after closing: day 1 is Wednesday
    assert CAL.nth_working_day(tuesday_evening, 1) == date(2026, 1, 7)
    assert CAL.end_of_working_day(datetime(2026, 1, 5, 9, tzinfo=PARIS), 5) == datetime(2026, 1, 9, 17, tzinfo=PARIS)


def test_holidays_are_skipped():
    calendar = WorkCalendar("Europe/Paris", holidays=[date(2026, 1, 6)], working_hours=("09:00", "17:00"))
    monday = datetime(2026, 1, 5, 9, tzinfo=PARIS)
    assert calendar.add_working(monday, 8 * 3600 + 3600) == datetime(2026, 1, 7, 10, tzinfo=PARIS)


def test_a_public_holiday_calendar_is_used_when_named():
    calendar = WorkCalendar("Europe/Paris", holiday_calendar="FR")
    assert not calendar.is_working_day(date(2026, 5, 1))  # Fête du Travail, a Friday
    assert calendar.is_working_day(date(2026, 5, 4))


@pytest.mark.parametrize("day", [date(2026, 3, 30), date(2026, 10, 26)])  # the Mondays after EU DST changes
def test_the_working_day_stays_eight_local_hours_across_dst(day):
    opens, closes = CAL.window(day)
    assert (opens.hour, closes.hour) == (9, 17)
    assert CAL.working_seconds(opens.astimezone(UTC), closes.astimezone(UTC)) == 8 * 3600
    friday = datetime.combine(day.replace(day=day.day - 3), datetime.min.time(), PARIS).replace(hour=9)
    assert CAL.working_seconds(friday, closes) == 16 * 3600
