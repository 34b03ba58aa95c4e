"""Reminders

One row per reminder delivery (incident, kind, due time, recipient rule, attempts,
state), and each incident's `remind off/on/snooze` state.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out in full rather than imported from storage/ (see 0001).
ENUM = sa.String(length=32)
PLATFORM = sa.String(length=32)


def moment() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("platform", PLATFORM, nullable=False),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("due_at", moment(), nullable=False),
        sa.Column("created_at", moment(), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.String(length=100), nullable=False),
        sa.Column("state", ENUM, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", moment(), nullable=True),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("finished_at", moment(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reminders"),
        sa.ForeignKeyConstraint(
            ["workspace", "incident_number"],
            ["incidents.workspace", "incidents.number"],
            name="fk_reminders_workspace_incidents",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_reminders_state_due_at", "reminders", ["state", "due_at"])
    op.create_index(
        "ix_reminders_workspace_incident_number", "reminders", ["workspace", "incident_number"]
    )
    op.create_index(
        "uq_reminders_one_pending_per_kind",
        "reminders",
        ["workspace", "incident_number", "kind"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )

    op.create_table(
        "reminder_controls",
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("off", sa.Boolean(), nullable=False),
        sa.Column("snoozed_until", moment(), nullable=True),
        sa.PrimaryKeyConstraint("workspace", "incident_number", name="pk_reminder_controls"),
        sa.ForeignKeyConstraint(
            ["workspace", "incident_number"],
            ["incidents.workspace", "incidents.number"],
            name="fk_reminder_controls_workspace_incidents",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("reminder_controls")
    op.drop_index("uq_reminders_one_pending_per_kind", table_name="reminders")
    op.drop_index("ix_reminders_workspace_incident_number", table_name="reminders")
    op.drop_index("ix_reminders_state_due_at", table_name="reminders")
    op.drop_table("reminders")
