"""Tables, and the imperative mapping of the pure domain classes onto them.

The domain (`bot.domain`) knows nothing of SQLAlchemy: `start_mappers()` instruments
its dataclasses from the outside (Architecture Patterns with Python, chapter 2).
Roles are few, and every event reads them (who is commander: the reminder rules): they
are eager-loaded with SELECT ... IN. Sections, action items and milestones are loaded
when first read: a note, a 📌 or a role handover in an open incident never reads them
(`storage.uow` loads them with the incident where it is read whole).
The timeline can hold thousands of entries: it is loaded only when `incident.timeline`
is read (drafts, listings) or asked for (`storage.uow`); handling an event looks entries
up one by one (`storage.timeline`).
"""

from __future__ import annotations

import threading

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.orm import registry, relationship

from bot.domain import (
    ActionItem,
    EntryKind,
    Incident,
    Milestone,
    MilestoneKind,
    Role,
    RoleAssignment,
    SectionText,
    Status,
    TimelineEntry,
)
from bot.reminders import Reminder, ReminderControl, ReminderKind, ReminderState
from storage.types import StrEnumType, UTCDateTime

# Deterministic constraint names: alembic needs them to alter constraints later
# (and SQLite's batch mode needs them to recreate tables).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Identifiers (platform ids, names chosen by the bot) are bounded strings; anything a
# person typed is Text.
USER_ID = 255
CHANNEL_ID = 255
MESSAGE_REF = 512
PLATFORM = 32
ENUM = 32

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(255), nullable=False),
    Column("number", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("platform", String(PLATFORM), nullable=False),
    Column("channel_id", String(CHANNEL_ID), nullable=False),
    Column("channel_name", String(255), nullable=False),
    Column("declared_by", String(USER_ID), nullable=False),
    Column("declared_at", UTCDateTime(), nullable=False),
    Column("severity", Integer, nullable=True),
    Column("status", StrEnumType(Status, ENUM), nullable=False),
    Column("template", String(100), nullable=False),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("closed_at", UTCDateTime(), nullable=True),
    UniqueConstraint("workspace", "number"),
    UniqueConstraint("platform", "channel_id"),
)

timeline_entries = Table(
    "timeline_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("captured_at", UTCDateTime(), nullable=False),
    Column("kind", StrEnumType(EntryKind, ENUM), nullable=False),
    Column("author", String(USER_ID), nullable=True),
    Column("text", Text, nullable=False),
    Column("source_ref", String(MESSAGE_REF), nullable=True),
    Column("tagged_by", JSON, nullable=False),
    Column("edited_at", UTCDateTime(), nullable=True),
    Column("removed_at", UTCDateTime(), nullable=True),
    UniqueConstraint("incident_id", "seq"),
    Index(None, "incident_id", "source_ref"),
)

role_assignments = Table(
    "role_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("role", StrEnumType(Role, ENUM), nullable=False),
    Column("user_id", String(USER_ID), nullable=False),
    Column("assigned_at", UTCDateTime(), nullable=False),
    Column("assigned_by", String(USER_ID), nullable=False),
    Column("relieved_at", UTCDateTime(), nullable=True),
    Index(None, "incident_id"),
)

section_texts = Table(
    "section_texts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("section_id", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(USER_ID), nullable=False),
    UniqueConstraint("incident_id", "section_id"),
)

action_items = Table(
    "action_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("owner", String(USER_ID), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(USER_ID), nullable=False),
    Column("done_at", UTCDateTime(), nullable=True),
    Column("done_by", String(USER_ID), nullable=True),
    UniqueConstraint("incident_id", "seq"),
)

