"""The incident aggregate: roles, severity, status, timeline, sections and action items.

Pure Python. Every method takes the moment it acts at (UTC) from its caller, so the
domain never reads a clock. Entities are plain dataclasses with identity equality;
`storage/` maps them onto tables without the domain knowing.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.timeline import ListTimelineEntries, TimelineEntries


class IncidentError(Exception):
    """A request the incident cannot honour; the message is shown to the user as is."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class Role(enum.StrEnum):
    COMMANDER = "commander"
    COMMS = "comms"
    OPS = "ops"
    REPORTING = "reporting"

    @property
    def label(self) -> str:
        return ROLE_TITLES[self]


ROLE_TITLES: dict[Role, str] = {
    Role.COMMANDER: "Incident commander",
    Role.COMMS: "Communications Lead",
    Role.OPS: "Operations Lead",
    Role.REPORTING: "Reporting Lead",
}

ROLE_ALIASES: dict[str, Role] = {
    "commander": Role.COMMANDER,
    "ic": Role.COMMANDER,
    "lead": Role.COMMANDER,
    "comms": Role.COMMS,
    "communications": Role.COMMS,
    "ops": Role.OPS,
    "operations": Role.OPS,
    "reporting": Role.REPORTING,
    "scribe": Role.REPORTING,
    "reporter": Role.REPORTING,
}


class Status(enum.StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class EntryKind(enum.StrEnum):
    TAGGED = "tagged"  # a chat message put on the timeline by a reaction
    NOTE = "note"  # `note TEXT`, at the command's own time
    BACKDATED = "backdated"  # `timeline add WHEN TEXT`
    AUTOMATIC = "automatic"  # declared, severity, status, roles, resolved, closed


class AutomaticEvent(enum.StrEnum):
    """What an automatic entry records: the kinds a template may bring into its draft's
    timeline (`timeline_includes`); drafts leave the bot's bookkeeping out otherwise."""

    DECLARED = "declared"
    SEVERITY = "severity"
    STATUS = "status"
    ROLE = "role"  # an assignment or a handover
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


# The bot writes its automatic entries in these forms (see `Incident`), so the kind can
# be read back from the text of an entry loaded from storage. An automatic entry whose
# text someone rewrote with `timeline edit` and that no longer reads so has no kind.
_AUTOMATIC_FORMS: tuple[tuple[re.Pattern[str], AutomaticEvent], ...] = (
    (re.compile(r"^Incident declared by "), AutomaticEvent.DECLARED),
    (re.compile(r"^Severity (?:set to|changed from) SEV"), AutomaticEvent.SEVERITY),
    (re.compile(r"^Status: "), AutomaticEvent.STATUS),
    (re.compile(r" assigned as | handed over from "), AutomaticEvent.ROLE),
    (re.compile(r"^Incident resolved$"), AutomaticEvent.RESOLVED),
    (re.compile(r"^Incident closed$"), AutomaticEvent.CLOSED),
    (re.compile(r"^Incident reopened$"), AutomaticEvent.REOPENED),
)


class MilestoneKind(enum.StrEnum):
    """The moments a postmortem's durations are measured between (declared is the
    incident's own `declared_at`, recorded by `start`)."""

    STARTED = "started"  # impact started
    DETECTED = "detected"
    IDENTIFIED = "identified"
    MITIGATED = "mitigated"  # impact ended; `status monitoring` sets it
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return MILESTONE_LABELS[self]


MILESTONE_LABELS: dict[MilestoneKind, str] = {
    MilestoneKind.STARTED: "Impact started",
    MilestoneKind.DETECTED: "Detected",
    MilestoneKind.IDENTIFIED: "Identified",
    MilestoneKind.MITIGATED: "Mitigated",
    MilestoneKind.RESOLVED: "Resolved",
}

MILESTONE_ALIASES: dict[str, MilestoneKind] = {
    "started": MilestoneKind.STARTED,
    "start": MilestoneKind.STARTED,
    "impact": MilestoneKind.STARTED,
    "began": MilestoneKind.STARTED,
    "detected": MilestoneKind.DETECTED,
    "detect": MilestoneKind.DETECTED,
    "noticed": MilestoneKind.DETECTED,
    "alerted": MilestoneKind.DETECTED,
    "alert": MilestoneKind.DETECTED,
    "identified": MilestoneKind.IDENTIFIED,
    "identify": MilestoneKind.IDENTIFIED,
    "diagnosed": MilestoneKind.IDENTIFIED,
    "cause": MilestoneKind.IDENTIFIED,
    "mitigated": MilestoneKind.MITIGATED,
    "mitigate": MilestoneKind.MITIGATED,
    "restored": MilestoneKind.MITIGATED,
    "recovered": MilestoneKind.MITIGATED,
    "resolved": MilestoneKind.RESOLVED,
    "resolve": MilestoneKind.RESOLVED,
    "fixed": MilestoneKind.RESOLVED,
    "ended": MilestoneKind.RESOLVED,
}

# The status a `status` change sets, when that milestone is not set yet.
STATUS_MILESTONES: dict[Status, MilestoneKind] = {
    Status.IDENTIFIED: MilestoneKind.IDENTIFIED,
    Status.MONITORING: MilestoneKind.MITIGATED,
    Status.RESOLVED: MilestoneKind.RESOLVED,
}

# (earlier, later): impact starts before anything else is known about it, and is
# mitigated before (or when) it is resolved. Anything else may come in any order
# (an incident can be detected after its impact was mitigated).
MILESTONE_ORDER: tuple[tuple[MilestoneKind, MilestoneKind], ...] = (
    (MilestoneKind.STARTED, MilestoneKind.DETECTED),
    (MilestoneKind.STARTED, MilestoneKind.IDENTIFIED),
    (MilestoneKind.STARTED, MilestoneKind.MITIGATED),
    (MilestoneKind.STARTED, MilestoneKind.RESOLVED),
    (MilestoneKind.MITIGATED, MilestoneKind.RESOLVED),
)


SEVERITIES = (1, 2, 3, 4)

# The shared section vocabulary: templates pick from these so they can share data.
WRITTEN_SECTION_IDS: tuple[str, ...] = (
    # A report's opening words above its overview (seed 004 has only the heading).
    "introduction",
    "summary",
    "impact",
    "root-cause",
    "trigger",
    "detection",
    "resolution",
    "what-went-well",
    "what-went-wrong",
    "where-we-got-lucky",
    "lessons-learned",
    "prevention",
    "next-steps",
    "supporting-info",
    "related-tickets",
    "references",
)
GENERATED_SECTION_IDS: tuple[str, ...] = (
    "timeline",
    "team",
    "action-items",
    "metadata",
    "links",
    # The template's [[fields]] as a table, the milestones as a list, the durations
    # they give as a line.
    "fields",
    "milestones",
    "durations",
)
SECTION_IDS: tuple[str, ...] = WRITTEN_SECTION_IDS + GENERATED_SECTION_IDS


def slugify(title: str, max_length: int = 40) -> str:
    """`Checkout returns 502!` -> `checkout-returns-502`; never empty."""
    ascii_title = (
        unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0] or slug[:max_length]
    return slug.strip("-") or "incident"


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|[0-9]{1,9}[.)])(?:\s|$)")


