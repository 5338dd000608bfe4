"""Small SQL expressions the figures share."""

from sqlalchemy import func
from sqlalchemy.sql import case
from sqlalchemy.sql.elements import ColumnElement


def sum_if(condition, value=1) -> ColumnElement:
    """SUM(value) over the rows where ``condition`` holds; 0 when none does."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)
