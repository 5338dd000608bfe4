"""A large, realistic plan file for the benchmark.

The shape follows models/example_plans/TR-ORCH-001.yml scaled up: streams of
several kinds, agents with named skills, tasks written the three ways the
format allows (bare title, title with estimate/type, task waiting on a
coordination action or signalling an event), a delegation matrix, checkpoints,
risk triggers, a sync schedule, targets, alerts. The output is deterministic
(seeded), so two runs benchmark the same document.

    python bench/generate.py OUT.yml [--streams 60 --agents-per-stream 10 --tasks-per-agent 40]
"""

import argparse
import random
from pathlib import Path

import yaml

try:  # libyaml dumps a 24,000-task document several times faster
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeDumper as _Dumper

PLAN_ID = "BENCH-LARGE-001"

# Stream kinds: the words used for their ids, task titles, skills and task types.
KINDS = {
    "backend": {
        "priority": "critical",
        "types": ("Services", "Database"),
        "skills": ["Python", "FastAPI", "PostgreSQL", "SQLAlchemy", "Alembic", "Redis"],
        "work": [
            "schema design",
            "migration",
            "service endpoint",
            "query optimisation",
            "caching layer",
            "input validation",
            "error handling",
            "pagination",
            "rate limiting",
            "audit logging",
        ],
    },
    "frontend": {
        "priority": "high",
        "types": ("Components", "UI Design"),
        "skills": ["React", "TypeScript", "Redux", "CSS", "Figma", "Accessibility"],
        "work": [
            "page layout",
            "form component",
            "state slice",
            "API client",
            "empty states",
            "loading skeletons",
            "keyboard navigation",
            "responsive grid",
            "dark theme",
            "i18n strings",
        ],
    },
    "qa": {
        "priority": "high",
        "types": ("Testing", "Performance"),
        "skills": ["Pytest", "Playwright", "Locust", "Jest", "Hypothesis"],
        "work": [
            "unit tests",
            "contract tests",
            "end-to-end scenario",
            "load test",
            "regression suite",
            "test data fixtures",
            "flaky test triage",
            "coverage report",
            "smoke tests",
            "exploratory session",
        ],
    },
    "devops": {
        "priority": "medium",
        "types": ("DevOps", "Observability"),
        "skills": ["Docker", "Kubernetes", "Terraform", "GitHub Actions", "Prometheus"],
        "work": [
            "CI pipeline",
            "container image",
            "Helm chart",
            "secrets rotation",
            "dashboard panel",
            "alert rule",
            "backup job",
            "blue-green switch",
            "staging environment",
            "runbook",
        ],
    },
    "data": {
        "priority": "medium",
        "types": ("Data Pipeline", "Reporting"),
        "skills": ["SQL", "dbt", "Airflow", "Pandas", "Parquet"],
        "work": [
            "ingestion job",
            "dbt model",
            "data quality check",
            "backfill",
            "report query",
            "export to CSV",
            "schema contract",
            "lineage doc",
            "partitioning",
            "retention policy",
        ],
    },
    "mobile": {
        "priority": "low",
        "types": ("Mobile UI", "Mobile Release"),
        "skills": ["Kotlin", "Swift", "React Native", "Fastlane"],
        "work": [
            "screen",
            "offline cache",
            "push notifications",
            "deep link",
            "crash reporting",
            "app store listing",
            "release build",
            "permissions prompt",
            "biometric login",
            "settings page",
        ],
    },
}

# Coordination: events some tasks signal, and the actions later tasks wait for.
COORDINATION = {
    "backend-frontend": [{"trigger": "api-contract-locked", "action": "frontend-integration-start"}],
    "backend-qa": [{"trigger": "service-complete", "action": "unit-tests-start"}],
    "frontend-qa": [{"trigger": "components-ready", "action": "ui-tests-start"}],
    "all-streams": [
        {"trigger": "day-15-complete", "action": "integration-testing"},
        {"trigger": "release-candidate-cut", "action": "release-hardening"},
    ],
}
WAITS_FOR = {  # stream kind -> action its late tasks wait for
    "frontend": "frontend-integration-start",
    "qa": "unit-tests-start",
    "devops": "integration-testing",
    "mobile": "release-hardening",
    "data": "integration-testing",
}
SIGNALS = {"backend": "api-contract-locked", "devops": "release-candidate-cut"}

DURATION_DAYS = 60


