"""Whom `away` and `back` are about: yourself, or (for a lead) the agent named with --agent."""

import argparse
from datetime import date

from sqlmodel import select

from commands.core.context import Context
from commands.core.errors import UsageError
from commands.core.lookup import add_plan_option, resolve_agent
from models.db.tables import Agent, Plan


def add_person_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", metavar="AGENT", help="an agent of the plan (a lead may name any; default: you)")
    add_plan_option(parser)


def person_of(ctx: Context, plan: Plan, agent_name: str | None, verb: str) -> str:
    """The person the command is for: an agent's id, or a lead's own Slack user id."""
    if agent_name:
        agent = resolve_agent(ctx, plan, agent_name)
        ctx.require_lead_or_owner(plan, agent, f"mark another agent {verb}")
        return agent.key
    own = (
        ctx.session.exec(
            select(Agent).where(Agent.plan_id == plan.id, Agent.slack_user == ctx.actor.slack_user)
        ).first()
        if ctx.actor.slack_user
        else None
    )
    if own is not None:
        ctx.permission_checked = True
        return own.key
    if ctx.actor.slack_user and ctx.actor.is_lead(plan):
        ctx.permission_checked = True
        return ctx.actor.slack_user
    ctx.require_member(plan, f"say who is {verb}")  # a stranger is refused here
    raise UsageError(f"you are not an agent of {plan.key}: name one, e.g. `{verb_command(verb)} --agent agent-b1`")


def verb_command(verb: str) -> str:
    return "away" if verb == "away" else "back"


def local_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a date: write YYYY-MM-DD, e.g. 2026-01-16") from None
