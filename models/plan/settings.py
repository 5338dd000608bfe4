"""A stored plan's settings, typed: what every command and rule reads of ``Plan.spec``.

The loader stores the validated ``PlanSettings`` of the file (dumped by alias) in
``Plan.spec``; this module reads it back as the model, never as a dict. Reading is
cached on the stored text, so a command that asks several times pays once.
"""

import json
import threading
from collections import OrderedDict
from datetime import datetime
from functools import lru_cache
from typing import Any

from models.db.tables import Plan
from models.plan.schema import Orchestration, PlanSettings
from models.time import clocks
from models.time.calendar import WorkCalendar


@lru_cache(maxsize=128)
def _parsed(text: str) -> tuple[PlanSettings, WorkCalendar]:
    settings = PlanSettings.model_validate(json.loads(text))
    return settings, settings.calendar()


# The same stored dict (one loaded Plan row) is read several times per command: dumping a
# big plan's settings to look it up cost ~0.5 ms each time (issue 21). The cache keeps
# the dict itself, so an id found here is that very dict, not a later one at the same address.
_by_dict: OrderedDict[int, tuple[dict[str, Any], tuple[PlanSettings, WorkCalendar]]] = OrderedDict()
_BY_DICT_SIZE = 64
_by_dict_lock = threading.Lock()


def _read(plan: Plan) -> tuple[PlanSettings, WorkCalendar]:
    spec = plan.spec
    hit = _by_dict.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    read = _parsed(json.dumps(spec, sort_keys=True))
    with _by_dict_lock:  # the server's threads share it
        _by_dict[id(spec)] = (spec, read)
        while len(_by_dict) > _BY_DICT_SIZE:
            _by_dict.popitem(last=False)
    return read


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
