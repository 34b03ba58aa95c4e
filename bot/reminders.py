"""Reminders: rows with a due time that the core arms and cancels as an incident changes.

Pure Python, like the domain. Three kinds (design §3):

- *no commander*: some minutes after `start` while nobody holds the commander role;
- *status update*: every N minutes while the incident is open and nothing went on its
  timeline (a status change, a note, a tag, a role …) in that time;
- *empty sections*: after `close`, then daily, a bounded number of times, while a
  required section of the incident's template is still empty.

`reconcile` is the one rule book: after every change to an incident the service calls
it with the incident's reminders and it cancels what no longer applies and arms what
is missing. `after_delivery` arms the next occurrence once one went out.

A reminder row is one delivery: it is delivered at most once (see
`bot.reminder_delivery.ReminderDelivery.deliver_due` for the protocol), and the next
occurrence is a new row.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain import Incident, Role, Status


class ReminderKind(enum.StrEnum):
    NO_COMMANDER = "no-commander"
    STATUS_UPDATE = "status-update"
    EMPTY_SECTIONS = "empty-sections"

    @property
    def recipients(self) -> str:
        """Who it is addressed to, as stored with the row (the first holder wins)."""
        return RECIPIENT_RULES[self]

    @property
    def label(self) -> str:
        return {
            ReminderKind.NO_COMMANDER: "no commander",
            ReminderKind.STATUS_UPDATE: "status update",
            ReminderKind.EMPTY_SECTIONS: "empty sections",
        }[self]


RECIPIENT_RULES: dict[ReminderKind, str] = {
    ReminderKind.NO_COMMANDER: "channel",
    ReminderKind.STATUS_UPDATE: "comms,commander",
    ReminderKind.EMPTY_SECTIONS: "reporting,commander,declarer",
}


class ReminderState(enum.StrEnum):
    PENDING = "pending"  # waiting for its due time (or for its next delivery attempt)
    CLAIMED = "claimed"  # taken by a sweep, being delivered right now
    SENT = "sent"  # delivered; never delivered again
    CANCELLED = "cancelled"  # no longer applies (filled, reopened, `remind off` …)
    # A sweep claimed it and never said how the delivery went (the process died between
    # delivering and recording it). It may or may not have reached the chat; it is never
    # tried again, so that nothing is delivered twice.
    UNKNOWN = "unknown"


@dataclass(eq=False)
class Reminder:
    workspace: str
    incident_number: int
    platform: str  # the incident's platform: which adapter delivers it
    kind: ReminderKind
    due_at: datetime  # UTC; for a failed delivery, when it is tried again
    created_at: datetime
    occurrence: int = 1  # 1 for the first of its kind since the rule started, 2 next …
    recipients: str = ""
    state: ReminderState = ReminderState.PENDING
    attempts: int = 0  # failed deliveries so far
    claimed_at: datetime | None = None
    claimed_by: str | None = None
    finished_at: datetime | None = None  # sent, cancelled or given up as unknown
    last_error: str | None = None
    id: int | None = None  # set by storage

    def __post_init__(self) -> None:
        if not self.recipients:
            self.recipients = self.kind.recipients

    @property
    def is_pending(self) -> bool:
        return self.state is ReminderState.PENDING

    def cancel(self, now: datetime) -> None:
        self.state = ReminderState.CANCELLED
        self.finished_at = now


@dataclass(eq=False)
class ReminderControl:
    """What people said about one incident's reminders: `remind off/on/snooze`."""

    workspace: str
    incident_number: int
    off: bool = False
    snoozed_until: datetime | None = None


@dataclass(frozen=True)
class ReminderRules:
    no_commander_after: timedelta = timedelta(minutes=10)
    status_every: timedelta = timedelta(minutes=30)
    sections_after: timedelta = timedelta(hours=24)
    sections_every: timedelta = timedelta(hours=24)
    sections_max: int = 5
    # A failed delivery (the platform is down) is tried again after 30 s, 1 min, 2 min …
    retry_first: timedelta = timedelta(seconds=30)
    retry_longest: timedelta = timedelta(minutes=15)
    # A claim older than this was made by a process that died while delivering.
    claim_lease: timedelta = timedelta(minutes=10)

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait before attempt `attempts + 1`, doubling up to `retry_longest`."""
        delay = self.retry_first * (1 << min(max(attempts - 1, 0), 30))
        return min(delay, self.retry_longest)


@dataclass
class IncidentReminders:
    """One incident's reminders (every state) and its control, as loaded for a change."""

    incident: Incident
    reminders: list[Reminder]
    control: ReminderControl
    new: list[Reminder] = field(default_factory=list)  # armed by this change; to be added

    def pending(self, kind: ReminderKind) -> list[Reminder]:
        return [r for r in self.reminders + self.new if r.kind is kind and r.is_pending]

    def pending_all(self) -> list[Reminder]:
        return [r for r in self.reminders + self.new if r.is_pending]

    def delivered_since(self, kind: ReminderKind, since: datetime | None) -> int:
        """How many of `kind` went out (or may have) since `since`."""
        return sum(
            1
            for r in self.reminders
            if r.kind is kind
            and r.state in (ReminderState.SENT, ReminderState.UNKNOWN, ReminderState.CLAIMED)
            and (since is None or r.created_at >= since)
        )


# -- the rules ---------------------------------------------------------------------------


def status_updates_wanted(incident: Incident) -> bool:
    return not incident.is_closed and incident.status is not Status.RESOLVED


def sections_matter(incident: Incident) -> bool:
    """Whether the empty required sections can change what `reconcile` does: only after
    close (the empty-sections reminder). An open incident's sections are not read, so an
    event need not load them."""
    return incident.is_closed


