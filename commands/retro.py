"""retro: the retrospective's success criteria that no metric judges, confirmed by a lead:
`retro criterion STREAM met|not-met`."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import add_plan_option, resolve_plan, resolve_stream
from models.plan.settings import settings_of
from models.state.verdicts import has_retrospective, record_verdict
from models.views.reply import Reply, message
from models.views.retrospective import criterion

VERDICTS = {"met": True, "not-met": False}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    judging = actions.add_parser("criterion", help="say whether a stream's success criterion was met (a lead)")
    judging.add_argument("stream", metavar="STREAM", help="the stream whose criterion it is")
    judging.add_argument("verdict", choices=tuple(VERDICTS), metavar="met|not-met", help="met, or not-met")
    add_plan_option(judging)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """A lead's word on a stream's success criterion that no metric judges: shown in the retrospective
    (edited in place in Slack) with who gave it. Given again, the later word counts."""
    plan = resolve_plan(ctx, args.plan)
    stream = resolve_stream(ctx, plan, args.stream)
    ctx.require_lead(plan, "confirm a success criterion")
    text = settings_of(plan).success_criteria.get(stream.key)
    if text is None:
        raise CommandError(f"{stream.key} has no success criterion in {plan.key}'s plan file")
    if not has_retrospective(ctx.session, plan):
        raise CommandError(
            f"{plan.key} has no retrospective yet: its criteria are confirmed once it is done or stopped"
        )
    judged = criterion(ctx.session, plan, stream.key, text, None)
    if not judged.for_the_leads:
        raise CommandError(f"{stream.key}'s criterion is judged by its metrics: {judged.judgement}")
    met = VERDICTS[args.verdict]
    before = record_verdict(
        ctx.session, plan, stream.key, met=met, by=ctx.actor.name, slack_user=ctx.actor.slack_user, now=ctx.now
    )
    said = "met" if met else "not met"
    details = [f"It was “{'met' if before.met else 'not met'}”, said {before.by}."] if before else []
    reply = message(
        f"{stream.key}'s success criterion “{text}”: {said}, said {ctx.actor.name}.",
        *details,
        announce=True,
        plan=plan.key,
    )
    return reply.model_copy(update={"story_to_redraw": plan.key})


SPECS = [CommandSpec("retro", run, add_arguments, privileged="yes")]
