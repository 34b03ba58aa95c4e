"""Flat event cost and housekeeping indexes

- reminders (workspace, incident_number, state): after a change the rules read an
  incident's reminders in force, leaving out the cancelled ones (one per timeline
  change), without scanning them.
- processed_events (processed_at): the housekeeping job deletes the oldest ids.

Revision ID: 0003_flatcost
Revises: 0003_inbox
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_flatcost"
down_revision: str | Sequence[str] | None = "0003_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_reminders_workspace_incident_number_state",
        "reminders",
        ["workspace", "incident_number", "state"],
    )
    op.create_index(
        "ix_processed_events_processed_at", "processed_events", ["processed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_processed_events_processed_at", table_name="processed_events")
    op.drop_index("ix_reminders_workspace_incident_number_state", table_name="reminders")
