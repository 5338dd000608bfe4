"""Small SQL expressions the figures share."""

from typing import Any

from sqlalchemy import func
from sqlalchemy.sql import case
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.sql.expression import Select


def sum_if(condition: ColumnElement[bool], value: int | ColumnElement[int] = 1) -> ColumnElement[int]:
    """SUM(value) over the rows where ``condition`` holds; 0 when none does."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def select_columns(*columns: Any) -> Select[*tuple[Any, ...]]:
    """``sqlmodel.select`` of any number of columns (its typed overloads stop at four); rows are tuples."""
    return Select(*columns)