def stream_ids(count: int) -> list[tuple[str, str]]:
    """(stream id, kind) cycling through the kinds: stream-01-backend, stream-02-frontend, …"""
    kinds = list(KINDS)
    return [(f"stream-{n:02d}-{kinds[(n - 1) % len(kinds)]}", kinds[(n - 1) % len(kinds)]) for n in range(1, count + 1)]


def agent_tasks(rng: random.Random, kind: str, stream_no: int, count: int) -> list:
    """An agent's queue: mostly bare titles; some estimated, typed, waiting or signalling.

    Waiting (`after`) and signalling tasks sit in the second half of the queue,
    as they would in a real plan (integration comes after the groundwork).
    """
    work = KINDS[kind]["work"]
    tasks: list = []
    for index in range(count):
        title = f"{work[index % len(work)].capitalize()} #{index + 1} (S{stream_no:02d})"
        late = index >= count * 3 // 4
        if late and index % 5 == 0 and kind in WAITS_FOR:
            tasks.append({"title": title, "after": WAITS_FOR[kind]})
        elif late and index == count - 1 and kind in SIGNALS:
            tasks.append({"title": title, "estimate": "1d", "signals": SIGNALS[kind]})
        elif index % 7 == 3:
            tasks.append({"title": title, "estimate": rng.choice(["2h", "4h", "6h", "1d", "1.5d"])})
        else:
            tasks.append(title)
    return tasks


def build_plan(streams: int = 60, agents_per_stream: int = 10, tasks_per_agent: int = 40, seed: int = 7) -> dict:
    rng = random.Random(seed)
    ids = stream_ids(streams)
    plan: dict = {
        "id": PLAN_ID,
        "title": f"Benchmark programme ({streams} streams)",
        "timezone": "Europe/Paris",
        "working-days": ["mon", "tue", "wed", "thu", "fri"],
        "working-hours": ["09:00", "17:00"],
        "holidays": ["2026-04-06", "2026-05-01"],
        "duration-days": DURATION_DAYS,
        "channel": "#bench-orchestration",
        "roles": {"leads": ["U0LEAD0001", "U0LEAD0002"]},
        "orchestration": {
            "mode": "parallel",
            "streams": streams,
            "delegation": "automatic",
            "monitoring": "continuous",
            "safety": "enabled",
        },
        "streams": [
            {"id": sid, "type": kind, "agents": agents_per_stream, "priority": KINDS[kind]["priority"]}
            for sid, kind in ids
        ],
        "agents": {},
        "delegation-matrix": [],
        "coordination": COORDINATION,
    }
    for stream_no, (sid, kind) in enumerate(ids, start=1):
        keys = [f"agent-{stream_no:02d}-{a:02d}" for a in range(1, agents_per_stream + 1)]
        for a, key in enumerate(keys):
            agent = {
                "name": f"{kind.capitalize()}-Engineer-{stream_no:02d}-{a + 1:02d}",
                "stream": sid,
                "skills": rng.sample(KINDS[kind]["skills"], 3),
                "tasks": agent_tasks(rng, kind, stream_no, tasks_per_agent),
            }
            if a < 2:  # the first two of each stream are people on Slack, one reports heartbeats
                agent["slack-user"] = f"U{stream_no:03d}{a:02d}BENCH"
            if a == 1:
                agent["heartbeat-interval"] = "30min"
            plan["agents"][key] = agent
        # Two task types per stream, each with a primary and a backup in that stream.
        for t, base in enumerate(KINDS[kind]["types"]):
            if len(keys) < 2:
                break
            plan["delegation-matrix"].append(
                {
                    "task-type": f"{base} S{stream_no:02d}",
                    "primary": keys[t],
                    "backup": keys[t + 1 if t == 0 else 0],
                    "auto-delegate": t == 0,
                }
            )
    plan.update(_plan_sections(ids))
    return plan


