"""Durations, quantities, conditions and targets as plans and people write them.

One grammar serves estimates (``4h``, ``2d``), sync durations (``15min``),
metric readings (``78%``, ``620ms``, ``3/day``), risk-trigger conditions
(``task-delay > 4 hours``) and targets (``> 80%``, ``100%``).
"""

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

# Time units in seconds. A "day" in an estimate is one working day; callers
# that mean working time pass its length as ``day_s``.
_TIME_UNITS: dict[str, int | None] = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": None,
    "day": None,
    "days": None,
    "w": None,
    "week": None,
    "weeks": None,
}
_MS_UNITS = {"ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001}

# The longest text read as a value (a duration, a reading, a target) and as a condition. The patterns
# below are matched on stripped text and never have two whitespace runs that can trade characters,
# so each is linear in its input; the limits keep even that small.
MAX_VALUE_TEXT = 100
MAX_CONDITION_TEXT = 250

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_PART = re.compile(rf"({_NUMBER})\s*([a-z]+)\s*", re.I)
_QUANTITY = re.compile(rf"^({_NUMBER})\s*(%|ms|[a-z]+|/\s*day)?$", re.I)

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}
_CONDITION = re.compile(r"^([a-z][a-z0-9_.-]*)\s*(>=|<=|==|>|<)\s*(.+)$", re.I)
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$", re.I)
_TARGET = re.compile(r"^(>=|<=|==|>|<)?\s*(.+)$")


class UnitError(ValueError):
    """A value that does not follow the grammar; the text says what would."""


def _bounded(text: object, what: str, example: str, most: int = MAX_VALUE_TEXT) -> str:
    """The text stripped, or a UnitError when it is longer than any such value (before any pattern runs)."""
    text = str(text).strip()
    if len(text) > most:
        raise UnitError(f"{what} is {len(text):,} characters long: at most {most} are read (e.g. {example})")
    return text


def parse_duration(text: str, *, day_s: int = 86400) -> int:
    """``"2d 4h"`` → seconds. ``day_s`` is the length of one day (and a week is 5)."""
    text = _bounded(text, "a duration", "30min, 4h, 2d").lower()
    pos, total, matched = 0, 0.0, False
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match:
            break
        number, unit = float(match.group(1)), match.group(2)
        if unit in _MS_UNITS:
            total += number * _MS_UNITS[unit]
        elif unit in _TIME_UNITS:
            size = _TIME_UNITS[unit]
            if size is None:
                size = day_s * (5 if unit.startswith("w") else 1)
            total += number * size
        else:
            raise UnitError(f"unknown time unit {unit!r} in {text!r}: use min, h, d (e.g. 30min, 4h, 2d)")
        pos, matched = match.end(), True
    if not matched or pos != len(text):
        raise UnitError(f"{text!r} is not a duration: write it like 30min, 4h, 1.5 hours or 2d")
    if total <= 0:
        raise UnitError(f"{text!r} must be longer than zero")
    return round(total)


@dataclass(frozen=True)
class Quantity:
    """A number in a base unit: ``"%"``, ``"s"`` (any time), ``"/day"`` or ``""``."""

    value: float
    unit: str = ""

    def display(self) -> str:
        if self.unit == "s":
            return format_seconds_short(self.value)
        number = f"{self.value:g}"
        return f"{number}{self.unit}" if self.unit in ("%", "/day") else number


def parse_quantity(text: str) -> Quantity:
    """``"78%"``, ``"620ms"``, ``"1.5 hours"``, ``"3/day"``, ``"12"`` → a Quantity."""
    text = _bounded(text, "a value", "78%, 620ms, 1.5 hours, 3/day")
    match = _QUANTITY.match(text)
    if not match:
        raise UnitError(
            f"{text!r} is not a value: write a number with an optional unit, e.g. 78%, 620ms, 1.5 hours, 3/day"
        )
    number, unit = float(match.group(1)), (match.group(2) or "").lower().replace(" ", "")
    if unit in ("", "%", "/day"):
        return Quantity(number, unit)
    if unit in _MS_UNITS:
        return Quantity(number * _MS_UNITS[unit], "s")
    unit_s = _TIME_UNITS.get(unit)
    if unit_s is not None:
        return Quantity(number * unit_s, "s")
    if unit in ("d", "day", "days"):
        return Quantity(number * 86400, "s")
    raise UnitError(f"unknown unit {unit!r} in {text!r}: use %, ms, s, min, hours, days or /day")


@dataclass(frozen=True)
class Comparison:
    op: str
    threshold: Quantity

    def holds(self, value: Quantity) -> bool:
        return OPERATORS[self.op](value.value, self.threshold.value)

    def display(self) -> str:
        return f"{self.op} {self.threshold.display()}"


@dataclass(frozen=True)
class Condition:
    """``METRIC OP NUMBER[UNIT]`` or a bare event name."""

    metric: str | None = None
    comparison: Comparison | None = None
    event: str | None = None

    def holds(self, value: Quantity) -> bool:
        """Whether a metric's value meets the condition (a bare event holds for no value)."""
        return self.comparison is not None and self.comparison.holds(value)


def parse_condition(text: str) -> Condition:
    text = _bounded(text, "a condition", "'task-delay > 4 hours'", MAX_CONDITION_TEXT)
    match = _CONDITION.match(text)
    if match:
        metric, op, value = match.groups()
        return Condition(metric=metric.lower(), comparison=Comparison(op, parse_quantity(value)))
    if _EVENT_NAME.match(text):
        return Condition(event=text.lower())
    raise UnitError(
        f"{text!r} is not a condition: write METRIC OP VALUE (e.g. 'task-delay > 4 hours', "
        "'test-coverage < 80%') or an event name (e.g. 'critical-bug-found')"
    )


def parse_target(text: str) -> Comparison:
    """``"> 80%"`` or a bare ``"100%"`` (meaning at least that)."""
    text = _bounded(text, "a target", "'> 80%', '< 2 hours' or '100%'")
    match = _TARGET.match(text)
    if not match:
        raise UnitError(f"{text!r} is not a target: write e.g. '> 80%', '< 2 hours' or '100%'")
    op, value = (match.group(1) or ">="), match.group(2)
    try:
        return Comparison(op, parse_quantity(value))
    except UnitError as exc:
        raise UnitError(f"{text!r} is not a target: write e.g. '> 80%', '< 2 hours' or '100%' ({exc})") from None


def format_seconds_short(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        return f"{seconds / 60:g}min"
    return f"{seconds / 3600:g} hours"


def format_duration(seconds: float | None) -> str:
    """Seconds → ``"2d 14h 30m"`` (wall-clock days), as the seed's dashboard shows them."""
    if seconds is None:
        return "—"
    minutes = round(abs(seconds) / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    parts.append(f"{mins}m")
    return ("-" if seconds < 0 else "") + " ".join(parts)


def format_work(seconds: float, day_s: int) -> str:
    """Working seconds → ``"1d 4h"`` where a day is one working day of ``day_s``."""
    minutes = round(seconds / 60)
    day_min = max(day_s // 60, 1)
    days, rest = divmod(minutes, day_min)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if mins or not parts:
        parts.append(f"{mins}m")
    return " ".join(parts)
