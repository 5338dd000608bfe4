"""Every subcommand, in the order `help` lists them."""

from commands import (
    alerts, audit, dashboard, event, health, help, metric, moves, pause, plan, reallocate, resume, start,
    stop, sync, task, unblock, validate,
)

SPECS = [
    *start.SPECS, *dashboard.SPECS, *health.SPECS, *sync.SPECS, *pause.SPECS, *resume.SPECS,
    *reallocate.SPECS, *moves.SPECS, *validate.SPECS, *stop.SPECS, *task.SPECS, *metric.SPECS, *event.SPECS,
    *alerts.SPECS, *unblock.SPECS, *plan.SPECS, *audit.SPECS, *help.SPECS,
]
