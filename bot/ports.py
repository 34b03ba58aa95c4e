"""What the core needs from the outside world, as abstract interfaces.

`storage/` implements the unit of work and repositories; each adapter implements
`ChatPlatform`; tests implement all of them with in-memory fakes.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

from bot.domain import Incident


class ConcurrentChange(Exception):
    """Another process stored a conflicting change first (e.g. the same incident number).

    Nothing of this unit of work was kept; handling the event again from the start,
    with fresh data, is safe.
    """


class IncidentRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, incident: Incident) -> None: ...

    @abc.abstractmethod
    def get(self, workspace: str, number: int) -> Incident | None: ...

    @abc.abstractmethod
    def get_by_channel(self, platform: str, channel_id: str) -> Incident | None: ...

    @abc.abstractmethod
    def next_number(self, workspace: str) -> int:
        """1 + the highest incident number in the workspace (1 for the first)."""

    @abc.abstractmethod
    def list(self, workspace: str | None = None) -> Sequence[Incident]:
        """Incidents by workspace then number; all workspaces when None."""


class ProcessedEvents(abc.ABC):
    @abc.abstractmethod
    def record(self, platform: str, event_id: str, at: datetime) -> bool:
        """Records a platform event id; False when it was recorded before.

        Recorded in the unit of work's transaction, so an event counts as processed
        exactly when its effects are committed.
        """


class UnitOfWork(abc.ABC):
    incidents: IncidentRepository
    events: ProcessedEvents

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None:
        """Stores the work; raises ConcurrentChange when another process got there first."""

    @abc.abstractmethod
    def rollback(self) -> None:
        """Discards what was not committed; harmless after a commit."""


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""


@dataclass(frozen=True)
class ChannelRef:
    id: str
    name: str


class ChatPlatform(Protocol):
    """What the core asks of a chat platform while it handles an event."""

    @property
    def name(self) -> str:
        """`console`, `slack` or `matrix`: the namespace of channel and event ids."""

    @property
    def command_prefix(self) -> str:
        """How a user writes a command here: `/incident` or `!incident`."""

    def open_incident_channel(
        self, *, name: str, topic: str, invite: Sequence[str]
    ) -> ChannelRef:
        """Creates the incident's channel (or room) and invites people into it."""

    def display_name(self, user: str) -> str:
        """A person's name as a postmortem shows it (never a raw platform id)."""

    def mention(self, user: str) -> str:
        """How a reply on this platform mentions the person."""

    def parse_mention(self, token: str) -> str | None:
        """The user id a command token mentions, or None if it mentions nobody."""
