"""agent: an agent's API token (made, rotated, revoked) and the list of tokens."""

import argparse
from datetime import datetime

from sqlmodel import col

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import add_plan_option, resolve_agent, resolve_plan
from models.db.sql import select_columns
from models.db.tables import Agent, AgentToken, Plan
from models.state.agent_tokens import issue, live_token, revoke
from models.views.reply import Reply, Table, message

FRONTS = frozenset({"cli"})  # a secret is shown once: on the operator's terminal, never in Slack or an API log


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    token = actions.add_parser("token", help="make an agent's API token (shown once), rotate or revoke it")
    token.add_argument("agent", metavar="AGENT", help="the agent (id or unique prefix)")
    which = token.add_mutually_exclusive_group()
    which.add_argument("--rotate", action="store_true", help="a new token; the old one stops working at once")
    which.add_argument("--revoke", action="store_true", help="the token stops working at once")
    add_plan_option(token)
    tokens = actions.add_parser("tokens", help="the agents' tokens: when made, last used (never the secret)")
    add_plan_option(tokens)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Agents' API tokens: `agent token AGENT [--rotate | --revoke]`, `agent tokens` (leads).

    A token lets an AI agent (or its runner) use the API as that agent only: its next task, its own
    tasks' progress, its heartbeats. It is shown once and kept only as a hash; `--rotate` makes a new
    one and the old one stops working at once.
    """
    plan = resolve_plan(ctx, args.plan)
    if args.action == "tokens":
        ctx.require_lead(plan, "list the agents' tokens")
        return _list(ctx, plan)
    agent = resolve_agent(ctx, plan, args.agent)
    ctx.require_lead(plan, "give out or revoke an agent's token")
    live = live_token(ctx.session, agent)
    if args.revoke:
        if live is None:
            raise CommandError(f"{agent.key} has no token to revoke; `agent tokens` lists those there are")
        revoke(ctx.session, agent, now=ctx.now)
        return message(f"{agent.key}'s token is revoked: it no longer works.", plan=plan.key)
    if live is not None and not args.rotate:
        raise CommandError(
            f"{agent.key} has a token already (made {live.created_at:%Y-%m-%d %H:%M} UTC): "
            f"`agent token {agent.key} --rotate` replaces it, `--revoke` ends it"
        )
    if args.rotate and live is None:
        raise CommandError(f"{agent.key} has no token to rotate: `agent token {agent.key}` makes one")
    secret = issue(ctx.session, agent, by=ctx.actor.id, now=ctx.now)
    what = "A new token" if args.rotate else "A token"
    after = " The old one no longer works." if args.rotate else ""
    # The secret goes in the details only: the audit log keeps a reply's text, never its details.
    return message(
        f"{what} for {agent.key} ({plan.key}); it is shown this once, keep it as a secret.{after}",
        secret,
        f"The agent sends it as `Authorization: Bearer <token>` to /api/v1 (`agent token {agent.key} --revoke` "
        "ends it).",
        plan=plan.key,
    )


def _list(ctx: Context, plan: Plan) -> Reply:
    rows = ctx.session.exec(
        select_columns(
            Agent.key, AgentToken.created_at, AgentToken.created_by, AgentToken.last_used_at, AgentToken.revoked_at
        )
        .join(Agent, col(Agent.id) == AgentToken.agent_id)
        .where(Agent.plan_id == plan.id)
        .order_by(col(Agent.position), col(AgentToken.id))
    ).all()

    def when(at: datetime | None) -> str:
        return f"{at:%Y-%m-%d %H:%M}" if at else "never"

    shown = [
        [key, when(made), by, when(used), f"revoked {when(revoked)}" if revoked else "live"]
        for key, made, by, used, revoked in rows
    ]
    return Reply(
        body=Table(
            title=f"Agent tokens of {plan.key} (UTC)",
            columns=["Agent", "Created", "By", "Last used", "Status"],
            rows=shown,
            total=len(shown),
            empty="no agent has a token yet: `agent token AGENT` makes one",
        ),
        plan=plan.key,
    )


SPECS = [
    CommandSpec(
        "agent", run, add_arguments, privileged="yes", fronts=FRONTS, read_only=lambda args: args.action == "tokens"
    )
]
