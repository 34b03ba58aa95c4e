"""Initial schema

Incidents with their roles, sections, timeline and action items; processed events.

Revision ID: 0001
Revises:
Create Date: 2025-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out in full rather than imported from storage/: a revision records the
# schema as it was when it was written.
USER_ID = sa.String(length=255)
ENUM = sa.String(length=32)
PLATFORM = sa.String(length=32)
MESSAGE_REF = sa.String(length=512)


def moment() -> sa.DateTime:
    # timestamptz on PostgreSQL; naive UTC on SQLite (see storage.types.UTCDateTime).
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("platform", PLATFORM, nullable=False),
        sa.Column("channel_id", sa.String(length=255), nullable=False),
        sa.Column("channel_name", sa.String(length=255), nullable=False),
        sa.Column("declared_by", USER_ID, nullable=False),
        sa.Column("declared_at", moment(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=True),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("resolved_at", moment(), nullable=True),
        sa.Column("closed_at", moment(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.UniqueConstraint("workspace", "number", name="uq_incidents_workspace_number"),
        sa.UniqueConstraint("platform", "channel_id", name="uq_incidents_platform_channel_id"),
    )

    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("occurred_at", moment(), nullable=False),
        sa.Column("captured_at", moment(), nullable=False),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("author", USER_ID, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source_ref", MESSAGE_REF, nullable=True),
        sa.Column("tagged_by", sa.JSON(), nullable=False),
        sa.Column("edited_at", moment(), nullable=True),
        sa.Column("removed_at", moment(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_timeline_entries"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_timeline_entries_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("incident_id", "seq", name="uq_timeline_entries_incident_id_seq"),
    )
    op.create_index(
        "ix_timeline_entries_incident_id_source_ref",
        "timeline_entries",
        ["incident_id", "source_ref"],
    )

    op.create_table(
        "role_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("role", ENUM, nullable=False),
        sa.Column("user_id", USER_ID, nullable=False),
        sa.Column("assigned_at", moment(), nullable=False),
        sa.Column("assigned_by", USER_ID, nullable=False),
        sa.Column("relieved_at", moment(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_role_assignments"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_role_assignments_incident_id_incidents",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_role_assignments_incident_id", "role_assignments", ["incident_id"])

    op.create_table(
        "section_texts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", moment(), nullable=False),
        sa.Column("updated_by", USER_ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_section_texts"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_section_texts_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "incident_id", "section_id", name="uq_section_texts_incident_id_section_id"
        ),
    )

    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", USER_ID, nullable=True),
        sa.Column("created_at", moment(), nullable=False),
        sa.Column("created_by", USER_ID, nullable=False),
        sa.Column("done_at", moment(), nullable=True),
        sa.Column("done_by", USER_ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_action_items"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_action_items_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("incident_id", "seq", name="uq_action_items_incident_id_seq"),
    )

    op.create_table(
        "processed_events",
        sa.Column("platform", PLATFORM, nullable=False),
        sa.Column("event_id", MESSAGE_REF, nullable=False),
        sa.Column("processed_at", moment(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "event_id", name="pk_processed_events"),
    )


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("action_items")
    op.drop_table("section_texts")
    op.drop_index("ix_role_assignments_incident_id", table_name="role_assignments")
    op.drop_table("role_assignments")
    op.drop_index("ix_timeline_entries_incident_id_source_ref", table_name="timeline_entries")
    op.drop_table("timeline_entries")
    op.drop_table("incidents")
