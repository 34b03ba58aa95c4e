"""Delivering due reminders exactly once: claim, deliver, record.

The rules of when a reminder is armed live in `bot.reminders`; this module is the
sweep that posts the due ones through each platform's outlet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Incident
from bot.drafts.templates import TemplateRegistry, TemplateSection
from bot.ports import Clock, ConcurrentChange, ReminderOutlet, UnitOfWork, UnitOfWorkFactory
from bot.reminders import (
    IncidentReminders,
    Reminder,
    ReminderKind,
    ReminderRules,
    ReminderState,
    after_delivery,
    format_duration,
    message_due,
    recipient,
)
from bot.replies import Message

_ATTEMPTS = 3
_log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What one sweep did."""

    delivered: int = 0
    failed: int = 0  # the outlet raised; each goes back to pending with a later due time
    cancelled: int = 0  # due, but no longer applicable
    unknown: int = 0  # stale claims given up (a process died while delivering)
    delivered_ids: list[int] = field(default_factory=list)
    # When the earliest reminder still pending is due, once the sweep is done.
    next_due: datetime | None = None
    outcomes: list[tuple[str, bool]] = field(default_factory=list)  # (platform, delivered)


def schedule_of(uow: UnitOfWork, incident: Incident) -> IncidentReminders:
    """The incident's reminders in force and their controls (off, snoozed), as stored."""
    in_force, control = uow.reminders.in_force_and_control(incident.workspace, incident.number)
    return IncidentReminders(incident=incident, reminders=in_force, control=control)


def empty_required(templates: TemplateRegistry, incident: Incident) -> list[TemplateSection]:
    """The required sections of the incident's template that nobody has written."""
    template = templates.get(incident.template)
    if template is None:
        return []
    return [
        section
        for section in template.sections
        if section.required
        and not section.generated
        and not (incident.section_text(section.id) or "").strip()
    ]


def add_new(uow: UnitOfWork, schedule: IncidentReminders) -> None:
    """Stores the reminders the rules armed."""
    for reminder in schedule.new:
        uow.reminders.add(reminder)
    schedule.reminders.extend(schedule.new)
    schedule.new.clear()


