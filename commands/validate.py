"""validate: tick a checkpoint's criteria, and pass the gate."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError, UsageError
from commands.core.grammar import MAX_REASON, CommandSpec, free_text
from commands.core.lookup import add_plan_option, resolve_checkpoint, resolve_plan
from models.state.events import raise_event
from models.views.checkpoints import checklist, criteria_of
from models.views.reply import Reply

NO_REASON = "(no reason given)"


class GateNotMet(CommandError):
    """The gate cannot pass: criteria are unmet and it was not forced."""


def _numbers(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--criterion takes criterion numbers such as 2 or 1,3, not {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CP", help="checkpoint id or unique prefix")
    parser.add_argument(
        "--criterion", action="append", default=[], metavar="N", help="tick criterion N as met (repeat, or 1,3)"
    )
    parser.add_argument("--force", action="store_true", help="pass it even with criteria unmet (leads only)")
    parser.add_argument(
        "--reason", type=free_text(MAX_REASON), metavar="TEXT", help="why it is forced: recorded with who forced it"
    )
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Tick a checkpoint's criteria and pass it when all are met; --force passes it anyway.

    A forced pass records who forced it and why. Run from a script, the seed's
    `validate --checkpoint cp-3 --force` still works: the reason is then
    recorded as "(no reason given)".
    """
    plan = resolve_plan(ctx, args.plan)
    checkpoint = resolve_checkpoint(ctx, plan, args.checkpoint)
    if args.reason and not args.force:
        raise UsageError("--reason goes with --force: `validate --checkpoint CP --force --reason TEXT`")
    if args.force:
        ctx.require_lead(plan, "force a checkpoint")
    else:
        ctx.require_member(plan, "tick or pass a checkpoint")
    if checkpoint.passed_at is not None:
        how = f"forced ({checkpoint.force_reason})" if checkpoint.forced else "passed"
        raise CommandError(
            f"{checkpoint.key} was already {how} by {checkpoint.passed_by} on {checkpoint.passed_at:%a %d %b %H:%M} UTC"
        )
    criteria = criteria_of(ctx.session, checkpoint)
    ticked = []
    for number in (n for text in args.criterion for n in _numbers(text)):
        if not 1 <= number <= len(criteria):
            raise CommandError(f"{checkpoint.key} has criteria 1 to {len(criteria)}; there is no criterion {number}")
        criterion = criteria[number - 1]
        if criterion.met_at is None:
            criterion.met_at, criterion.met_by = ctx.now, ctx.actor.id
            ctx.session.add(criterion)
            ticked.append(number)

    unmet = [c for c in criteria if c.met_at is None]
    if unmet and not args.force:
        if ticked:
            note = f"Ticked {', '.join(map(str, ticked))}; {len(unmet)} to go."
            return Reply(body=checklist(ctx.session, plan, checkpoint, note), announce=True, plan=plan.key)
        listed = "; ".join(f"{c.position}. {c.text}" for c in unmet)
        raise GateNotMet(
            f"{checkpoint.key} cannot pass: {len(unmet)} of {len(criteria)} criteria not met ({listed}). "
            f"Tick them with --criterion N, or pass anyway with --force --reason TEXT"
        )
    checkpoint.passed_at, checkpoint.passed_by = ctx.now, ctx.actor.id
    if unmet:
        checkpoint.forced, checkpoint.force_reason = True, (args.reason or "").strip() or NO_REASON
    ctx.session.add(checkpoint)
    raise_event(
        ctx.session,
        plan,
        "checkpoint-passed",
        now=ctx.now,
        source=ctx.front,
        actor=ctx.actor.id,
        level="warning" if checkpoint.forced else None,  # a gate passed past unmet criteria is not news
        detail={"checkpoint": checkpoint.key, "forced": checkpoint.forced},
    )
    note = (
        f"FORCED past {len(unmet)} unmet criteria by {ctx.actor.name}: {checkpoint.force_reason}"
        if unmet
        else "All criteria met: passed."
    )
    return Reply(body=checklist(ctx.session, plan, checkpoint, note), announce=True, plan=plan.key)


SPECS = [CommandSpec("validate", run, add_arguments, privileged="--force: yes")]
