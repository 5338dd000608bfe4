"""sync: post a sync prompt now, or a checkpoint's checklist."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import add_plan_option, resolve_checkpoint, resolve_plan
from models.plan.settings import settings_of
from models.rules.sync import ask, open_adhoc_slot
from models.views.checkpoints import checklist
from models.views.reply import Reply


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", metavar="CP", help="post this checkpoint's criteria as a checklist")
    parser.add_argument(
        "--type",
        dest="sync_type",
        default="ad-hoc",
        metavar="TYPE",
        help="the kind of sync (default: ad-hoc); a type of the plan's sync-schedule asks whom it requires",
    )
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Post a sync prompt now; with --checkpoint, that checkpoint's criteria as a checklist to tick.

    In Slack the prompt is posted in the channel with an Answer button, and
    answers count towards health like a scheduled sync's. The CLI prints it.
    """
    plan = resolve_plan(ctx, args.plan)
    ctx.require_member(plan, "post a sync prompt")
    if args.checkpoint:
        checkpoint = resolve_checkpoint(ctx, plan, args.checkpoint)
        return Reply(body=checklist(ctx.session, plan, checkpoint), announce=True, plan=plan.key)
    if plan.status != "running":
        raise CommandError(f"plan {plan.key} is {plan.status}: prompts are for a running plan")
    entry = settings_of(plan).sync_entry(args.sync_type)
    required = entry.required if entry else ["all-agents"]
    slot = open_adhoc_slot(ctx.session, plan, args.sync_type, now=ctx.now, by=ctx.actor.id)
    prompt = ask(ctx.session, plan, slot, args.sync_type, required, now=ctx.now)
    return Reply(body=prompt, announce=True, plan=plan.key, prompt_to_post=slot.id)


SPECS = [CommandSpec("sync", run, add_arguments)]
