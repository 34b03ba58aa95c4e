"""Alert groups

Each alert group's incident (one incident per Alertmanager or Grafana group), and the
summary its channel has not had yet (a storm is summarised at most once a minute).

Revision ID: 0005_alert_groups
Revises: 0004_leases
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_alert_groups"
down_revision: str | Sequence[str] | None = "0004_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("group_hash", sa.String(length=64), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("summary_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending_fired", sa.Integer(), nullable=False),
        sa.Column("pending_resolved", sa.Integer(), nullable=False),
        sa.Column("pending_names", sa.JSON(), nullable=False),
        sa.Column("firing_now", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_groups"),
        sa.UniqueConstraint(
            "workspace", "group_hash", name="uq_alert_groups_workspace_group_hash"
        ),
    )
    op.create_index(
        "ix_alert_groups_pending_fired_pending_resolved",
        "alert_groups",
        ["pending_fired", "pending_resolved"],
    )


def downgrade() -> None:
    op.drop_index("ix_alert_groups_pending_fired_pending_resolved", table_name="alert_groups")
    op.drop_table("alert_groups")