class ReminderDelivery:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        rules: ReminderRules,
        templates: TemplateRegistry,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._rules = rules
        self._templates = templates

    def deliver_due(
        self, outlets: Mapping[str, ReminderOutlet], *, claimant: str, limit: int = 10_000
    ) -> DeliveryReport:
        """Delivers every reminder due by the clock's time on these platforms.

        Exactly once, by three steps per reminder:
        1. claim: one transaction marks the row `claimed` (PostgreSQL: the row is taken
           with FOR UPDATE SKIP LOCKED, so two sweeping processes never take the same
           one) and builds its message; it commits before anything is posted;
        2. deliver: the outlet posts the message, outside any transaction;
        3. record: a second transaction marks it `sent` and arms the next occurrence,
           or, when the outlet raised (nothing was posted), puts it back to `pending`
           with a later due time (backoff), so it is retried and not lost.
        A process that dies between 1 and 3 leaves the row `claimed`; after the claim
        lease a later sweep marks it `unknown` and never posts it again. That reminder
        may have been posted or not: losing it in that narrow window is the price of
        never posting one twice.
        """
        report = DeliveryReport()
        platforms = list(outlets)
        if not platforms:
            return report
        self._give_up_stale_claims(report)
        conflicts = 0
        while report.delivered + report.failed + report.cancelled < limit:
            try:
                claimed = self._claim_one(platforms, claimant, outlets, report)
            except ConcurrentChange:
                # Another process changed the same incident first; nothing was claimed.
                conflicts += 1
                if conflicts == _ATTEMPTS:
                    raise
                continue
            conflicts = 0
            if claimed is None:
                break
            reminder_id, platform, message = claimed
            if message is None:
                continue
            try:
                outlets[platform].deliver([message])
            except Exception as problem:  # whatever the platform raised: retry later
                _log.warning(
                    "reminder %s not delivered (%s); retrying later", reminder_id, problem
                )
                self._delivery_failed(reminder_id, problem)
                report.failed += 1
                report.outcomes.append((platform, False))
                continue
            self._delivered(reminder_id)
            report.delivered += 1
            report.delivered_ids.append(reminder_id)
            report.outcomes.append((platform, True))
        with self._uow() as uow:
            report.next_due = uow.reminders.next_due(platforms)
        return report

    def _claim_one(
        self,
        platforms: list[str],
        claimant: str,
        outlets: Mapping[str, ReminderOutlet],
        report: DeliveryReport,
    ) -> tuple[int, str, Message | None] | None:
        now = self._clock.now()
        with self._uow() as uow:
            claimed = uow.reminders.claim_due(
                now=now, platforms=platforms, limit=1, claimant=claimant
            )
            if not claimed:
                return None
            reminder = claimed[0]
            assert reminder.id is not None
            # Roles and sections say what to remind of; the timeline is not needed.
            incident = uow.incidents.get(
                reminder.workspace, reminder.incident_number, timeline=False
            )
            message: Message | None = None
            if incident is not None:
                schedule = schedule_of(uow, incident)
                empty = empty_required(self._templates, incident)
                if message_due(schedule, reminder, [section.id for section in empty]):
                    outlet = outlets[reminder.platform]
                    message = Message(
                        channel=incident.channel_id,
                        text=self._reminder_text(reminder, incident, empty, outlet),
                    )
            if message is None:
                # It no longer applies (filled meanwhile, reminders off …): nothing to say.
                reminder.cancel(now)
                report.cancelled += 1
            uow.commit()
            return reminder.id, reminder.platform, message

    def _delivered(self, reminder_id: int) -> None:
        now = self._clock.now()
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._uow() as uow:
                    reminder = uow.reminders.get(reminder_id)
                    if reminder is None:
                        return  # its incident was deleted meanwhile
                    reminder.state = ReminderState.SENT
                    reminder.finished_at = now
                    self._arm_next(uow, reminder, now)
                    uow.commit()
                    return
            except ConcurrentChange:
                if attempt == _ATTEMPTS:
                    raise

    def _arm_next(self, uow: UnitOfWork, reminder: Reminder, now: datetime) -> None:
        incident = uow.incidents.get(reminder.workspace, reminder.incident_number, timeline=False)
        if incident is None:
            return
        schedule = schedule_of(uow, incident)
        after_delivery(
            schedule,
            reminder,
            rules=self._rules,
            now=now,
            empty_sections=[section.id for section in empty_required(self._templates, incident)],
        )
        add_new(uow, schedule)

    def _delivery_failed(self, reminder_id: int, problem: Exception) -> None:
        now = self._clock.now()
        with self._uow() as uow:
            reminder = uow.reminders.get(reminder_id)
            if reminder is None:
                return
            reminder.attempts += 1
            reminder.last_error = f"{type(problem).__name__}: {problem}"[:500]
            superseded = any(
                other.kind is reminder.kind and other.is_pending
                for other in uow.reminders.for_incident(
                    reminder.workspace, reminder.incident_number
                )
            )
            if superseded:
                # The incident changed while this one was out and armed its successor;
                # that one goes out instead (one pending reminder per kind).
                reminder.cancel(now)
                uow.commit()
                return
            reminder.state = ReminderState.PENDING
            reminder.due_at = now + self._rules.retry_delay(reminder.attempts)
            reminder.claimed_at = None
            reminder.claimed_by = None
            uow.commit()

    def _give_up_stale_claims(self, report: DeliveryReport) -> None:
        """Claims older than the lease belong to a process that died while delivering:
        the reminder may have been posted, so it is never tried again (`unknown`), and
        the next occurrence is armed as if it had been sent."""
        now = self._clock.now()
        with self._uow() as uow:
            stale = uow.reminders.stale_claims(
                claimed_before=now - self._rules.claim_lease, limit=100
            )
            for reminder in stale:
                _log.warning(
                    "reminder %s was claimed by %s at %s and never recorded as sent; "
                    "not sending it again",
                    reminder.id,
                    reminder.claimed_by,
                    reminder.claimed_at,
                )
                reminder.state = ReminderState.UNKNOWN
                reminder.finished_at = now
                self._arm_next(uow, reminder, now)
                report.unknown += 1
            if stale:
                uow.commit()

    def _reminder_text(
        self,
        reminder: Reminder,
        incident: Incident,
        empty: list[TemplateSection],
        outlet: ReminderOutlet,
    ) -> str:
        prefix = outlet.command_prefix
        rules = self._rules
        to = recipient(incident, reminder.kind)
        hello = f"{outlet.mention(to)}: " if to else ""
        quiet = (
            f"`{prefix} remind snooze 2h` quiets these reminders; `{prefix} remind off` "
            "stops them."
        )
        if reminder.kind is ReminderKind.NO_COMMANDER:
            return (
                f"Incident {incident.number} has no commander "
                f"{format_duration(rules.no_commander_after)} after it was declared. "
                f"Take the role with `{prefix} role commander me`, or give it with "
                f"`{prefix} role commander @user`."
            )
        if reminder.kind is ReminderKind.STATUS_UPDATE:
            return (
                f"{hello}no status update in incident {incident.number} for "
                f"{format_duration(rules.status_every)}. Post one with "
                f"`{prefix} status investigating|identified|monitoring|resolved` or "
                f"`{prefix} note TEXT`. {quiet}"
            )
        count = f"{len(empty)} required sections" if len(empty) > 1 else "a required section"
        lines = [
            f"{hello}the postmortem of incident {incident.number} ({incident.title}) still "
            f"has {count} to write:"
        ]
        lines += [f"• {section.heading}: `{prefix} set {section.id} TEXT`" for section in empty]
        lines.append(
            f"Reminder {reminder.occurrence} of {rules.sections_max}. "
            f"`{prefix} remind off` stops them."
        )
        return "\n".join(lines)
