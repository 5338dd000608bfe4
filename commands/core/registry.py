"""Every subcommand, in the order `help` lists them, and the grammar of each front end built from them."""

from functools import cache

from commands import (
    ack,
    agent,
    alerts,
    answer,
    audit,
    away,
    back,
    blockers,
    event,
    execute,
    export,
    health,
    heartbeat,
    help,
    metric,
    mine,
    moves,
    pause,
    plan,
    reallocate,
    report,
    resolve,
    resume,
    retro,
    start,
    status,
    stop,
    sync,
    task,
    unblock_deployment,
    validate,
)
from commands.core.grammar import Grammar, Parsed

SPECS = [
    *start.SPECS,
    *execute.SPECS,
    *status.SPECS,
    *health.SPECS,
    *report.SPECS,
    *export.SPECS,
    *sync.SPECS,
    *pause.SPECS,
    *resume.SPECS,
    *reallocate.SPECS,
    *moves.SPECS,
    *blockers.SPECS,
    *validate.SPECS,
    *stop.SPECS,
    *retro.SPECS,
    *task.SPECS,
    *answer.SPECS,
    *heartbeat.SPECS,
    *agent.SPECS,
    *metric.SPECS,
    *event.SPECS,
    *alerts.SPECS,
    *ack.SPECS,
    *resolve.SPECS,
    *unblock_deployment.SPECS,
    *plan.SPECS,
    *mine.SPECS,
    *audit.SPECS,
    *away.SPECS,
    *back.SPECS,
    *help.SPECS,
]


@cache
def grammar(front: str = "cli") -> Grammar:
    return Grammar(SPECS, front)


def parse(tokens: list[str], front: str = "cli") -> Parsed:
    """Tokens → a Parsed command of ``front``'s grammar; anything else is a UsageError."""
    return grammar(front).parse(tokens)
