"""In-memory stand-ins for the core's ports: storage and a chat platform."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime

from bot.commands import default_mention
from bot.domain import Incident
from bot.ports import ChannelRef, IncidentRepository, ProcessedEvents, UnitOfWork


class FakeStore:
    """What a database would hold; each unit of work sees a copy until it commits."""

    def __init__(self) -> None:
        self.incidents: list[Incident] = []
        self.events: set[tuple[str, str]] = set()
        self.commits = 0


class FakeRepository(IncidentRepository):
    def __init__(self, incidents: list[Incident]) -> None:
        self.incidents = incidents

    def add(self, incident: Incident) -> None:
        self.incidents.append(incident)

    def get(self, workspace: str, number: int) -> Incident | None:
        return next(
            (i for i in self.incidents if i.workspace == workspace and i.number == number), None
        )

    def get_by_channel(self, platform: str, channel_id: str) -> Incident | None:
        return next(
            (i for i in self.incidents if i.platform == platform and i.channel_id == channel_id),
            None,
        )

    def next_number(self, workspace: str) -> int:
        return max((i.number for i in self.incidents if i.workspace == workspace), default=0) + 1

    def list(self, workspace: str | None = None) -> Sequence[Incident]:
        return sorted(
            (i for i in self.incidents if workspace is None or i.workspace == workspace),
            key=lambda i: (i.workspace, i.number),
        )


class FakeEvents(ProcessedEvents):
    def __init__(self, seen: set[tuple[str, str]]) -> None:
        self.seen = seen

    def record(self, platform: str, event_id: str, at: datetime) -> bool:
        if (platform, event_id) in self.seen:
            return False
        self.seen.add((platform, event_id))
        return True


class FakeUnitOfWork(UnitOfWork):
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.incidents = FakeRepository(copy.deepcopy(store.incidents))
        self.events = FakeEvents(set(store.events))

    def commit(self) -> None:
        self.store.incidents = copy.deepcopy(self.incidents.incidents)
        self.store.events = set(self.events.seen)
        self.store.commits += 1

    def rollback(self) -> None:
        self.incidents = FakeRepository(copy.deepcopy(self.store.incidents))
        self.events = FakeEvents(set(self.store.events))


class FakePlatform:
    """A chat platform that records the channels it was asked to open."""

    name = "fake"
    command_prefix = "/incident"

    def __init__(self) -> None:
        self.opened: list[tuple[str, str, list[str]]] = []

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
        self.opened.append((name, topic, list(invite)))
        return ChannelRef(id=f"C-{name}", name=name)

    def display_name(self, user: str) -> str:
        return user.capitalize()

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return default_mention(token)