def continues_list(current: str, addition: str) -> bool:
    """Whether `addition` starts with a list item and `current` ends with one."""
    last = [line for line in current.splitlines() if line.strip()]
    first = addition.lstrip("\n").splitlines()
    return bool(last and first and _LIST_ITEM.match(last[-1]) and _LIST_ITEM.match(first[0]))


@dataclass(eq=False)
class TimelineEntry:
    seq: int  # stable number within the incident, what `timeline remove N` names
    occurred_at: datetime  # UTC: when it happened (a tagged message: when it was posted)
    captured_at: datetime  # UTC: when the bot recorded it
    kind: EntryKind
    author: str | None  # platform user id; None for nobody in particular
    text: str
    source_ref: str | None = None  # platform message reference of a tagged message
    tagged_by: list[str] = field(default_factory=list)
    edited_at: datetime | None = None
    removed_at: datetime | None = None  # kept, not deleted: nothing recorded is lost

    @property
    def visible(self) -> bool:
        return self.removed_at is None

    @property
    def event(self) -> AutomaticEvent | None:
        """For an automatic entry, what it records; None for what people wrote."""
        if self.kind is not EntryKind.AUTOMATIC:
            return None
        for form, event in _AUTOMATIC_FORMS:
            if form.search(self.text):
                return event
        return None


@dataclass(eq=False)
class RoleAssignment:
    role: Role
    user: str
    assigned_at: datetime
    assigned_by: str
    relieved_at: datetime | None = None  # set when the role is handed over


@dataclass(eq=False)
class SectionText:
    section_id: str
    text: str
    updated_at: datetime
    updated_by: str


