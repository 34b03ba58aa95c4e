"""Milestones

When an incident's impact started, was detected, identified, mitigated and resolved:
one row per kind, in a table of their own so that the durations a postmortem reports
can be read without the timeline. Incidents recorded before this revision get the
milestones their status changes imply (identified, monitoring -> mitigated, resolved).

Revision ID: 0003_milestones
Revises: 0003_people
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_milestones"
down_revision: str | Sequence[str] | None = "0003_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out in full rather than imported from storage/ (see 0001).
ENUM = sa.String(length=32)


def moment() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "milestones",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("at", moment(), nullable=False),
        sa.Column("set_at", moment(), nullable=False),
        sa.Column("set_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", "kind", name="pk_milestones"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_milestones_incident_id_incidents",
            ondelete="CASCADE",
        ),
    )
    # What the bot had recorded already: the first status change to identified and to
    # monitoring, and the resolution in force. The times are copied as stored, so
    # both databases keep their own representation of a UTC moment.
    for kind, text in (("identified", "Status: identified"), ("mitigated", "Status: monitoring")):
        op.execute(
            sa.text(
                "INSERT INTO milestones (incident_id, kind, at, set_at, set_by) "
                "SELECT incident_id, :kind, MIN(occurred_at), MIN(occurred_at), NULL "
                "FROM timeline_entries "
                "WHERE kind = 'automatic' AND text = :text AND removed_at IS NULL "
                "GROUP BY incident_id"
            ).bindparams(kind=kind, text=text)
        )
    op.execute(
        "INSERT INTO milestones (incident_id, kind, at, set_at, set_by) "
        "SELECT id, 'resolved', resolved_at, resolved_at, NULL FROM incidents "
        "WHERE resolved_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("milestones")
