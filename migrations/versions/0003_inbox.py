"""Inbox

Platform requests stored before they are acknowledged, until they have been handled
(bot.ports.Inbox).

Revision ID: 0003_inbox
Revises: 0003_milestones
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_inbox"
down_revision: str | Sequence[str] | None = "0003_milestones"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out in full rather than imported from storage/ (see 0001).
PLATFORM = sa.String(length=32)
MESSAGE_REF = sa.String(length=512)


def moment() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", PLATFORM, nullable=False),
        sa.Column("delivery_key", MESSAGE_REF, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", moment(), nullable=False),
        sa.Column("claimed_at", moment(), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("platform", "delivery_key", name="uq_inbox_platform_delivery_key"),
    )
    op.create_index("ix_inbox_platform_claimed_at", "inbox", ["platform", "claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_platform_claimed_at", table_name="inbox")
    op.drop_table("inbox")
