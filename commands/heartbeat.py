"""heartbeat: an agent reports in (up), or reports itself down."""

import argparse

from commands.core.context import Context
from commands.core.grammar import CommandSpec, free_text
from commands.core.lookup import add_plan_option, resolve_agent, resolve_plan
from models.rules.heartbeats import record_heartbeat
from models.views.reply import HeartbeatAck, Reply

MAX_STATUS_LINE = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", metavar="AGENT", help="the agent reporting in (id or unique prefix)")
    parser.add_argument("--down", action="store_true", help="the agent reports itself down")
    parser.add_argument(
        "--note", type=free_text(MAX_STATUS_LINE), metavar="TEXT", help='what it is doing: "running the migrations"'
    )
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """An agent's heartbeat: it is up (or, with --down, reports itself down).

    Agents that report through the API are expected every `heartbeat-interval`;
    silent longer, they are DOWN. `--note` carries a status line. An agent may report for itself; anyone
    else needs to be a lead.
    """
    plan = resolve_plan(ctx, args.plan)
    agent = resolve_agent(ctx, plan, args.agent)
    ctx.require_lead_or_owner(plan, agent, "report another agent's heartbeat")
    status = "down" if args.down else "up"
    recovered = record_heartbeat(ctx.session, agent, now=ctx.now, status=status)
    if args.note is not None:
        agent.status_line = args.note.strip() or None
        ctx.session.add(agent)
    text = f"{agent.key} is {status}" + (", recovered." if recovered else ".")
    if agent.status_line and args.note is not None:
        text += f" {agent.status_line}"
    return Reply(
        body=HeartbeatAck(
            text=text, agent=agent.key, status=status, recovered=recovered, at=ctx.now, status_line=agent.status_line
        ),
        plan=plan.key,
    )


SPECS = [CommandSpec("heartbeat", run, add_arguments)]
