"""a stored plan keeps its settings only

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:30:00

``plans.spec`` held the whole plan document but its tasks; it now holds the file's
settings alone (models.plan.schema.PlanSettings): streams, agents, checkpoints and
risk triggers are rows of their own tables, and the whole document stays in
``plan_documents``. Every stored plan is converted in place; the downgrade puts the
sections back from ``plan_documents`` (without tasks), as the earlier code read it.
"""

import json

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The sections that now live only in their tables (and in plan_documents).
ROWS = ("streams", "agents", "checkpoints", "risk-triggers")

plans = sa.table("plans", sa.column("id", sa.Integer), sa.column("spec", sa.JSON))
documents = sa.table("plan_documents", sa.column("plan_id", sa.Integer), sa.column("document", sa.JSON))


def _decoded(value):
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    connection = op.get_bind()
    for plan_id, spec in connection.execute(sa.select(plans.c.id, plans.c.spec)).all():
        spec = _decoded(spec) or {}
        settings = {key: value for key, value in spec.items() if key not in ROWS}
        if settings != spec:
            connection.execute(plans.update().where(plans.c.id == plan_id).values(spec=settings))


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(plans.c.id, plans.c.spec, documents.c.document).join(documents, documents.c.plan_id == plans.c.id)
    ).all()
    for plan_id, spec, document in rows:
        spec, document = _decoded(spec) or {}, _decoded(document) or {}
        restored = dict(spec)
        for key in ROWS:
            if key in document:
                restored[key] = document[key]
        for agent in (restored.get("agents") or {}).values():
            agent.pop("tasks", None)
        connection.execute(plans.update().where(plans.c.id == plan_id).values(spec=restored))
