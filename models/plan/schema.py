"""The plan file: its schema (pydantic) and reading it from YAML.

Only ``id``, ``streams`` and ``agents`` are required; every other section has
the defaults of ``domain.md``. Keys are written in kebab-case in the file
(``risk-triggers``) and read as snake_case attributes here.

A file that does not validate is refused as a whole with one line per
problem, each naming the field's path and, where YAML gives it, its line.
"""

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from models.time.calendar import WEEKDAYS, WorkCalendar
from models.time.units import UnitError, parse_condition, parse_duration, parse_target

# libyaml is several times faster on large plans; same safe semantics
_Loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


# Where a problem is in the file: keys and list indexes from the top, e.g. ("agents", "A1", "tasks", 0).
FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]


class PlanFileError(ValueError):
    """A plan file that cannot be loaded; ``problems`` has one line each."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(problems))


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class Section(BaseModel):
    model_config = ConfigDict(alias_generator=_kebab, extra="forbid", frozen=True)


def _check(parse: Callable[[str], object]) -> AfterValidator:
    """An AfterValidator that checks a string with one of the unit parsers."""

    def validate(value: str) -> str:
        try:
            parse(value)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        return value

    return AfterValidator(validate)


# A Slack user id as Slack writes it (U… or W…): the only form that can mention or identify someone.
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


def _slack_user_id(value: str) -> str:
    if not SLACK_USER_ID.match(value):
        raise ValueError(
            f"{value[:40]!r} is not a Slack user id: write the member id Slack shows "
            "(profile → ⋮ → Copy member ID), e.g. U0123ABCD"
        )
    return value


SlackUserId = Annotated[str, AfterValidator(_slack_user_id)]
MAX_KEY_LENGTH = 100  # the longest id of a plan, stream, agent, checkpoint or task
Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Duration = Annotated[str, BeforeValidator(str), _check(parse_duration)]
ConditionText = Annotated[str, _check(parse_condition)]
TargetText = Annotated[str, BeforeValidator(str), _check(parse_target)]
Severity = Literal["low", "medium", "high", "critical"]
Level = Literal["info", "warning", "critical"]


def _clock_time(value: Any) -> str:
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 09:00 as 540 (minutes)
        value = f"{value // 60:02d}:{value % 60:02d}"
    text = str(value)
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
        raise ValueError(f'{text!r} is not a time of day: write HH:MM, e.g. "09:00"')
    return text


ClockTime = Annotated[str, BeforeValidator(_clock_time)]


def _as_object(field: str) -> BeforeValidator:
    """Lets a list item be written as a bare string meaning ``{field: string}``."""

    def coerce(value: Any) -> Any:
        return {field: value} if isinstance(value, str) else value

    return BeforeValidator(coerce)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/Paris") from None
    return value


AROUND_THE_CLOCK = "24/7"


def _hours(value: Any) -> str:
    """A person's working hours: "09:00-17:00" (on the plan's working days), or "24/7"."""
    text = str(value).strip().replace("–", "-").replace(" ", "")
    if text == AROUND_THE_CLOCK:
        return text
    match = re.fullmatch(r"(\d{2}:\d{2})-(\d{2}:\d{2})", text)
    hint = 'write "HH:MM-HH:MM", e.g. "09:00-17:00", or "24/7" for an agent that works around the clock'
    if not match:
        raise ValueError(f"{str(value)[:40]!r} is not working hours: {hint}")
    opens, closes = (_clock_time(part) for part in match.groups())
    if closes <= opens:
        raise ValueError(f"the day must close after it opens ({opens} → {closes}): {hint}")
    return f"{opens}-{closes}"


def _country_calendar(value: Any) -> Any:
    """A country (or country-region) calendar of the `holidays` package: "FR", "US-NY", "IN"."""
    if not isinstance(value, str):
        return value  # dates: the list's own validation
    import holidays  # only plans that name one pay for the import

    country, _, region = value.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"{value[:20]!r} is not a country calendar: use an ISO code such as FR, US, IN, or dates")
    if region and region not in supported[country]:
        regions = ", ".join(supported[country][:12]) or "none"
        raise ValueError(f"{country} has no region {region!r} in its calendar; its regions: {regions}")
    return value


Hours = Annotated[str, BeforeValidator(_hours)]
TimeZone = Annotated[str, AfterValidator(_timezone)]


class Availability(Section):
    """When a person (an agent, a stream's agents, a lead) works, where the plan's defaults do not fit."""

    timezone: TimeZone | None = None
    hours: Hours | None = None
    # The person's own days off: dates, or a country calendar (their public holidays).
    holidays: Annotated[list[date] | str | None, BeforeValidator(_country_calendar)] = None


class PersonSpec(Availability):
    pass


class TimeOffSpec(Section):
    who: str = Field(min_length=1, max_length=MAX_KEY_LENGTH)  # an agent id or a lead's Slack user id
    from_: date = Field(alias="from")
    until: date
    reason: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _ordered(self) -> "TimeOffSpec":
        if self.until < self.from_:
            raise ValueError(f"until ({self.until}) is before from ({self.from_}): both days are included")
        return self


class Orchestration(Section):
    mode: Literal["parallel"] = "parallel"
    streams: int | None = Field(default=None, ge=1)
    delegation: Literal["automatic", "manual"] = "automatic"
    monitoring: Literal["continuous", "off"] = "continuous"
    safety: Literal["enabled", "disabled"] = "enabled"


class Roles(Section):
    leads: list[SlackUserId] = []


class StreamSpec(Availability):
    id: Key
    type: str | None = None
    agents: int | None = Field(default=None, ge=0)
    priority: Literal["critical", "high", "medium", "low"] = "medium"


class TaskSpec(Section):
    id: Key | None = None
    title: str = Field(min_length=1, max_length=300)
    type: str | None = None
    estimate: Duration | None = None
    after: str | None = None
    signals: str | None = None


class AgentSpec(Availability):
    name: str | None = None
    stream: Key
    tasks: list[Annotated[TaskSpec, _as_object("title")]] = []
    skills: list[str] = []
    slack_user: SlackUserId | None = None
    heartbeat_interval: Duration | None = None


class CriterionSpec(Section):
    text: str = Field(min_length=1)
    metric: ConditionText | None = None


class CheckpointSpec(Section):
    id: Key
    name: str
    day: int = Field(ge=1)
    criteria: list[Annotated[CriterionSpec, _as_object("text")]] = []
    blocker: bool = False


class RiskTriggerSpec(Section):
    condition: ConditionText
    action: str = Field(min_length=1)
    severity: Severity = "medium"
    repeat: Duration | None = None


class SyncEntrySpec(Section):
    time: ClockTime
    type: str = Field(min_length=1, max_length=50)
    duration: Duration = "15min"
    required: list[str] = ["all-agents"]
    # "channel": one time for all, in the plan's zone; "local": each person at `time` in their own
    # zone (a prompt per zone, docs/semantics.md).
    at: Literal["channel", "local"] = "channel"

    @property
    def duration_s(self) -> int:
        return parse_duration(self.duration)


class CoordinationRule(Section):
    trigger: str = Field(min_length=1)
    action: str = Field(min_length=1)


class DelegationRow(Section):
    task_type: str = Field(min_length=1)
    primary: Key
    backup: Key | None = None
    auto_delegate: bool = True


# What each load-balancing action acts on (models/rules/balance.py): the condition it must be paired with.
LOAD_BALANCING = {
    "redistribute-tasks": "agent-utilization",
    "allocate-backup-agent": "stream-delay",
    "prioritize-unblocking": "blocking-detected",
    "reallocate-resources": "critical-path-at-risk",
}


class LoadBalancingRule(Section):
    when: ConditionText
    then: Literal["redistribute-tasks", "allocate-backup-agent", "prioritize-unblocking", "reallocate-resources"]

    @model_validator(mode="after")
    def _paired(self) -> "LoadBalancingRule":
        condition = parse_condition(self.when)
        wanted = LOAD_BALANCING[self.then]
        if (condition.metric or condition.event) != wanted:
            pairs = "; ".join(
                f"{action} with '{what}{' > …' if what.endswith(('utilization', 'delay')) else ''}'"
                for action, what in LOAD_BALANCING.items()
            )
            raise ValueError(f"{self.then} acts on '{wanted}', not on {self.when!r}. Pairs: {pairs}")
        return self


class AlertRoute(Section):
    level: Level
    channel: Annotated[list[str], BeforeValidator(_as_list)]
    events: list[str] = []


class Destination(Section):
    slack: str | None = None
    email: Annotated[list[str], BeforeValidator(_as_list)] = []
    sms: Annotated[list[str], BeforeValidator(_as_list)] = []

    @model_validator(mode="after")
    def _one_kind(self) -> "Destination":
        kinds = [k for k in ("slack", "email", "sms") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("give exactly one of slack, email or sms")
        return self


class DigestSpec(Section):
    """When the weekly digest is posted: on this weekday, right after this sync entry's prompt."""

    day: Literal[WEEKDAYS] = "fri"  # type: ignore[valid-type]
    after: str = Field(default="end-of-day", min_length=1, max_length=50)
    off: bool = False  # `digest: off` (YAML's false) in the file


class PlanSettings(Section):
    """Everything in a plan file but its streams, agents, checkpoints and triggers (which become
    rows): what commands read of a stored plan (``Plan.spec``, through ``models.plan.settings``).
    Each default is written here, once."""

    id: Key | None = None  # the plan's key (``Plan.key``); required in a file
    title: str | None = None
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    working_days: list[Literal[WEEKDAYS]] = list(WEEKDAYS[:5])  # type: ignore[valid-type]
    working_hours: tuple[ClockTime, ClockTime] = ("09:00", "17:00")
    holidays: list[date] = []
    holiday_calendar: str | None = None
    duration_days: int = Field(default=10, ge=1)
    channel: str | None = None
    roles: Roles = Roles()
    orchestration: Orchestration = Orchestration()
    sync_schedule: list[SyncEntrySpec] = []
    coordination: dict[str, list[CoordinationRule]] = {}
    delegation_matrix: list[DelegationRow] = []
    load_balancing: list[LoadBalancingRule] = []
    targets: dict[str, TargetText] = {}
    success_criteria: dict[str, str] = {}
    alerts: list[AlertRoute] = []
    destinations: dict[str, Destination] = {}
    # Critical alerts are re-sent to the leads until acknowledged: this often, at most this many times.
    escalate_after: Duration = "15min"
    escalate_limit: int = Field(default=4, ge=0)
    # A blocker named in a sync answer and still open after this many working days goes to the leads.
    blocker_escalation_days: int = Field(default=2, ge=1, le=60)
    # Each person's zone, hours and holidays (by agent id or Slack user id), and the plan's time off.
    people: dict[str, PersonSpec] = {}
    time_off: list[TimeOffSpec] = []
    # The weekly digest in the plan's channel: unset, Friday after the end-of-day sync; `off` (YAML's
    # false), none.
    digest: DigestSpec | None = None

    @field_validator("digest", mode="before")
    @classmethod
    def _digest_off(cls, value: Any) -> Any:
        return {"off": True} if value is False else value

    @model_validator(mode="after")
    def _consistent(self) -> "PlanSettings":
        """Cross-references: each problem is raised with the path it concerns."""
        problems = self._problems()
        if problems:
            raise PlanConsistencyError(problems)
        return self

    def _problems(self) -> list[Problem]:
        problems: list[Problem] = []
        opens, closes = self.working_hours
        if closes <= opens:
            problems.append((("working-hours",), f"the day must close after it opens ({opens} → {closes})"))
        if not self.working_days:
            problems.append((("working-days",), "name at least one working day, e.g. [mon, tue, wed, thu, fri]"))
        problems += _duplicates([r.task_type for r in self.delegation_matrix], "delegation-matrix", "task type")
        problems += self._digest_problems()
        for index, route in enumerate(self.alerts):
            for channel in route.channel:
                if channel not in self.destinations and not _is_slack_channel(channel):
                    known = ", ".join(self.destinations) or "none: add a destinations section"
                    problems.append(
                        (
                            ("alerts", index, "channel"),
                            f"{channel!r} is neither a destination (known: {known}) nor a Slack channel (#name or C…)",
                        )
                    )
        return problems

    def _digest_problems(self) -> list[Problem]:
        """A digest the file sets must fall on a working day, after a sync entry the plan has."""
        if self.digest is None or self.digest.off:
            return []  # the default posts where it can (a plan with an end-of-day sync), and nowhere else
        problems: list[Problem] = []
        if self.digest.day not in self.working_days:
            days = ", ".join(self.working_days)
            problems.append((("digest", "day"), f"{self.digest.day} is not a working day: pick one of {days}"))
        entries = [e.type for e in self.sync_schedule]
        if self.digest.after not in entries:
            known = ", ".join(entries) or "none: add a sync-schedule"
            problems.append(
                (("digest", "after"), f"{self.digest.after!r} is no sync entry of the plan (known: {known})")
            )
        return problems

    # --- typed readings of the settings -------------------------------------------

    def calendar(self) -> WorkCalendar:
        return WorkCalendar(self.timezone, self.working_days, self.working_hours, self.holidays, self.holiday_calendar)

    @property
    def leads(self) -> list[str]:
        return self.roles.leads

    @property
    def escalate_after_s(self) -> int:
        return parse_duration(self.escalate_after)

    @property
    def digest_setting(self) -> DigestSpec | None:
        """When the weekly digest is posted, or None when the plan turned it off."""
        digest = self.digest or DigestSpec()
        return None if digest.off else digest

    def sync_entry(self, sync_type: str) -> "SyncEntrySpec | None":
        return next((e for e in self.sync_schedule if e.type == sync_type), None)

    def coordination_rules(self) -> list[tuple[str, CoordinationRule]]:
        """(group, rule) for every coordination rule, in file order."""
        return [(group, rule) for group, rules in self.coordination.items() for rule in rules]

    def delegation_row(self, task_type: str) -> "DelegationRow | None":
        """The delegation-matrix row of a task type (types compare without case)."""
        return next((r for r in self.delegation_matrix if r.task_type.lower() == task_type.lower()), None)

    def rule_threshold(self, metric: str, unit: str) -> float | None:
        """The threshold of the first load-balancing rule on ``metric > X`` in ``unit``, if any."""
        for rule in self.load_balancing:
            condition = parse_condition(rule.when)
            if condition.metric == metric and condition.comparison and condition.comparison.threshold.unit == unit:
                return condition.comparison.threshold.value
        return None

    @property
    def stream_delay_threshold_s(self) -> int:
        """The plan's own "stream-delay > X" load-balancing threshold, else the seed's two hours."""
        value = self.rule_threshold("stream-delay", "s")
        return int(value) if value is not None else DEFAULT_STREAM_DELAY_S

    @property
    def utilization_limit(self) -> float:
        """The plan's own "agent-utilization > X%" threshold, else the seed's 90%."""
        value = self.rule_threshold("agent-utilization", "%")
        return value if value is not None else DEFAULT_UTILIZATION_LIMIT


DEFAULT_STREAM_DELAY_S = 2 * 3600  # "If stream delay > 2 hours" in the seed
DEFAULT_UTILIZATION_LIMIT = 90.0  # "If agent utilization > 90%, redistribute tasks"


class PlanFile(PlanSettings):
    """A whole plan file: its settings, and the streams, agents, tasks, checkpoints and triggers."""

    id: Key
    streams: list[StreamSpec] = Field(min_length=1)
    agents: dict[Key, AgentSpec] = Field(min_length=1)
    checkpoints: list[CheckpointSpec] = []
    risk_triggers: list[RiskTriggerSpec] = []

    def settings(self) -> PlanSettings:
        """The part of the file a stored plan keeps as its settings; each agent's zone, hours and
        holidays (its own, else its stream's) go into ``people`` under its id."""
        data = self.model_dump(by_alias=True, include=set(PlanSettings.model_fields))
        streams = {s.id: s for s in self.streams}
        fields = list(Availability.model_fields)
        for agent_id, agent in self.agents.items():
            stream, given = streams.get(agent.stream), self.people.get(agent_id)
            merged = {
                f: next((getattr(x, f) for x in (given, agent, stream) if x and getattr(x, f) is not None), None)
                for f in fields
            }
            if any(v is not None for v in merged.values()):
                data["people"][agent_id] = {k: v for k, v in merged.items() if v is not None}
        return PlanSettings.model_validate(data)

    def _problems(self) -> list[Problem]:
        problems = super()._problems()
        stream_ids = [s.id for s in self.streams]
        problems += _duplicates(stream_ids, "streams", "stream id")
        if self.orchestration.streams is not None and self.orchestration.streams != len(self.streams):
            problems.append(
                (
                    ("orchestration", "streams"),
                    f"says {self.orchestration.streams} but {len(self.streams)} streams are defined",
                )
            )

        actions = {rule.action for _, rule in self.coordination_rules()}
        per_stream: dict[str, int] = {}
        for agent_id, agent in self.agents.items():
            if agent.stream not in stream_ids:
                problems.append(
                    (("agents", agent_id, "stream"), f"unknown stream {agent.stream!r}; known: {', '.join(stream_ids)}")
                )
            per_stream[agent.stream] = per_stream.get(agent.stream, 0) + 1
            for index, task in enumerate(agent.tasks):
                if task.after and task.after not in actions:
                    known = ", ".join(sorted(actions)) or "none: add a coordination section"
                    problems.append(
                        (
                            ("agents", agent_id, "tasks", index, "after"),
                            f"{task.after!r} is not an action of `coordination` (known: {known})",
                        )
                    )
        problems += _duplicates([key for key, *_ in self.task_list()], "agents", "task id")
        for index, stream in enumerate(self.streams):
            if stream.agents is not None and stream.agents != per_stream.get(stream.id, 0):
                problems.append(
                    (
                        ("streams", index, "agents"),
                        f"says {stream.agents} but {per_stream.get(stream.id, 0)} agents name this stream",
                    )
                )

        problems += _duplicates([c.id for c in self.checkpoints], "checkpoints", "checkpoint id")
        for index, row in enumerate(self.delegation_matrix):
            for role in ("primary", "backup"):
                agent = getattr(row, role)
                if agent and agent not in self.agents:
                    problems.append((("delegation-matrix", index, role), f"unknown agent {agent!r}"))
        for who in self.people:
            if who not in self.agents and not SLACK_USER_ID.match(who):
                problems.append((("people", who), f"{who!r} is neither an agent of the plan nor a Slack user id (U…)"))
        for index, leave in enumerate(self.time_off):
            if leave.who not in self.agents and not SLACK_USER_ID.match(leave.who):
                problems.append(
                    (
                        ("time-off", index, "who"),
                        f"{leave.who!r} is neither an agent of the plan nor a Slack user id (U…); "
                        f"agents: {', '.join(list(self.agents)[:8])}",
                    )
                )
        for name in self.success_criteria:
            if name not in stream_ids and name not in ("overall", "delivery", "quality", "performance", "team"):
                problems.append((("success-criteria", name), f"unknown stream {name!r}"))
        for index, entry in enumerate(self.sync_schedule):
            for who in entry.required:
                if who not in ("all-agents", "active-agents") and who not in stream_ids and who not in self.agents:
                    problems.append(
                        (
                            ("sync-schedule", index, "required"),
                            f"{who!r} is not all-agents, active-agents, a stream or an agent",
                        )
                    )
        return problems

    def task_list(self) -> list[tuple[str, str, int, TaskSpec]]:
        """(task id, agent id, index in the agent's list, spec) in file order.

        A task without an ``id`` is ``T<n>``, n its place among all the file's
        tasks, so giving one task an id does not renumber the others.
        """
        found: list[tuple[str, str, int, TaskSpec]] = []
        for agent_id, agent in self.agents.items():
            for index, task in enumerate(agent.tasks):
                found.append((task.id or f"T{len(found) + 1}", agent_id, index, task))
        return found

    def task_type_of(self, agent_id: str) -> str | None:
        """The delegation-matrix task type whose primary is this agent."""
        return next((r.task_type for r in self.delegation_matrix if r.primary == agent_id), None)


def _is_slack_channel(name: str) -> bool:
    return name.startswith("#") or bool(re.fullmatch(r"[CGD][A-Z0-9]{6,}", name))


def _duplicates(values: list[str], section: str, what: str) -> list[Problem]:
    seen: set[str] = set()
    found: list[Problem] = []
    for value in values:
        if value in seen:
            found.append(((section,), f"duplicate {what} {value!r}"))
        seen.add(value)
    return found


class PlanConsistencyError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))