@dataclass(eq=False)
class ActionItem:
    seq: int
    text: str
    owner: str | None
    created_at: datetime
    created_by: str
    done_at: datetime | None = None
    done_by: str | None = None


@dataclass(eq=False)
class Milestone:
    kind: MilestoneKind
    at: datetime  # UTC: when it happened
    set_at: datetime  # UTC: when it was recorded (or last moved)
    set_by: str | None  # who set it; the person whose `status` change set it


@dataclass(frozen=True)
class MilestoneChange:
    kind: MilestoneKind
    at: datetime
    previous: datetime | None  # where it was before it moved; None: newly set


@dataclass(frozen=True)
class Durations:
    """What the milestones say about how long things took; None where unknown."""

    impact: timedelta | None  # impact started -> mitigated, else -> resolved
    to_detect: timedelta | None  # impact started -> detected
    to_mitigate: timedelta | None  # impact started -> mitigated

    @classmethod
    def between(cls, milestones: Mapping[MilestoneKind, datetime]) -> Durations:
        """Only what the milestones tell: without the impact's start, nothing is known
        (the declaration is when people started talking, not when customers hurt)."""
        started = milestones.get(MilestoneKind.STARTED)
        if started is None:
            return cls(None, None, None)
        detected = milestones.get(MilestoneKind.DETECTED)
        mitigated = milestones.get(MilestoneKind.MITIGATED)
        ended = mitigated or milestones.get(MilestoneKind.RESOLVED)
        return cls(
            impact=ended - started if ended else None,
            to_detect=detected - started if detected else None,
            to_mitigate=mitigated - started if mitigated else None,
        )


@dataclass(frozen=True)
class TagOutcome:
    entry: TimelineEntry
    created: bool  # False: the message was already on the timeline (another 📌)


