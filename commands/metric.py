"""metric: report a metric reading."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec, slug
from commands.core.lookup import add_plan_option, resolve_plan
from models.db.tables import MetricReading, id_of
from models.plan.settings import settings_of
from models.rules.risk import evaluate
from models.time.units import UnitError, parse_quantity, parse_target
from models.views.reply import Reply, message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="e.g. test-coverage, api-response")
    parser.add_argument("value", metavar="VALUE", help="e.g. 78%%, 620ms, 1.5 hours, 3/day")
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Report a metric: `metric test-coverage 78%`, `metric api-response 620ms`."""
    plan = resolve_plan(ctx, args.plan)
    ctx.require_member(plan, "report a metric")  # who may, before anything they typed is read
    name = slug(args.name, "a metric name", "test-coverage")
    try:
        value = parse_quantity(args.value)
    except UnitError as exc:
        raise CommandError(str(exc)) from None
    ctx.session.add(
        MetricReading(
            plan_id=id_of(plan),
            name=name,
            value=value.value,
            unit=value.unit,
            at=ctx.now,
            source=ctx.front,
            reported_by=ctx.actor.id,
        )
    )
    ctx.session.flush()
    target = settings_of(plan).targets.get(name)
    verdict = ""
    if target:
        comparison = parse_target(target)
        if comparison.threshold.unit in (value.unit, ""):
            verdict = f" (target {comparison.display()}: {'met' if comparison.holds(value) else 'NOT met'})"
    outcome = evaluate(ctx.session, plan, ctx.now, only={name})
    return message(
        f"Recorded {name} = {value.display()}{verdict}.", *outcome.notes, plan=plan.key, announce=bool(outcome.notes)
    )


SPECS = [CommandSpec("metric", run, add_arguments)]
