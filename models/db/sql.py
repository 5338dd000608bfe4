"""Small SQL expressions the figures share."""

from typing import Any

from sqlalchemy import Integer, Subquery, cast, func, literal, union_all
from sqlalchemy.sql import case
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine
from sqlmodel.sql.expression import Select


def sum_if(condition: ColumnElement[bool], value: int | ColumnElement[int] = 1) -> ColumnElement[int]:
    """SUM(value) over the rows where ``condition`` holds; 0 when none does."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def select_columns(*columns: Any) -> Select[*tuple[Any, ...]]:
    """``sqlmodel.select`` of any number of columns (its typed overloads stop at four); rows are tuples."""
    return Select(*columns)


def epoch_seconds(at: Any, dialect: str) -> ColumnElement[Any]:
    """A timestamp column as seconds since 1970 (SQLite keeps timestamps as text, PostgreSQL as timestamptz)."""
    if dialect == "postgresql":
        return func.extract("epoch", at)
    return (func.julianday(at) - 2440587.5) * 86400.0


def epoch_bucket(at: Any, size_s: int, dialect: str) -> ColumnElement[Any]:
    """Which ``size_s``-second bucket since 1970 a timestamp falls in (the floor: PostgreSQL's integer cast
    rounds, SQLite's truncates, and times since 1970 are positive)."""
    seconds = epoch_seconds(at, dialect) / size_s
    return func.floor(seconds) if dialect == "postgresql" else cast(seconds, Integer)


def seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    """``end − start`` in seconds, for two timestamp columns."""
    return epoch_seconds(end, dialect) - epoch_seconds(start, dialect)


def literal_rows(name: str, columns: dict[str, TypeEngine[Any]], rows: list[tuple[Any, ...]]) -> Subquery:
    """A small table of given rows to join with (``SELECT … UNION ALL SELECT …``: SQLite's VALUES cannot name
    its columns). ``rows`` must not be empty."""
    selects: list[Select[*tuple[Any, ...]]] = [
        Select(*(literal(value, type_).label(key) for value, (key, type_) in zip(row, columns.items(), strict=True)))
        for row in rows
    ]
    return (union_all(*selects) if len(selects) > 1 else selects[0]).subquery(name)