@dataclass(eq=False)
class Incident:
    workspace: str
    number: int
    title: str
    platform: str
    channel_id: str
    channel_name: str
    declared_by: str
    declared_at: datetime
    severity: int | None = None
    status: Status = Status.INVESTIGATING
    template: str = "standard"
    timezone: str = "UTC"  # the workspace zone when declared: how its times are shown
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    roles: list[RoleAssignment] = field(default_factory=list)
    sections: list[SectionText] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    actions: list[ActionItem] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)

    # -- declaring ---------------------------------------------------------------------

    @classmethod
    def declare(
        cls,
        *,
        workspace: str,
        number: int,
        title: str,
        platform: str,
        channel_id: str,
        channel_name: str,
        declared_by: str,
        declared_at: datetime,
        captured_at: datetime,
        template: str,
        timezone: str = "UTC",
    ) -> Incident:
        incident = cls(
            workspace=workspace,
            number=number,
            title=title,
            platform=platform,
            channel_id=channel_id,
            channel_name=channel_name,
            declared_by=declared_by,
            declared_at=declared_at,
            template=template,
            timezone=timezone,
        )
        declared = f"Incident declared by {{@{declared_by}}}: {title}"
        incident._automatic(declared_at, captured_at, declared_by, declared)
        return incident

    # -- queries -------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def holder(self, role: Role) -> str | None:
        for assignment in self.roles:
            if assignment.role is role and assignment.relieved_at is None:
                return assignment.user
        return None

    def current_roles(self) -> dict[Role, str]:
        return {role: user for role in Role if (user := self.holder(role)) is not None}

    def visible_timeline(self) -> list[TimelineEntry]:
        """The timeline as the postmortem shows it: by when things happened.

        Reads every entry: for drafts and listings, not for handling one event.
        """
        return sorted(
            (entry for entry in self.timeline if entry.visible),
            key=lambda entry: (entry.occurred_at, entry.seq),
        )

    def section_text(self, section_id: str) -> str | None:
        for section in self.sections:
            if section.section_id == section_id:
                return section.text
        return None

    def entry(self, seq: int) -> TimelineEntry:
        entry = self._entries().by_seq(seq)
        if entry is not None and entry.visible:
            return entry
        raise IncidentError(
            f"There is no timeline entry #{seq} in incident {self.number}. "
            "`timeline` lists the entries with their numbers."
        )

    def entry_for_message(self, source_ref: str) -> TimelineEntry | None:
        return self._entries().for_message(source_ref)

    def timeline_count(self) -> int:
        """How many entries the timeline has, removed ones included (a cheap look-up)."""
        return self._entries().count()

    # -- how the timeline is reached -----------------------------------------------------

    def use_timeline_entries(self, entries: TimelineEntries) -> None:
        """Storage hands a stored incident look-ups that answer from the database, so an
        event reads the one or two entries it touches, never the whole timeline.

        Without them, the look-ups go through `timeline`, the entries in memory.
        """
        self._extras()["timeline_entries"] = entries

    @property
    def timeline_changes(self) -> int:
        """How many times this object's timeline changed since it was declared or loaded:
        an entry added, edited, removed or shown again. A change restarts the
        status-update reminder's clock."""
        changes: int = self._extras().get("timeline_changes", 0)
        return changes

    def _entries(self) -> TimelineEntries:
        entries: TimelineEntries | None = self._extras().get("timeline_entries")
        return entries if entries is not None else ListTimelineEntries(self.timeline)

    def _timeline_changed(self) -> None:
        self._extras()["timeline_changes"] = self.timeline_changes + 1

    def _extras(self) -> dict[str, Any]:
        # Kept beside the fields rather than as fields: they are not part of the
        # incident's value (not compared, not stored), and an object that storage
        # loads is made without __init__, so they are created on first use.
        extras: dict[str, Any] | None = self.__dict__.get("_incident_extras")
        if extras is None:
            extras = self.__dict__["_incident_extras"] = {}
        return extras

    def ended_at(self) -> datetime | None:
        return self.resolved_at or self.closed_at

    # -- roles ---------------------------------------------------------------------------

    def assign_role(self, role: Role, user: str, *, by: str, at: datetime, now: datetime) -> str:
        """Assigns or hands over a role; returns what happened, for the reply."""
        current = self.current_assignment(role)
        if current is not None and current.user == user:
            raise IncidentError(f"{role.label} is already held by that person.")
        if current is not None:
            current.relieved_at = at
            previous = current.user
            self.roles.append(RoleAssignment(role, user, at, by))
            self._automatic(
                at, now, by, f"{role.label} handed over from {{@{previous}}} to {{@{user}}}"
            )
            return "handover"
        self.roles.append(RoleAssignment(role, user, at, by))
        self._automatic(at, now, by, f"{{@{user}}} assigned as {role.label}")
        return "assigned"

    def current_assignment(self, role: Role) -> RoleAssignment | None:
        for assignment in self.roles:
            if assignment.role is role and assignment.relieved_at is None:
                return assignment
        return None

    # -- severity and status -------------------------------------------------------------

    def set_severity(self, level: int, *, by: str, at: datetime, now: datetime) -> None:
        if level not in SEVERITIES:
            raise IncidentError(f"Severity must be 1 to 4, not {level}.")
        if self.severity == level:
            raise IncidentError(f"Severity is already SEV{level}.")
        previous = self.severity
        self.severity = level
        text = f"Severity set to SEV{level}" if previous is None else (
            f"Severity changed from SEV{previous} to SEV{level}"
        )
        self._automatic(at, now, by, text)

    def set_status(self, status: Status, *, by: str, at: datetime, now: datetime) -> None:
        self._require_open("change the status")
        if status is Status.RESOLVED:
            self.resolve(by=by, at=at, now=now)
            return
        if self.status is status:
            raise IncidentError(f"Status is already {status.value}.")
        self.status = status
        self.resolved_at = None
        self._automatic(at, now, by, f"Status: {status.value}")
        self._milestone_from_status(status, by=by, at=at, now=now)

    def resolve(self, *, by: str, at: datetime, now: datetime) -> None:
        self._require_open("resolve it")
        if self.status is Status.RESOLVED:
            raise IncidentError(f"Incident {self.number} is already resolved.")
        self.status = Status.RESOLVED
        self.resolved_at = at
        self._automatic(at, now, by, "Incident resolved")
        self._milestone_from_status(Status.RESOLVED, by=by, at=at, now=now)

    def close(self, *, by: str, at: datetime, now: datetime) -> None:
        if self.is_closed:
            raise IncidentError(f"Incident {self.number} is already closed.")
        if self.status is not Status.RESOLVED:
            self.status = Status.RESOLVED
            self.resolved_at = at
            self._milestone_from_status(Status.RESOLVED, by=by, at=at, now=now)
        self.closed_at = at
        self._automatic(at, now, by, "Incident closed")

    def reopen(self, *, by: str, at: datetime, now: datetime) -> None:
        if self.closed_at is None and self.status is not Status.RESOLVED:
            raise IncidentError(f"Incident {self.number} is open; there is nothing to reopen.")
        self.closed_at = None
        self.resolved_at = None
        self.status = Status.INVESTIGATING
        # Not over after all: the next resolution sets the resolved milestone afresh.
        self.milestones = [m for m in self.milestones if m.kind is not MilestoneKind.RESOLVED]
        self._automatic(at, now, by, "Incident reopened")

    def _require_open(self, doing: str) -> None:
        if self.is_closed:
            raise IncidentError(
                f"Incident {self.number} is closed; `reopen` it first to {doing}."
            )

    # -- timeline ------------------------------------------------------------------------

    def add_note(
        self, text: str, *, author: str, at: datetime, now: datetime, source_ref: str | None
    ) -> TimelineEntry:
        return self._add_entry(
            TimelineEntry(self._next_entry_seq(), at, now, EntryKind.NOTE, author, text, source_ref)
        )

    def add_backdated(
        self, text: str, *, author: str, occurred_at: datetime, now: datetime
    ) -> TimelineEntry:
        return self._add_entry(
            TimelineEntry(
                self._next_entry_seq(), occurred_at, now, EntryKind.BACKDATED, author, text
            )
        )

    def entries_with_refs(self, source_refs: Collection[str]) -> set[str]:
        """Which of these references already have an entry (one look-up for them all)."""
        return self._entries().with_refs(source_refs)

    def add_sourced(
        self,
        text: str,
        *,
        author: str,
        occurred_at: datetime,
        now: datetime,
        source_ref: str,
        known_new: bool = False,
    ) -> TimelineEntry | None:
        """An entry another system reported (an alert firing or resolving), at the time
        it says; None when the entry with this reference is there already (a repeat).
        `known_new`: the caller has just asked (`entries_with_refs`)."""
        if not known_new and self.entry_for_message(source_ref) is not None:
            return None
        return self._add_entry(
            TimelineEntry(
                self._next_entry_seq(),
                occurred_at,
                now,
                EntryKind.BACKDATED,
                author,
                text,
                source_ref,
            )
        )

    def tag_message(
        self,
        *,
        source_ref: str,
        author: str,
        text: str,
        posted_at: datetime,
        tagger: str,
        now: datetime,
    ) -> TagOutcome:
        """A 📌 on a message: one entry per message, however many reactions it gets."""
        existing = self.entry_for_message(source_ref)
        if existing is not None and existing.kind is EntryKind.TAGGED:
            was_visible = existing.visible
            if tagger not in existing.tagged_by:
                existing.tagged_by = [*existing.tagged_by, tagger]
            existing.removed_at = None
            if not was_visible:
                self._timeline_changed()
            return TagOutcome(existing, created=not was_visible)
        entry = TimelineEntry(
            self._next_entry_seq(),
            posted_at,
            now,
            EntryKind.TAGGED,
            author,
            text,
            source_ref,
            tagged_by=[tagger],
        )
        return TagOutcome(self._add_entry(entry), created=True)

    def untag_message(self, *, source_ref: str, tagger: str, now: datetime) -> bool:
        """Takes one person's 📌 off; the entry goes when the last 📌 goes. True if it went."""
        entry = self.entry_for_message(source_ref)
        if entry is None or entry.kind is not EntryKind.TAGGED or not entry.visible:
            return False
        entry.tagged_by = [user for user in entry.tagged_by if user != tagger]
        if entry.tagged_by:
            return False
        entry.removed_at = now
        self._timeline_changed()
        return True

    def message_edited(self, *, source_ref: str, text: str, now: datetime) -> bool:
        entry = self.entry_for_message(source_ref)
        if entry is None or entry.kind is not EntryKind.TAGGED or entry.text == text:
            return False
        entry.text = text
        entry.edited_at = now
        self._timeline_changed()
        return True

    def message_deleted(self, *, source_ref: str, now: datetime) -> bool:
        entry = self.entry_for_message(source_ref)
        if entry is None or entry.kind is not EntryKind.TAGGED or not entry.visible:
            return False
        entry.removed_at = now
        self._timeline_changed()
        return True

    def remove_entry(self, seq: int, *, now: datetime) -> TimelineEntry:
        entry = self.entry(seq)
        entry.removed_at = now
        entry.tagged_by = []
        self._timeline_changed()
        return entry

    def edit_entry(self, seq: int, text: str, *, now: datetime) -> TimelineEntry:
        entry = self.entry(seq)
        entry.text = text
        entry.edited_at = now
        self._timeline_changed()
        return entry

    def _automatic(self, at: datetime, now: datetime, author: str, text: str) -> TimelineEntry:
        return self._add_entry(
            TimelineEntry(self._next_entry_seq(), at, now, EntryKind.AUTOMATIC, author, text)
        )

    def _add_entry(self, entry: TimelineEntry) -> TimelineEntry:
        self._entries().add(entry)
        self._timeline_changed()
        return entry

    def _next_entry_seq(self) -> int:
        return self._entries().next_seq()

    # -- postmortem sections -------------------------------------------------------------

    def set_section(self, section_id: str, text: str, *, by: str, now: datetime) -> None:
        for section in self.sections:
            if section.section_id == section_id:
                section.text = text
                section.updated_at = now
                section.updated_by = by
                return
        self.sections.append(SectionText(section_id, text, now, by))

    def append_section(self, section_id: str, text: str, *, by: str, now: datetime) -> None:
        current = self.section_text(section_id)
        if not current:
            self.set_section(section_id, text, by=by, now=now)
            return
        # `- x` after a list continues that list; anything else is a new paragraph.
        joint = "\n" if continues_list(current, text) else "\n\n"
        self.set_section(section_id, f"{current.rstrip()}{joint}{text}", by=by, now=now)

    def clear_section(self, section_id: str) -> bool:
        before = len(self.sections)
        self.sections = [s for s in self.sections if s.section_id != section_id]
        return len(self.sections) != before

    # -- action items --------------------------------------------------------------------

    def add_action(self, text: str, *, owner: str | None, by: str, now: datetime) -> ActionItem:
        seq = max((action.seq for action in self.actions), default=0) + 1
        action = ActionItem(seq, text, owner, now, by)
        self.actions.append(action)
        return action

    def complete_action(self, seq: int, *, by: str, now: datetime) -> ActionItem:
        for action in self.actions:
            if action.seq == seq:
                if action.done_at is not None:
                    raise IncidentError(f"Action item #{seq} is already done.")
                action.done_at = now
                action.done_by = by
                return action
        raise IncidentError(
            f"There is no action item #{seq} in incident {self.number}. "
            "`actions` lists them with their numbers."
        )

    # -- milestones ----------------------------------------------------------------------

    def milestone(self, kind: MilestoneKind) -> datetime | None:
        found = self._milestone_record(kind)
        return found.at if found is not None else None

    def milestone_conflict(self, kind: MilestoneKind, at: datetime) -> Milestone | None:
        """A milestone that `kind` at `at` would contradict (impact ending before it
        started), if any."""
        for earlier, later in MILESTONE_ORDER:
            if kind is later and (other := self._milestone_record(earlier)) and other.at > at:
                return other
            if kind is earlier and (other := self._milestone_record(later)) and other.at < at:
                return other
        return None

    def set_milestone(
        self, kind: MilestoneKind, at: datetime, *, by: str | None, now: datetime
    ) -> MilestoneChange:
        """Sets a milestone, or moves it when it is set already."""
        conflict = self.milestone_conflict(kind, at)
        if conflict is not None:
            raise IncidentError(
                f"{kind.label} at {at:%Y-%m-%d %H:%M} UTC contradicts "
                f"{conflict.kind.label.lower()} at {conflict.at:%Y-%m-%d %H:%M} UTC."
            )
        current = self._milestone_record(kind)
        if current is None:
            self.milestones.append(Milestone(kind, at, now, by))
            return MilestoneChange(kind, at, None)
        previous = current.at
        current.at = at
        current.set_at = now
        current.set_by = by
        return MilestoneChange(kind, at, previous)

    def clear_milestone(self, kind: MilestoneKind) -> datetime:
        current = self._milestone_record(kind)
        if current is None:
            raise IncidentError(f"{kind.label} is not set; there is nothing to clear.")
        self.milestones = [m for m in self.milestones if m is not current]
        return current.at

    def durations(self) -> Durations:
        return Durations.between({m.kind: m.at for m in self.milestones})

    def _milestone_record(self, kind: MilestoneKind) -> Milestone | None:
        for milestone in self.milestones:
            if milestone.kind is kind:
                return milestone
        return None

    def _milestone_from_status(
        self, status: Status, *, by: str, at: datetime, now: datetime
    ) -> None:
        """A status change sets its milestone unless someone already set it (a
        milestone written with a time is the better record) or it would contradict one."""
        kind = STATUS_MILESTONES.get(status)
        if kind is None or self._milestone_record(kind) is not None:
            return
        if self.milestone_conflict(kind, at) is None:
            self.milestones.append(Milestone(kind, at, now, by))
