"""Agents' API tokens: made, looked up, rotated, revoked.

A token is ``oat_`` and 32 random bytes (43 URL-safe characters): 256 bits that no one guesses or
searches for. It is kept only as its HMAC-SHA256 (keyed with a fixed label, so the digest of a token
means nothing outside this store). A slow KDF (argon2, scrypt) protects secrets people choose, which
an attacker with the digests could try by the billion; a random 256-bit token gives them nothing to
try, so one HMAC is enough and a request costs microseconds to check. The lookup is by digest, and
the digests found are compared again in constant time.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from models.db.store import one_writer
from models.db.tables import Agent, AgentToken, Plan, id_of

PREFIX = "oat_"  # "orchestrate agent token": recognisable in a leaked log or a secret scanner
_KEY = b"orchestrate agent token v1"
TOUCH_EVERY = timedelta(minutes=1)  # last use is kept to the minute: not one write per request


def digest(token: str) -> str:
    return hmac.new(_KEY, token.encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def live_token(session: Session, agent: Agent) -> AgentToken | None:
    return session.exec(
        select(AgentToken).where(AgentToken.agent_id == agent.id, col(AgentToken.revoked_at).is_(None))
    ).first()


def issue(session: Session, agent: Agent, *, by: str, now: datetime) -> str:
    """A new token for the agent (any live one revoked, in this transaction); the secret, to show once."""
    revoke(session, agent, now=now)
    token = new_token()
    session.add(AgentToken(agent_id=id_of(agent), digest=digest(token), created_at=now, created_by=by[:100]))
    session.flush()
    return token


def revoke(session: Session, agent: Agent, *, now: datetime) -> int:
    """Revoke the agent's live token(s); how many there were."""
    return session.exec(
        update(AgentToken)
        .where(col(AgentToken.agent_id) == agent.id, col(AgentToken.revoked_at).is_(None))
        .values(revoked_at=now)
    ).rowcount


@dataclass(frozen=True)
class TokenHolder:
    """Who a live token belongs to."""

    token_id: int
    agent_id: int
    agent_key: str
    agent_name: str
    plan_key: str
    last_used_at: datetime | None


def holder(engine: Engine, token: str) -> TokenHolder | None:
    """The agent of a live token (its agent not archived), or None."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    wanted = digest(token)
    with Session(engine) as session:
        row = session.exec(
            select(AgentToken, Agent, Plan)
            .join(Agent, col(Agent.id) == AgentToken.agent_id)
            .join(Plan, col(Plan.id) == Agent.plan_id)
            .where(
                AgentToken.digest == wanted,
                col(AgentToken.revoked_at).is_(None),
                col(Agent.archived).is_(False),
            )
        ).first()
    if row is None:
        return None
    found, agent, plan = row
    if not hmac.compare_digest(found.digest.encode(), wanted.encode()):
        return None
    return TokenHolder(
        token_id=found.id or 0,
        agent_id=agent.id or 0,
        agent_key=agent.key,
        agent_name=agent.name,
        plan_key=plan.key,
        last_used_at=found.last_used_at,
    )


def touch(engine: Engine, found: TokenHolder, now: datetime) -> None:
    """Record the token's use, at most once a minute (a short write of its own)."""
    if found.last_used_at is not None and now - found.last_used_at < TOUCH_EVERY:
        return
    with one_writer(engine), Session(engine) as session:
        session.exec(update(AgentToken).where(col(AgentToken.id) == found.token_id).values(last_used_at=now))
        session.commit()
