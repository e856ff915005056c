"""dashboard_sessions: signed-in dashboard sessions shared by every dashboard replica

The session cookie (signed with PAYOPS_SESSION_KEY) carries only a session id; this table says whether
that session is still valid (idle timeout, lifetime, signed out), so a refresh or a request landing on
another replica keeps the session, and sign-out ends it everywhere.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 04:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import data.models

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("created_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", data.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", data.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", data.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
    )
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboard_sessions_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_sessions_created_at"))
    op.drop_table("dashboard_sessions")