def reconcile(
    schedule: IncidentReminders,
    *,
    rules: ReminderRules,
    now: datetime,
    empty_sections: list[str],
    activity: bool,
) -> None:
    """Brings one incident's pending reminders in line with its state after a change.

    `activity` is true when the change put something on the timeline (or took it off):
    that restarts the status-update clock. `empty_sections` are the ids of the required
    sections of the incident's template that nobody has written yet.
    """
    incident = schedule.incident
    control = schedule.control
    if control.off:
        for reminder in schedule.pending_all():
            reminder.cancel(now)
        return

    # No commander: sent once at most, while nobody holds the role.
    no_commander = (
        not incident.is_closed
        and incident.holder(Role.COMMANDER) is None
        and schedule.delivered_since(ReminderKind.NO_COMMANDER, None) == 0
    )
    _want(
        schedule,
        ReminderKind.NO_COMMANDER,
        wanted=no_commander,
        due=max(incident.declared_at + rules.no_commander_after, now),
        now=now,
        restart=False,
    )

    # Status update: the clock restarts with every timeline change.
    _want(
        schedule,
        ReminderKind.STATUS_UPDATE,
        wanted=status_updates_wanted(incident),
        due=now + rules.status_every,
        now=now,
        restart=activity,
    )

    # Empty sections: after close, while a required section is empty, a bounded count.
    sent = schedule.delivered_since(ReminderKind.EMPTY_SECTIONS, incident.closed_at)
    closed_at = incident.closed_at
    first_due = (closed_at or now) + rules.sections_after
    _want(
        schedule,
        ReminderKind.EMPTY_SECTIONS,
        wanted=incident.is_closed and bool(empty_sections) and sent < rules.sections_max,
        due=max(first_due, now) if sent == 0 else now + rules.sections_every,
        now=now,
        restart=False,
        occurrence=sent + 1,
    )


def after_delivery(
    schedule: IncidentReminders,
    delivered: Reminder,
    *,
    rules: ReminderRules,
    now: datetime,
    empty_sections: list[str],
) -> None:
    """Arms the occurrence after `delivered` (sent, or given up as unknown), if any."""
    if schedule.control.off or schedule.pending(delivered.kind):
        return
    incident = schedule.incident
    if delivered.kind is ReminderKind.STATUS_UPDATE and status_updates_wanted(incident):
        every = rules.status_every
    elif (
        delivered.kind is ReminderKind.EMPTY_SECTIONS
        and incident.is_closed
        and empty_sections
        and delivered.occurrence < rules.sections_max
    ):
        every = rules.sections_every
    else:
        return
    # The next one keeps the cadence of the due times; after a long outage the missed
    # ones are skipped rather than all sent at once.
    due = delivered.due_at + every
    while due <= now:
        due += every
    _arm(schedule, delivered.kind, due, now, occurrence=delivered.occurrence + 1)


def snooze(schedule: IncidentReminders, until: datetime) -> None:
    schedule.control.snoozed_until = until
    for reminder in schedule.pending_all():
        reminder.due_at = max(reminder.due_at, until)


def message_due(schedule: IncidentReminders, reminder: Reminder, empty_sections: list[str]) -> bool:
    """Whether a claimed reminder still applies now (else it is cancelled, not sent)."""
    incident = schedule.incident
    if schedule.control.off:
        return False
    if reminder.kind is ReminderKind.NO_COMMANDER:
        return not incident.is_closed and incident.holder(Role.COMMANDER) is None
    if reminder.kind is ReminderKind.STATUS_UPDATE:
        return status_updates_wanted(incident)
    return incident.is_closed and bool(empty_sections)


def recipient(incident: Incident, kind: ReminderKind) -> str | None:
    """The user a reminder is addressed to; None for the channel as a whole."""
    for rule in kind.recipients.split(","):
        if rule == "channel":
            return None
        if rule == "declarer":
            return incident.declared_by
        holder = incident.holder(Role(rule))
        if holder is not None:
            return holder
    return None


# -- durations ---------------------------------------------------------------------------

_DURATION = re.compile(r"^([0-9]{1,6})\s*(s|m|h|d)$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
DURATION_FORMS = "a number and a unit: 30m, 2h, 1d (s, m, h or d)"


def parse_duration(text: str) -> timedelta | None:
    """`30m` -> 30 minutes; None when `text` is not a duration."""
    match = _DURATION.match(text.strip())
    if match is None:
        return None
    amount = int(match.group(1))
    if amount == 0:
        return None
    return timedelta(**{_UNITS[match.group(2).lower()]: amount})


def format_duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- helpers ------------------------------------------------------------------------------


def _want(
    schedule: IncidentReminders,
    kind: ReminderKind,
    *,
    wanted: bool,
    due: datetime,
    now: datetime,
    restart: bool,
    occurrence: int = 1,
) -> None:
    pending = schedule.pending(kind)
    if not wanted:
        _cancel(schedule, kind, now)
        return
    if pending and not restart:
        return
    _cancel(schedule, kind, now)
    _arm(schedule, kind, due, now, occurrence=occurrence)


def _cancel(schedule: IncidentReminders, kind: ReminderKind, now: datetime) -> None:
    for reminder in schedule.pending(kind):
        reminder.cancel(now)


def _arm(
    schedule: IncidentReminders,
    kind: ReminderKind,
    due: datetime,
    now: datetime,
    *,
    occurrence: int,
) -> None:
    snoozed_until = schedule.control.snoozed_until
    if snoozed_until is not None and snoozed_until > due:
        due = snoozed_until
    incident = schedule.incident
    schedule.new.append(
        Reminder(
            workspace=incident.workspace,
            incident_number=incident.number,
            platform=incident.platform,
            kind=kind,
            due_at=due,
            created_at=now,
            occurrence=occurrence,
        )
    )