# --- reading --------------------------------------------------------------


MAX_PLAN_FILE_BYTES = 16 * 1024 * 1024  # the bench's 24,000-task plan is 1 MiB


def _refuse_aliases(text: str, source: str) -> None:
    """Anchors and aliases let 1 kB of YAML stand for billions of nodes: refused, before anything is built."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            raise PlanFileError(
                source,
                [
                    f"{where}YAML anchors and aliases (&name, *name) are not accepted in plan files: "
                    "write each value out where it is used"
                ],
            )


def read_plan_text(text: str, source: str = "<plan>") -> PlanFile:
    """Parse and validate a plan document, or raise PlanFileError."""
    if len(text) > MAX_PLAN_FILE_BYTES:
        raise PlanFileError(source, [f"the file is larger than the limit: at most {MAX_PLAN_FILE_BYTES // 2**20} MiB"])
    try:
        _refuse_aliases(text, source)
        data = yaml.load(text, Loader=_Loader)  # safe loader: no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanFileError(source, [f"{where}invalid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        raise PlanFileError(source, ["the file must be a YAML mapping with at least id, streams and agents"])
    try:
        return PlanFile.model_validate(data)
    except ValidationError as exc:
        lines = _line_numbers(text)
        # In the order of the file, so the first line to fix comes first.
        problems = sorted(_flatten(exc), key=lambda problem: _nearest_line(problem[0], lines) or 0)
        raise PlanFileError(source, [_describe(problem, lines) for problem in problems]) from None


def read_plan_file(path: str) -> PlanFile:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_PLAN_FILE_BYTES + 1)  # never more than the limit in memory
    except OSError as exc:
        raise PlanFileError(path, [f"cannot read the file: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise PlanFileError(path, ["the file is not UTF-8 text"]) from None
    return read_plan_text(text, source=path)


def _flatten(exc: ValidationError) -> list[tuple[FieldPath, str, str]]:
    """(path, message, error type) for each problem, expanding consistency errors."""
    found = []
    for err in exc.errors():
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, PlanConsistencyError):
            found += [(tuple(loc), message, "consistency") for loc, message in ctx_error.problems]
            continue
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (check its spelling; plan keys are kebab-case, e.g. risk-triggers)"
        elif err["type"] == "missing":
            message = "required field is missing"
        found.append((tuple(err["loc"]), message, err["type"]))
    return found


def _describe(problem: tuple[FieldPath, str, str], lines: dict[FieldPath, int]) -> str:
    loc, message, _ = problem
    path = format_path(loc)
    line = _nearest_line(loc, lines)
    where = f" (line {line})" if line else ""
    return f"{path or '(top)'}{where}: {message}"


def format_path(loc: FieldPath) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _nearest_line(loc: FieldPath, lines: dict[FieldPath, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _line_numbers(text: str) -> dict[FieldPath, int]:
    """Path → 1-based line of each key and item, from the YAML node tree."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return {}
    found: dict[FieldPath, int] = {}

    def walk(node: yaml.Node | None, path: FieldPath) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = (*path, key_node.value)
                found[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                found[child] = item.start_mark.line + 1
                walk(item, child)

    walk(root, ())
    return found
