"""Leases and sync positions

- leases: which replica holds a job only one may do at a time (the Matrix sync), until
  when (bot.ports.Leadership).
- sync_positions: where that job has got to (the Matrix sync token), so whichever
  replica holds the lease carries on from there.

Revision ID: 0004_leases
Revises: 0003_flatcost
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_leases"
down_revision: str | Sequence[str] | None = "0003_flatcost"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def moment() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("expires_at", moment(), nullable=False),
        sa.Column("taken_at", moment(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )
    op.create_table(
        "sync_positions",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("saved_at", moment(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_sync_positions"),
    )


def downgrade() -> None:
    op.drop_table("sync_positions")
    op.drop_table("leases")
