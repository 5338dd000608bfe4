"""Who runs a command, from where, and against which store: the command context."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from commands.core.errors import PermissionDenied
from commands.core.grammar import Grammar
from models.db.tables import Agent, Plan
from models.plan.settings import settings_of


@dataclass(frozen=True)
class Actor:
    """The person or machine behind a command.

    ``operator`` is the local CLI user (or a lead's API token): trusted as a lead
    on every plan. A Slack user is a lead of the plans whose ``roles.leads``
    name them. An agent's token (``agent_id``) is no lead anywhere: it acts on its own tasks and
    heartbeats only.
    """

    id: str
    name: str
    source: str  # cli | slack | api | scheduler
    slack_user: str | None = None
    operator: bool = False
    # An agent's API token (``agent token``): the actor is that agent, and may act only as it.
    agent_id: int | None = None
    agent_plan: str | None = None  # that agent's plan (its key)

    def is_lead(self, plan: Plan) -> bool:
        if self.operator:
            return True
        return self.slack_user is not None and self.slack_user in settings_of(plan).leads


@dataclass
class Context:
    session: Session
    actor: Actor
    now: datetime
    front: str = "cli"  # cli | slack | api
    channel: str | None = None  # where the command was typed (Slack channel id)
    channel_names: tuple[str, ...] = ()  # the channel's id and #name, for plan binding
    # Filled in as the command runs: the plan it acted on, and whether it
    # checked permissions (the dispatcher insists that privileged commands do).
    plan: Plan | None = None
    permission_checked: bool = field(default=False)
    grammar: Grammar | None = None  # the front end's grammar, for `help`
    reads_files: bool = True  # see Invocation.reads_files

    def require_lead(self, plan: Plan, what: str) -> None:
        self.permission_checked = True
        if not self.actor.is_lead(plan):
            leads = tuple(settings_of(plan).leads)
            who = ", ".join(leads) if leads else "nobody yet: add roles.leads to the plan file"
            raise PermissionDenied(f"only a lead of {plan.key} may {what}; leads: {who}", leads)

    def require_member(self, plan: Plan, what: str) -> None:
        """Leads and the plan's agents (by their Slack user) may; anyone else only reads."""
        self.permission_checked = True
        if self.actor.is_lead(plan):
            return
        if self.actor.agent_id is not None and self._own_plan(plan):
            return
        if (
            self.actor.slack_user
            and self.session.exec(
                select(Agent.id).where(Agent.plan_id == plan.id, Agent.slack_user == self.actor.slack_user)
            ).first()
        ):
            return
        leads = tuple(settings_of(plan).leads)
        raise PermissionDenied(
            f"only the leads and agents of {plan.key} may {what}; you can read its state. "
            f"Leads: {', '.join(leads) or 'none yet'}",
            leads,
        )

    def require_lead_or_owner(self, plan: Plan, agent: Agent | None, what: str) -> None:
        """Agents may act on their own tasks; anyone else needs to be a lead."""
        if agent is not None and self.actor.slack_user and agent.slack_user == self.actor.slack_user:
            self.permission_checked = True
            return
        if agent is not None and self.actor.agent_id is not None and agent.id == self.actor.agent_id:
            self.permission_checked = True
            return
        if self.actor.agent_id is not None:
            self.permission_checked = True
            raise PermissionDenied(f"{self.actor.name}'s token acts only as {self.actor.name}: it may not {what}", ())
        self.require_lead(plan, what)

    def _own_plan(self, plan: Plan) -> bool:
        agent = self.session.get(Agent, self.actor.agent_id)
        return agent is not None and agent.plan_id == plan.id
