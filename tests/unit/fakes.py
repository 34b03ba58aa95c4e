"""In-memory stand-ins for the core's ports: storage and a chat platform."""

from __future__ import annotations

import copy
from collections.abc import Collection, Hashable, Mapping, Sequence
from datetime import datetime

from bot.commands import default_mention
from bot.domain import Incident
from bot.ports import (
    ChannelRef,
    ConcurrentChange,
    IncidentRepository,
    PeopleRepository,
    ProcessedEvents,
    ReminderRepository,
    UnitOfWork,
)
from bot.reminders import Reminder, ReminderControl, ReminderState
from bot.summary import IncidentSummary


class FakeStore:
    """What a database would hold; each unit of work sees a copy until it commits."""

    def __init__(self) -> None:
        self.incidents: list[Incident] = []
        self.events: set[tuple[str, str]] = set()
        self.answers: dict[tuple[str, str], str] = {}
        self.reminders: list[Reminder] = []
        self.controls: list[ReminderControl] = []
        self.next_reminder_id = 1
        self.commits = 0
        self.people: dict[tuple[str, str, str], str] = {}
        self.name_writes = 0  # rows written by `people.remember`, as a database counts them


class FakeRepository(IncidentRepository):
    def __init__(self, incidents: list[Incident]) -> None:
        self.incidents = incidents

    def add(self, incident: Incident) -> None:
        self.incidents.append(incident)

    def remove(self, incident: Incident) -> None:
        self.incidents.remove(incident)

    def get(self, workspace: str, number: int, *, timeline: bool = True) -> Incident | None:
        return next(
            (i for i in self.incidents if i.workspace == workspace and i.number == number), None
        )

    def numbered(self, number: int, workspace: str | None = None) -> Sequence[Incident]:
        return [i for i in self.list(workspace) if i.number == number]

    def get_by_channel(self, platform: str, channel_id: str) -> Incident | None:
        return next(
            (i for i in self.incidents if i.platform == platform and i.channel_id == channel_id),
            None,
        )

    def entry_count(self, incident: Incident) -> int:
        return len(incident.timeline)

    def next_number(self, workspace: str) -> int:
        return max((i.number for i in self.incidents if i.workspace == workspace), default=0) + 1

    def list(self, workspace: str | None = None) -> Sequence[Incident]:
        return sorted(
            (i for i in self.incidents if workspace is None or i.workspace == workspace),
            key=lambda i: (i.workspace, i.number),
        )


    def summaries(self, workspace: str | None = None) -> Sequence[IncidentSummary]:
        return [IncidentSummary.of(incident) for incident in self.list(workspace)]

    def change_marker(self, workspace: str, number: int) -> Hashable | None:
        incident = self.get(workspace, number)
        return None if incident is None else repr(incident)  # every field, as a value


class FakeEvents(ProcessedEvents):
    def __init__(
        self, seen: set[tuple[str, str]], answers: dict[tuple[str, str], str] | None = None
    ) -> None:
        self.seen = seen
        self.answers = answers if answers is not None else {}

    def keep_answer(self, platform: str, event_id: str, answer: str | None) -> None:
        if answer is None:
            self.answers.pop((platform, event_id), None)
        elif (platform, event_id) in self.seen:
            self.answers[(platform, event_id)] = answer

    def kept_answer(self, platform: str, event_id: str) -> str | None:
        return self.answers.get((platform, event_id))

    def record(self, platform: str, event_id: str, at: datetime) -> bool:
        if (platform, event_id) in self.seen:
            return False
        self.seen.add((platform, event_id))
        return True

    def forget(self, platform: str, event_id: str) -> None:
        self.seen.discard((platform, event_id))
        self.answers.pop((platform, event_id), None)

    def prune(self, *, before: datetime, limit: int) -> int:
        return 0  # the fake keeps no times; pruning is tested on the databases


class FakePeople(PeopleRepository):
    def __init__(self, people: dict[tuple[str, str, str], str]) -> None:
        self.people = people
        self.writes = 0

    def remember(
        self, platform: str, workspace: str, names: Mapping[str, str], at: datetime
    ) -> int:
        written = 0
        for user, name in names.items():
            if self.people.get((platform, workspace, user)) != name:
                self.people[(platform, workspace, user)] = name
                written += 1
        self.writes += written
        return written

    def rename(
        self, platform: str, workspace: str, names: Mapping[str, str], at: datetime
    ) -> int:
        known = {
            user: name for user, name in names.items() if (platform, workspace, user) in self.people
        }
        return self.remember(platform, workspace, known, at)

    def names(self, platform: str, workspace: str, users: Collection[str]) -> dict[str, str]:
        return {
            user: self.people[(platform, workspace, user)]
            for user in users
            if (platform, workspace, user) in self.people
        }


