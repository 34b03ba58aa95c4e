"""The service layer for alerts: one notification in, incidents changed through a unit
of work, replies out (the rules are in `bot.alerts`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot import alerts as rules
from bot import limits
from bot.alerts import Alert, AlertChanges, AlertGroup, AlertNotification, AlertRules
from bot.domain import Incident, IncidentError, MilestoneKind
from bot.ports import ChatPlatform, Clock, ConcurrentChange, UnitOfWorkFactory
from bot.replies import Message, Reply
from bot.service import IncidentBot, awaits_its_channel

log = logging.getLogger(__name__)

# Processed-event namespace of notifications: a replay of one is applied once.
EVENTS = "alerts"
_ATTEMPTS = 5


@dataclass(frozen=True)
class Outcome:
    """What one notification did, for the receiver's log and the tests."""

    replies: list[Reply]
    incident: tuple[str, int] | None = None  # (workspace, number)
    declared: bool = False
    ignored: bool = False  # no route takes any of its alerts
    repeat: bool = False  # applied before


class AlertIntake:
    def __init__(
        self,
        *,
        bot: IncidentBot,
        uow: UnitOfWorkFactory,
        clock: Clock,
        rules: AlertRules,
    ) -> None:
        self._bot = bot
        self._uow = uow
        self._clock = clock
        self._rules = rules

    @property
    def rules(self) -> AlertRules:
        return self._rules

    def platform_for(self, notification: AlertNotification) -> str | None:
        """The platform whose incident the notification concerns; None: ignored."""
        routed = self._rules.route_for(notification)
        return routed[0].platform if routed else None

    def receive(
        self, notification: AlertNotification, key: str, platforms: Mapping[str, ChatPlatform]
    ) -> Outcome:
        """Applies a notification once (`key` names it: a replay has the same key)."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return self._receive_once(notification, key, platforms)
            except ConcurrentChange:
                if attempt == _ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _receive_once(
        self, notification: AlertNotification, key: str, platforms: Mapping[str, ChatPlatform]
    ) -> Outcome:
        now = self._clock.now()
        routed = self._rules.route_for(notification)
        after_commit: list[Callable[[], list[Reply]]] = []
        with self._uow() as uow:
            if not uow.events.record(EVENTS, key, now):
                return Outcome([], repeat=True)
            if routed is None:
                uow.commit()
                return Outcome([], ignored=True)
            route, matched = routed
            platform = platforms.get(route.platform)
            if platform is None:
                log.error(
                    "alert route %r names %s, which is not running; the notification is "
                    "dropped", route.name, route.platform,
                )
                uow.commit()
                return Outcome([], ignored=True)
            replies: list[Reply] = []
            group = uow.alert_groups.get(route.workspace, notification.group_key)
            incident = (
                uow.incidents.get_for_change(route.workspace, group.incident_number)
                if group is not None
                else None
            )
            declared = False
            if incident is None or incident.is_closed:
                if not any(alert.firing for alert in matched):
                    # Resolved alerts of a group nobody has an open incident for.
                    uow.commit()
                    return Outcome([], ignored=True)
                previous = incident

                def remember_group(declared: Incident) -> None:
                    # Stored with the incident, before its channel opens, so that a
                    # redelivery after a crash finds the group's incident.
                    nonlocal group
                    if group is None:
                        group = AlertGroup(
                            workspace=route.workspace,
                            group_key=notification.group_key,
                            incident_number=declared.number,
                            source=notification.source,
                        )
                    else:
                        group.incident_number = declared.number
                        group.summary_at = None
                        group.pending_fired = group.pending_resolved = 0
                        group.pending_names = ()
                    uow.alert_groups.save(group)

                # The notification counts as applied only once all of it is stored: the
                # declaration commits once before its channel opens.
                uow.events.forget(EVENTS, key)
                incident, said, after_commit = self._bot.declare_from_alerts(
                    uow,
                    platform,
                    workspace=route.workspace,
                    announce=route.announce,
                    title=route.title_for(matched, notification.group_labels),
                    severity=route.severity_for(matched),
                    source=notification.source,
                    now=now,
                    on_stored=remember_group,
                )
                if not uow.events.record(EVENTS, key, now):
                    return Outcome([], repeat=True)  # another worker applied it meanwhile
                replies += said
                declared = True
                if previous is not None:
                    self._follows(incident, previous, now)
                    replies.append(
                        Message(
                            channel=incident.channel_id,
                            text=f"This alert group's incident {previous.number} is closed, "
                            f"so it fired into this new one; incident {previous.number} "
                            f"was #{previous.channel_name}.",
                        )
                    )
            elif awaits_its_channel(incident):
                # Declared by a process that died before recording the channel: open it
                # now. As for a declaration, the notification counts as applied only once
                # the channel is recorded.
                uow.events.forget(EVENTS, key)
                said, after_commit = self._bot.open_alerts_channel(
                    uow, platform, incident, announce=route.announce,
                    source=notification.source, now=now,
                )
                if not uow.events.record(EVENTS, key, now):
                    return Outcome([], repeat=True)  # another worker applied it meanwhile
                replies += said
            assert group is not None
            room = (
                limits.TIMELINE_ENTRIES
                + limits.AUTOMATIC_HEADROOM
                - uow.incidents.entry_count(incident)
            )
            changes, left_out = self._apply(incident, matched, notification.source, now, room)
            if left_out:
                log.warning(
                    "incident %s/%s: its timeline is full; %d alert entries left out",
                    incident.workspace, incident.number, left_out,
                )  # fmt: skip
            if changes:
                self._impact_started(incident, changes, now)
                self._bot.alert_changes_applied(uow, incident, now)
            firing_now = sum(1 for alert in matched if alert.firing)
            group.note(changes, firing_now)
            if group.pending and rules.summary_due(group.summary_at, now):
                replies.append(Message(channel=incident.channel_id, text=group.summary(now)))
            if changes.resolved and firing_now == 0:
                replies.append(
                    Message(
                        channel=incident.channel_id,
                        text=rules.all_resolved_text(incident.number, platform.command_prefix),
                    )
                )
            uow.alert_groups.save(group)
            uow.commit()
            number = incident.number
        for action in after_commit:
            replies += action()
        return Outcome(replies, incident=(route.workspace, number), declared=declared)

    @staticmethod
    def _follows(incident: Incident, previous: Incident, now: datetime) -> None:
        """The new incident links the closed one its alert group had."""
        incident.add_note(
            f"Follows incident {previous.number} (#{previous.channel_name}, closed): "
            "the same alert group fired again.",
            author=rules.ALERT_AUTHOR,
            at=now,
            now=now,
            source_ref=None,
        )

    @staticmethod
    def _apply(
        incident: Incident, alerts: list[Alert], source: str, now: datetime, room: int
    ) -> tuple[AlertChanges, int]:
        """One entry per firing (fingerprint and start) at its start, one per
        resolution at its end; what is there already is left alone. At most `room`
        entries are added (the timeline's limit); returns how many were left out."""
        fired: list[Alert] = []
        resolved: list[Alert] = []
        left_out = 0
        wanted = [alert.firing_ref for alert in alerts]
        wanted += [alert.resolved_ref for alert in alerts if not alert.firing]
        present = incident.entries_with_refs(wanted)
        for alert in sorted(alerts, key=lambda alert: (alert.starts_at, alert.fingerprint)):
            new = [ref for ref in (alert.firing_ref, alert.resolved_ref) if ref not in present]
            if alert.firing:
                new = [ref for ref in new if ref == alert.firing_ref]
            if not new:
                continue  # a repeat
            if len(fired) + len(resolved) >= room:
                left_out += len(new)
                continue
            if alert.firing_ref in new:
                incident.add_sourced(
                    rules.firing_text(alert, source),
                    author=rules.ALERT_AUTHOR,
                    occurred_at=alert.starts_at,
                    now=now,
                    source_ref=alert.firing_ref,
                    known_new=True,
                )
                fired.append(alert)
            if alert.resolved_ref in new:
                incident.add_sourced(
                    rules.resolved_text(alert, source),
                    author=rules.ALERT_AUTHOR,
                    occurred_at=alert.ends_at or now,
                    now=now,
                    source_ref=alert.resolved_ref,
                    known_new=True,
                )
                resolved.append(alert)
            present.update(new)  # the same alert twice in one payload: one entry
        return AlertChanges(tuple(fired), tuple(resolved)), left_out

    @staticmethod
    def _impact_started(incident: Incident, changes: AlertChanges, now: datetime) -> None:
        """Impact started when the earliest alert did, unless someone set it earlier."""
        if not changes.fired:
            return
        earliest = min(alert.starts_at for alert in changes.fired)
        current = incident.milestone(MilestoneKind.STARTED)
        if current is not None and current <= earliest:
            return
        # One that would contradict a milestone people set is left out: theirs stands.
        with contextlib.suppress(IncidentError):
            incident.set_milestone(
                MilestoneKind.STARTED, earliest, by=rules.ALERT_AUTHOR, now=now
            )

    def summaries_due(self, platforms: Mapping[str, ChatPlatform]) -> list[tuple[str, Reply]]:
        """The summaries held back by the once-a-minute rule that are due now: a storm's
        later alerts are told once the minute has passed, even without a new
        notification."""
        now = self._clock.now()
        replies: list[tuple[str, Reply]] = []
        with self._uow() as uow:
            for group in uow.alert_groups.pending_since(now - rules.SUMMARY_EVERY, limit=100):
                incident = uow.incidents.get_for_change(group.workspace, group.incident_number)
                if incident is not None and incident.platform not in platforms:
                    continue  # another process serves that platform
                if incident is None or incident.is_closed:
                    group.summary(now)  # nobody to tell any more: nothing stays pending
                    uow.alert_groups.save(group)
                    continue
                summary = Message(channel=incident.channel_id, text=group.summary(now))
                replies.append((incident.platform, summary))
                uow.alert_groups.save(group)
            uow.commit()
        return replies
