"""sync: post a sync prompt now, or a checkpoint's checklist."""

from commands.checkpoints import checklist
from commands.context import Context
from commands.grammar import CommandSpec
from commands.reply import Reply
from commands.resolve import add_plan_option, resolve_checkpoint, resolve_plan
from models.figures import sync_prompt


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", metavar="CP", help="post this checkpoint's criteria as a checklist")
    parser.add_argument("--type", dest="sync_type", default="ad-hoc", metavar="TYPE",
                        help="the kind of sync (default: ad-hoc); a type of the plan's sync-schedule asks whom it requires")
    add_plan_option(parser)


def run(args, ctx: Context) -> Reply:
    """Post a sync prompt now; with --checkpoint, that checkpoint's criteria as a checklist to tick."""
    plan = resolve_plan(ctx, args.plan)
    if args.checkpoint:
        checkpoint = resolve_checkpoint(ctx, plan, args.checkpoint)
        return Reply(body=checklist(ctx.session, plan, checkpoint), announce=True, plan=plan.key)
    entry = next((e for e in plan.spec.get("sync-schedule") or [] if e["type"] == args.sync_type), None)
    required = entry["required"] if entry else ["all-agents"]
    return Reply(body=sync_prompt(ctx.session, plan, ctx.now, args.sync_type, required),
                 announce=True, plan=plan.key)


SPECS = [CommandSpec("sync", run, add_arguments)]