class FakeReminders(ReminderRepository):
    """Reminders in a list; ids are handed out at commit, as a database would at flush."""

    def __init__(self, reminders: list[Reminder], controls: list[ReminderControl]) -> None:
        self.reminders = reminders
        self.controls = controls

    def add(self, reminder: Reminder) -> None:
        self.reminders.append(reminder)

    def for_incident(self, workspace: str, number: int) -> list[Reminder]:
        return [
            r for r in self.reminders
            if r.workspace == workspace and r.incident_number == number
        ]

    def control(self, workspace: str, number: int) -> ReminderControl:
        for control in self.controls:
            if control.workspace == workspace and control.incident_number == number:
                return control
        control = ReminderControl(workspace=workspace, incident_number=number)
        self.controls.append(control)
        return control

    def get(self, reminder_id: int) -> Reminder | None:
        return next((r for r in self.reminders if r.id == reminder_id), None)

    def next_due(self, platforms: Collection[str]) -> datetime | None:
        return min(
            (r.due_at for r in self.reminders
             if r.state is ReminderState.PENDING and r.platform in platforms),
            default=None,
        )

    def claim_due(
        self, *, now: datetime, platforms: Collection[str], limit: int, claimant: str
    ) -> list[Reminder]:
        due = sorted(
            (
                r for r in self.reminders
                if r.state is ReminderState.PENDING and r.due_at <= now
                and r.platform in platforms
            ),
            key=lambda r: (r.due_at, r.id or 0),
        )[:limit]
        for reminder in due:
            reminder.state = ReminderState.CLAIMED
            reminder.claimed_at = now
            reminder.claimed_by = claimant
        return due

    def stale_claims(self, *, claimed_before: datetime, limit: int) -> list[Reminder]:
        return [
            r for r in self.reminders
            if r.state is ReminderState.CLAIMED and r.claimed_at is not None
            and r.claimed_at < claimed_before
        ][:limit]


class FakeUnitOfWork(UnitOfWork):
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.rollback()

    def commit(self) -> None:
        pending = [
            (r.workspace, r.incident_number, r.kind)
            for r in self.reminders.reminders
            if r.state is ReminderState.PENDING
        ]
        if len(pending) != len(set(pending)):  # the database's partial unique index
            self.rollback()
            raise ConcurrentChange("two pending reminders of one kind")
        for reminder in self.reminders.reminders:
            if reminder.id is None:
                reminder.id = self.store.next_reminder_id
                self.store.next_reminder_id += 1
        self.store.incidents = copy.deepcopy(self.incidents.incidents)
        self.store.events = set(self.events.seen)
        self.store.answers = dict(self.events.answers)
        self.store.reminders = copy.deepcopy(self.reminders.reminders)
        self.store.controls = copy.deepcopy(self.reminders.controls)
        self.store.people = dict(self.people.people)
        self.store.name_writes += self.people.writes
        self.people.writes = 0
        self.store.commits += 1

    def rollback(self) -> None:
        self.incidents = FakeRepository(copy.deepcopy(self.store.incidents))
        self.events = FakeEvents(set(self.store.events), dict(self.store.answers))
        self.reminders = FakeReminders(
            copy.deepcopy(self.store.reminders), copy.deepcopy(self.store.controls)
        )
        self.people = FakePeople(dict(self.store.people))


class FakePlatform:
    """A chat platform that records the channels it was asked to open."""

    name = "fake"
    command_prefix = "/incident"

    def __init__(self) -> None:
        self.opened: list[tuple[str, str, list[str]]] = []

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
        self.opened.append((name, topic, list(invite)))
        return ChannelRef(id=f"C-{name}", name=name)

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        for index, (name, topic, invited) in enumerate(self.opened):
            if f"C-{name}" == channel.id:
                self.opened[index] = (name, topic, [*invited, *users])

    def display_name(self, user: str) -> str:
        return user.capitalize()

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return default_mention(token)

    def channel_link(self, *, workspace: str, channel_id: str) -> None:
        return None  # no permalinks here