# At most one of each kind per incident, in its own small table: reading the
# milestones (and the durations they give) never needs the timeline.
milestones = Table(
    "milestones",
    metadata,
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("kind", StrEnumType(MilestoneKind, ENUM), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("set_at", UTCDateTime(), nullable=False),
    Column("set_by", String(USER_ID), nullable=True),
    PrimaryKeyConstraint("incident_id", "kind"),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("platform", String(PLATFORM), nullable=False),
    Column("event_id", String(MESSAGE_REF), nullable=False),
    Column("processed_at", UTCDateTime(), nullable=False),
    # What the bot answered the command (JSON), sent again if the command is delivered
    # again: the process may have died before sending it (bot.service).
    Column("answer", Text(), nullable=True),
    PrimaryKeyConstraint("platform", "event_id"),
    Index(None, "processed_at"),  # pruning deletes the oldest
)

# One row per delivery: a reminder is sent at most once, the next occurrence is a new
# row. Keyed to its incident by (workspace, number), the incident's natural key, which
# the domain knows (the surrogate id it does not).
reminders = Table(
    "reminders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(255), nullable=False),
    Column("incident_number", Integer, nullable=False),
    Column("platform", String(PLATFORM), nullable=False),
    Column("kind", StrEnumType(ReminderKind, ENUM), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("occurrence", Integer, nullable=False),
    Column("recipients", String(100), nullable=False),
    Column("state", StrEnumType(ReminderState, ENUM), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=True),
    Column("claimed_by", String(255), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    ForeignKeyConstraint(
        ["workspace", "incident_number"],
        ["incidents.workspace", "incidents.number"],
        ondelete="CASCADE",
    ),
    # The sweep's query: pending rows by due time.
    Index(None, "state", "due_at"),
    Index(None, "workspace", "incident_number"),
    # The rules read an incident's reminders in force (not cancelled) after a change;
    # the cancelled ones, one per timeline change, stay out of that read.
    Index(None, "workspace", "incident_number", "state"),
    # At most one pending reminder of each kind per incident: two processes changing
    # one incident at once cannot both arm one; the second gets ConcurrentChange and
    # handles its event again with fresh data.
    Index(
        "uq_reminders_one_pending_per_kind",
        "workspace",
        "incident_number",
        "kind",
        unique=True,
        sqlite_where=text("state = 'pending'"),
        postgresql_where=text("state = 'pending'"),
    ),
)

reminder_controls = Table(
    "reminder_controls",
    metadata,
    Column("workspace", String(255), nullable=False),
    Column("incident_number", Integer, nullable=False),
    Column("off", Boolean, nullable=False),
    Column("snoozed_until", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("workspace", "incident_number"),
    ForeignKeyConstraint(
        ["workspace", "incident_number"],
        ["incidents.workspace", "incidents.number"],
        ondelete="CASCADE",
    ),
)

# Display names as the adapters last saw them, so a draft rendered with no platform
# connection names people. Written only when a name is new or changed.
people = Table(
    "people",
    metadata,
    Column("platform", String(PLATFORM), nullable=False),
    Column("workspace", String(255), nullable=False),
    Column("user_id", String(USER_ID), nullable=False),
    Column("display_name", String(255), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("platform", "workspace", "user_id"),
)

# An alert group's incident (bot.alerts.AlertGroup): one row per (workspace, group),
# pointing at the group's latest incident. The group key can be long, so it is kept as
# text and looked up by its SHA-256. Read and written with SQLAlchemy Core, unmapped.
alert_groups = Table(
    "alert_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(255), nullable=False),
    Column("group_hash", String(64), nullable=False),
    Column("group_key", Text, nullable=False),
    Column("source", String(PLATFORM), nullable=False),
    Column("incident_number", Integer, nullable=False),
    Column("summary_at", UTCDateTime(), nullable=True),
    Column("pending_fired", Integer, nullable=False),
    Column("pending_resolved", Integer, nullable=False),
    Column("pending_names", JSON, nullable=False),
    Column("firing_now", Integer, nullable=True),
    UniqueConstraint("workspace", "group_hash"),
    # The summary sweep: groups with news the channel has not had yet.
    Index(None, "pending_fired", "pending_resolved"),
)

# Platform requests stored before they were acknowledged (bot.ports.Inbox); a row lives
# until its request has been handled. Read and written with SQLAlchemy Core, unmapped.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(PLATFORM), nullable=False),
    Column("delivery_key", String(MESSAGE_REF), nullable=False),
    Column("payload", Text, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=False),
    Column("claimed_by", String(255), nullable=False),
    Column("attempts", Integer, nullable=False),
    UniqueConstraint("platform", "delivery_key"),
    # The sweep's query: the oldest claims of a platform.
    Index(None, "platform", "claimed_at"),
)

# Which replica does a job only one may do at a time (bot.ports.Leadership): the
# holder's lease runs out at `expires_at` unless renewed.
leases = Table(
    "leases",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("taken_at", UTCDateTime(), nullable=False),
)

# Where a leased job has got to (the Matrix sync token), saved by the lease's holder.
sync_positions = Table(
    "sync_positions",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("position", Text, nullable=False),
    Column("saved_at", UTCDateTime(), nullable=False),
)

mapper_registry = registry(metadata=metadata)
_lock = threading.Lock()


def _mapped() -> bool:
    return inspect(Incident, raiseerr=False) is not None


def start_mappers() -> None:
    """Maps the domain classes onto the tables; calling it again does nothing."""
    with _lock:
        if _mapped():
            return
        mapper_registry.map_imperatively(TimelineEntry, timeline_entries)
        mapper_registry.map_imperatively(
            RoleAssignment,
            role_assignments,
            properties={"user": role_assignments.c.user_id},
        )
        # A section is identified by (incident, section id) rather than the surrogate
        # `id`: clearing a section and writing it again before a flush then becomes
        # an UPDATE of the row (SQLAlchemy's "row switch") instead of an INSERT that
        # would break UNIQUE(incident_id, section_id) before the DELETE ran.
        mapper_registry.map_imperatively(
            SectionText,
            section_texts,
            primary_key=[section_texts.c.incident_id, section_texts.c.section_id],
            exclude_properties=["id"],
        )
        mapper_registry.map_imperatively(ActionItem, action_items)
        mapper_registry.map_imperatively(Milestone, milestones)
        mapper_registry.map_imperatively(Reminder, reminders)
        mapper_registry.map_imperatively(ReminderControl, reminder_controls)
        mapper_registry.map_imperatively(
            Incident,
            incidents,
            properties={
                "roles": relationship(
                    RoleAssignment,
                    order_by=role_assignments.c.id,
                    cascade="all, delete-orphan",
                    lazy="selectin",
                ),
                "sections": relationship(
                    SectionText,
                    order_by=section_texts.c.id,
                    cascade="all, delete-orphan",
                    lazy="select",
                ),
                "timeline": relationship(
                    TimelineEntry,
                    order_by=timeline_entries.c.seq,
                    cascade="all, delete-orphan",
                    lazy="select",
                ),
                "actions": relationship(
                    ActionItem,
                    order_by=action_items.c.seq,
                    cascade="all, delete-orphan",
                    lazy="select",
                ),
                "milestones": relationship(
                    Milestone,
                    order_by=milestones.c.at,
                    cascade="all, delete-orphan",
                    lazy="select",
                ),
            },
        )
