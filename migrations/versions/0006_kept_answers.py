"""Kept answers

What the bot answered a command, kept with the command's processed event id, so that a
redelivery of the command (the process died after recording it, before answering)
sends the answer it never sent.

Revision ID: 0006_kept_answers
Revises: 0005_alert_groups
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_kept_answers"
down_revision: str | Sequence[str] | None = "0005_alert_groups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("processed_events") as table:
        table.add_column(sa.Column("answer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_events") as table:
        table.drop_column("answer")
