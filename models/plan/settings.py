"""A stored plan's settings, typed: what every command and rule reads of ``Plan.spec``.

The loader stores the validated ``PlanSettings`` of the file (dumped by alias) in
``Plan.spec``; this module reads it back as the model, never as a dict. Reading is
cached on the stored text, so a command that asks several times pays once.
"""

import json
from datetime import datetime
from functools import lru_cache

from models.db.tables import Plan
from models.plan.schema import Orchestration, PlanSettings
from models.time import clocks
from models.time.calendar import WorkCalendar


@lru_cache(maxsize=128)
def _parsed(text: str) -> tuple[PlanSettings, WorkCalendar]:
    settings = PlanSettings.model_validate(json.loads(text))
    return settings, settings.calendar()


def _read(plan: Plan) -> tuple[PlanSettings, WorkCalendar]:
    return _parsed(json.dumps(plan.spec, sort_keys=True))


def settings_of(plan: Plan) -> PlanSettings:
    return _read(plan)[0]


def calendar_of(plan: Plan) -> WorkCalendar:
    return _read(plan)[1]


def plan_clock(plan: Plan, now: datetime) -> int:
    """Working seconds since the plan started, on its own calendar (``models.time.clocks``)."""
    return clocks.plan_clock(plan, now, calendar_of(plan))


def run_options_of(plan: Plan) -> Orchestration:
    """How the current run goes: what `start` said (``Plan.run_options``), else the plan file's."""
    return settings_of(plan).orchestration.model_copy(
        update=Orchestration.model_validate(plan.run_options or {}).model_dump(exclude_unset=True)
    )