def _plan_sections(ids: list[tuple[str, str]]) -> dict:
    """Checkpoints, triggers, sync, load balancing, targets, alerts: as a lead would write them."""
    first_of = {kind: sid for sid, kind in reversed(ids)}
    return {
        "checkpoints": [
            {"id": f"cp-{n}", "name": name, "day": day, "blocker": blocker, "criteria": criteria}
            for n, (name, day, blocker, criteria) in enumerate(
                [
                    ("Architecture sign-off", 3, True, ["Service boundaries agreed", "Data model reviewed"]),
                    (
                        "API contract lock",
                        10,
                        True,
                        [
                            "OpenAPI spec frozen",
                            "Mocks published",
                            {"text": "Contract tests green", "metric": "contract-tests >= 100%"},
                        ],
                    ),
                    ("Feature complete", 30, False, ["All stories merged", "No open critical bugs"]),
                    (
                        "Integration readiness",
                        40,
                        True,
                        [{"text": "Coverage", "metric": "code-coverage >= 85%"}, "Staging mirrors production"],
                    ),
                    (
                        "Release readiness",
                        55,
                        True,
                        [
                            "Security audit passed",
                            "Runbooks written",
                            {"text": "p95 latency", "metric": "api-response < 300ms"},
                        ],
                    ),
                ],
                start=1,
            )
        ],
        "risk-triggers": [
            {"condition": "task-delay > 4 hours", "action": "escalate-to-lead", "severity": "medium", "repeat": "4h"},
            {"condition": "test-coverage < 80%", "action": "block-deployment", "severity": "high"},
            {"condition": "api-response > 500ms", "action": "performance-review", "severity": "medium"},
            {"condition": "blocking-time > 10%", "action": "prioritize-unblocking", "severity": "high"},
            {"condition": "critical-bug-found", "action": "all-hands-alert", "severity": "critical"},
        ],
        "sync-schedule": [
            {"time": "09:00", "type": "standup", "duration": "15min", "required": ["all-agents"]},
            {"time": "13:00", "type": "progress-check", "duration": "5min", "required": ["active-agents"]},
            {
                "time": "16:00",
                "type": "backend-review",
                "duration": "30min",
                "required": [first_of["backend"], first_of["qa"]],
            },
            {"time": "17:00", "type": "end-of-day", "duration": "15min", "required": ["all-agents"]},
        ],
        "load-balancing": [
            {"when": "agent-utilization > 90%", "then": "redistribute-tasks"},
            {"when": "stream-delay > 3 hours", "then": "allocate-backup-agent"},
            {"when": "blocking-detected", "then": "prioritize-unblocking"},
        ],
        "targets": {
            "parallel-efficiency": "> 80%",
            "agent-utilization": "> 75%",
            "blocking-time": "< 5%",
            "rework-rate": "< 10%",
            "communication-overhead": "< 15%",
            "code-coverage": "> 90%",
            "bug-detection-rate": "< 5/day",
            "review-turnaround": "< 2 hours",
            "api-response": "< 300ms",
        },
        "success-criteria": {
            "overall": "Delivered on time with no critical bug open",
            **{sid: f"{kind} deliverables accepted by the lead" for sid, kind in ids[:6]},
        },
        "alerts": [
            {"level": "info", "channel": "slack-general", "events": ["task-complete", "checkpoint-passed"]},
            {"level": "warning", "channel": "slack-dev", "events": ["task-delayed", "test-failed"]},
            {
                "level": "critical",
                "channel": ["slack-urgent", "email", "#bench-oncall"],
                "events": ["agent-down", "critical-bug", "deployment-failed"],
            },
        ],
        "destinations": {
            "slack-general": {"slack": "#general"},
            "slack-dev": {"slack": "#dev"},
            "slack-urgent": {"slack": "#urgent"},
            "email": {"email": ["oncall@example.com", "leads@example.com"]},
        },
    }


def write_plan(path: Path, **shape) -> Path:
    """Write the generated plan as YAML; returns the path."""
    return write_document(path, build_plan(**shape))


def write_document(path: Path, plan: dict) -> Path:
    """Write a plan (as built here, perhaps changed by the caller) as YAML; returns the path."""
    header = "# Generated by bench/generate.py: a plan for the benchmark. Do not edit.\n"
    text = yaml.dump(plan, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    path.write_text(header + text, encoding="utf-8")
    return path


def small_plan(plan_id: str, channel: str, seed: int = 7) -> dict:
    """A small plan of the same shape (3 streams of 2 agents with 3 tasks each) under its own id and channel."""
    plan = build_plan(streams=3, agents_per_stream=2, tasks_per_agent=3, seed=seed)
    plan.update({"id": plan_id, "title": f"Benchmark plan {plan_id}", "channel": channel})
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--streams", type=int, default=60)
    parser.add_argument("--agents-per-stream", type=int, default=10)
    parser.add_argument("--tasks-per-agent", type=int, default=40)
    args = parser.parse_args()
    write_plan(
        args.out, streams=args.streams, agents_per_stream=args.agents_per_stream, tasks_per_agent=args.tasks_per_agent
    )
    print(args.out)


if __name__ == "__main__":
    main()
