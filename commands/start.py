"""start / execute: begin a plan's run, or resume a stopped one."""

from commands.context import Context
from commands.grammar import CommandSpec
from commands.reply import Reply, message
from commands.resolve import resolve_plan
from commands.errors import CommandError
from models.lifecycle import StateError, start_plan


def add_arguments(parser) -> None:
    parser.add_argument("plan", nargs="?", metavar="PLAN", help="the plan id (default: the only plan)")
    parser.add_argument("--parallel", action="store_true", help="run all streams at once (the plan's mode)")
    parser.add_argument("--monitor", action="store_true",
                        help="continuous monitoring: triggers and load balancing on every tick")
    parser.add_argument("--safe", action="store_true",
                        help="safety on: blocker checkpoints hold the tasks due after them")


def add_execute_arguments(parser) -> None:
    parser.add_argument("plan", nargs="?", metavar="PLAN", help="the plan id (default: the only plan)")
    parser.add_argument("--start-now", action="store_true", help="start at once (the default; kept for scripts)")


def run(args, ctx: Context) -> Reply:
    """Start a plan, or resume a stopped one.

    The flags confirm the plan's `orchestration` settings for this run; left
    out, the plan file's own settings apply. Resuming restarts the streams
    the stop halted; streams a person paused stay paused.
    """
    plan = resolve_plan(ctx, args.plan)
    ctx.require_lead(plan, "start a plan")
    settings = plan.spec.get("orchestration") or {}
    options = {
        "mode": "parallel" if getattr(args, "parallel", False) else settings.get("mode", "parallel"),
        "monitoring": "continuous" if getattr(args, "monitor", False) else settings.get("monitoring", "continuous"),
        "safety": "enabled" if getattr(args, "safe", False) else settings.get("safety", "enabled"),
    }
    try:
        what = start_plan(ctx.session, plan, now=ctx.now, options=options)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    ctx.session.flush()
    return message(
        f"{what.capitalize()} {plan.key} ({plan.title}): streams in {options['mode']}, "
        f"monitoring {options['monitoring']}, safety {options['safety']}.",
        announce=True, plan=plan.key,
    )


def run_execute(args, ctx: Context) -> Reply:
    """Start a plan now (the same as `start`)."""
    return run(args, ctx)


SPECS = [
    CommandSpec("start", run, add_arguments, privileged="yes"),
    CommandSpec("execute", run_execute, add_execute_arguments, privileged="yes"),
]
