"""What the core needs from the outside world, as abstract interfaces.

`storage/` implements the unit of work and repositories; each adapter implements
`ChatPlatform`; tests implement all of them with in-memory fakes.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

from bot.alerts import AlertGroup
from bot.domain import Incident
from bot.reminders import Reminder, ReminderControl, ReminderState
from bot.replies import Reply
from bot.summary import IncidentSummary
from bot.timeline import ListTimelineEntries, TimelineEntries

__all__ = [
    "ChannelRef",
    "ChatPlatform",
    "Clock",
    "ConcurrentChange",
    "IncidentRepository",
    "ListTimelineEntries",
    "ProcessedEvents",
    "ReminderOutlet",
    "ReminderRepository",
    "TimelineEntries",
    "UnitOfWork",
    "UnitOfWorkFactory",
]


class ConcurrentChange(Exception):
    """Another process stored a conflicting change first (e.g. the same incident number).

    Nothing of this unit of work was kept; handling the event again from the start,
    with fresh data, is safe.
    """


class StorageUnavailable(Exception):
    """The database cannot be reached right now (down, restarting, network). Nothing was
    stored; the same work can be done again once it is back."""


class IncidentRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, incident: Incident) -> None: ...

    @abc.abstractmethod
    def remove(self, incident: Incident) -> None:
        """Deletes a stored incident with everything it holds (a `start` whose channel
        could not be opened)."""

    @abc.abstractmethod
    def get(self, workspace: str, number: int, *, timeline: bool = True) -> Incident | None:
        """The whole incident, its timeline loaded: readable after the unit of work.

        `timeline=False`: everything but the timeline, which is then read only if
        `incident.timeline` is used, inside the unit of work (reminders need the roles
        and sections, not thousands of entries)."""

    @abc.abstractmethod
    def numbered(self, number: int, workspace: str | None = None) -> Sequence[Incident]:
        """The incidents with this number (one per workspace; in every workspace when
        None), whole, their timelines loaded: readable after the unit of work. For
        reading (`export`, `show`): a change is made on an incident taken with
        `get_for_change` or `get_by_channel`."""

    @abc.abstractmethod
    def get_by_channel(self, platform: str, channel_id: str) -> Incident | None:
        """The incident whose channel this is, taken for a change.

        Its timeline entries are looked up one by one as the event needs them
        (`Incident.use_timeline_entries`); `incident.timeline` reads them all, and only
        inside the unit of work. Other writers to this incident wait until this unit of
        work ends (PostgreSQL: the incident's row is locked), so entry numbers and
        the one-entry-per-message rule never race.
        """

    def get_for_change(self, workspace: str, number: int) -> Incident | None:
        """Incident `number` of `workspace` taken for a change, like `get_by_channel`:
        its entries looked up one by one, other writers waiting."""
        return self.get(workspace, number)

    def find_by_channel(self, platform: str, channel_id: str) -> Incident | None:
        """The incident whose channel this is, read (not taken for a change): readable
        after the unit of work, all but its timeline."""
        return self.get_by_channel(platform, channel_id)

    @abc.abstractmethod
    def entry_count(self, incident: Incident) -> int:
        """How many timeline entries the incident has stored, removed ones included: a
        COUNT over an index, without loading them (the timeline limit, bot/limits.py)."""

    @abc.abstractmethod
    def next_number(self, workspace: str) -> int:
        """1 + the highest incident number in the workspace (1 for the first)."""

    @abc.abstractmethod
    def list(self, workspace: str | None = None) -> Sequence[Incident]:
        """Incidents by workspace then number, whole (timelines loaded); all workspaces
        when None. For lists and figures across incidents, `summaries` is the cheap read."""

    @abc.abstractmethod
    def summaries(self, workspace: str | None = None) -> Sequence[IncidentSummary]:
        """What lists and figures across incidents need of each (`IncidentSummary`), by
        workspace then number; all workspaces when None. Reads no timeline entry: a
        fixed handful of queries however many incidents and entries there are."""

    @abc.abstractmethod
    def change_marker(self, workspace: str, number: int) -> Hashable | None:
        """A value that changes whenever anything a reader sees of the incident changes
        (its fields, entries added, edited, removed or shown again, roles, sections,
        actions, milestones); None when there is no such incident. One query of counts
        and latest moments over indexed rows: no entry is loaded."""


class ProcessedEvents(abc.ABC):
    @abc.abstractmethod
    def record(self, platform: str, event_id: str, at: datetime) -> bool:
        """Records a platform event id; False when it was recorded before.

        Recorded in the unit of work's transaction, so an event counts as processed
        exactly when its effects are committed.
        """

    @abc.abstractmethod
    def keep_answer(self, platform: str, event_id: str, answer: str | None) -> None:
        """Keeps what the bot answered a recorded event, in this unit of work's
        transaction (committed with the event's effects); None forgets it (sent)."""

    @abc.abstractmethod
    def kept_answer(self, platform: str, event_id: str) -> str | None:
        """The answer kept for a recorded event, or None."""

    @abc.abstractmethod
    def forget(self, platform: str, event_id: str) -> None:
        """Un-records one event, so that a redelivery of it is handled again."""

    @abc.abstractmethod
    def prune(self, *, before: datetime, limit: int) -> int:
        """Forgets up to `limit` of the oldest events recorded before `before`; returns
        how many. A platform never re-delivers an event that old, so forgetting it
        cannot make it run twice."""


class ReminderRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, reminder: Reminder) -> None: ...

    @abc.abstractmethod
    def for_incident(self, workspace: str, number: int) -> list[Reminder]:
        """Every reminder of the incident, in every state, oldest first."""

    def in_force(self, workspace: str, number: int) -> list[Reminder]:
        """The incident's reminders the rules look at: every one but the cancelled
        (pending, claimed, sent, unknown), oldest first. Cancelled ones pile up as the
        status-update clock restarts with every entry; the rules never need them."""
        return [
            reminder
            for reminder in self.for_incident(workspace, number)
            if reminder.state is not ReminderState.CANCELLED
        ]

    @abc.abstractmethod
    def next_due(self, platforms: Collection[str]) -> datetime | None:
        """When the earliest pending reminder on these platforms is due; None if none is."""

    @abc.abstractmethod
    def control(self, workspace: str, number: int) -> ReminderControl:
        """The incident's `remind off/on/snooze` state; a new one is added when missing."""

    def in_force_and_control(
        self, workspace: str, number: int
    ) -> tuple[list[Reminder], ReminderControl]:
        """`in_force` and `control` at once (storage reads both in one query)."""
        return self.in_force(workspace, number), self.control(workspace, number)

    @abc.abstractmethod
    def get(self, reminder_id: int) -> Reminder | None: ...

    @abc.abstractmethod
    def claim_due(
        self, *, now: datetime, platforms: Collection[str], limit: int, claimant: str
    ) -> list[Reminder]:
        """Takes up to `limit` pending reminders due by `now` on these platforms, oldest
        first, and marks them claimed by `claimant` (the caller commits).

        Rows another transaction is claiming are skipped, not waited for
        (`FOR UPDATE SKIP LOCKED`), so several processes can sweep side by side.
        """

    @abc.abstractmethod
    def stale_claims(self, *, claimed_before: datetime, limit: int) -> list[Reminder]:
        """Claimed reminders whose claim is older than `claimed_before`, locked the same way."""


class PeopleRepository(abc.ABC):
    """Display names per platform and workspace, as adapters last saw them."""

    @abc.abstractmethod
    def remember(
        self, platform: str, workspace: str, names: Mapping[str, str], at: datetime
    ) -> int:
        """Stores each name that is new or changed (one upsert each, no read first);
        returns how many rows were written."""

    @abc.abstractmethod
    def rename(
        self, platform: str, workspace: str, names: Mapping[str, str], at: datetime
    ) -> int:
        """Changes the names of people already stored (by key); adds nobody. Returns
        how many rows were written."""

    @abc.abstractmethod
    def names(self, platform: str, workspace: str, users: Collection[str]) -> dict[str, str]:
        """The stored names of these people (by key, never a scan); unknown ones are left out."""


class AlertGroupRepository(abc.ABC):
    """Each alert group's incident (bot.alerts.AlertGroup)."""

    @abc.abstractmethod
    def get(self, workspace: str, group_key: str) -> AlertGroup | None:
        """The group, taken for a change (other writers to it wait)."""

    @abc.abstractmethod
    def save(self, group: AlertGroup) -> None:
        """Stores the group: added when new, else changed."""

    @abc.abstractmethod
    def pending_since(self, before: datetime, limit: int) -> list[AlertGroup]:
        """Groups with news for their channel whose last summary is older than
        `before` (or that never had one), taken for a change."""


@dataclass(frozen=True)
class InboxItem:
    """A platform request stored before it was acknowledged, not yet fully handled."""

    id: int
    platform: str
    key: str  # the platform's id for it: a redelivery has the same key
    payload: str  # the adapter's own record of the request (its JSON)
    received_at: datetime
    attempts: int  # how many times handling it has been started


class Inbox(abc.ABC):
    """Where an adapter puts what a platform sent before it says "got it".

    A platform that was told "got it" never sends the request again, so it is stored
    first (one insert, committed) and handled from here. Whatever a process stored and
    did not finish (it died, or the database went away mid-way) is taken up again by a
    later sweep, by that process after a restart or by another replica. Handling one
    twice is harmless: the core applies each event id once (`ProcessedEvents`).
    """

    @abc.abstractmethod
    def put(
        self, *, platform: str, key: str, payload: str, received_at: datetime, claimant: str
    ) -> InboxItem | None:
        """Stores the request, claimed by `claimant`, and commits; None when one with the
        same key is stored already (a redelivery). Raises when it cannot be stored."""

    async def put_async(
        self, *, platform: str, key: str, payload: str, received_at: datetime, claimant: str
    ) -> InboxItem | None:
        """`put` for a caller on an event loop. An inbox whose `put` can wait (for a lock,
        a server) overrides this so that the loop is not held meanwhile."""
        return self.put(
            platform=platform, key=key, payload=payload, received_at=received_at,
            claimant=claimant,
        )

    @abc.abstractmethod
    def claim_abandoned(
        self, *, platform: str, claimant: str, now: datetime, claimed_before: datetime, limit: int
    ) -> list[InboxItem]:
        """Takes over up to `limit` items whose claim is older than `claimed_before`
        (oldest first), counting an attempt on each, and commits. Items another process
        is claiming at this moment are skipped (`FOR UPDATE SKIP LOCKED`)."""

    @abc.abstractmethod
    def renew(self, item_ids: Collection[int], *, claimant: str, now: datetime) -> None:
        """Marks these items, still claimed by `claimant`, as claimed `now`: they are in
        hand (queued or being handled), not abandoned."""

    @abc.abstractmethod
    def done(self, item_id: int) -> None:
        """Removes a handled item."""


class LeaseLost(Exception):
    """This process no longer holds the lease: another replica took it over, or it ran
    out. Nothing was stored; the work it guarded belongs to the new holder now."""


class Leadership(abc.ABC):
    """Which of several replicas does a job that only one may do at a time (the Matrix
    sync), and where that job has got to (its sync token).

    A lease is held for a number of seconds, measured on the database's clock so that
    replicas on hosts whose clocks differ agree on when it ran out. The holder renews
    it well before then; when the holder dies, another process takes it once it has
    run out. The position is saved only while the lease is held, checked in the same
    transaction (fencing): a holder that was paused past its lease cannot write behind
    the one that took over.
    """

    @abc.abstractmethod
    def take(self, name: str, *, holder: str, seconds: float) -> bool:
        """Takes or renews the lease `name` for `holder`, for `seconds` from now, and
        commits; False when another holder's lease has not run out."""

    @abc.abstractmethod
    def give_up(self, name: str, *, holder: str) -> None:
        """Ends `holder`'s lease now (a clean stop), so another may take it at once."""

    @abc.abstractmethod
    def position(self, name: str) -> str | None:
        """The position last saved under `name`, or None."""

    @abc.abstractmethod
    def save_position(self, name: str, *, holder: str, position: str) -> None:
        """Stores the position if `holder` holds the lease `name` right now, in one
        transaction with that check; raises LeaseLost (storing nothing) otherwise."""


class UnitOfWork(abc.ABC):
    incidents: IncidentRepository
    events: ProcessedEvents
    reminders: ReminderRepository
    people: PeopleRepository
    alert_groups: AlertGroupRepository

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


@dataclass(frozen=True)
class ChannelLink:
    """Where a reader finds an incident's channel or room later: the platform's own link."""

    platform: str  # as readers name the platform: `Slack`, `Matrix`
    url: str


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
        """Creates the incident's channel (or room) and invites people into it.

        The core opens it with nobody to invite and calls `invite_to_channel` once the
        channel is recorded as the incident's, so that nobody can type a command in a
        channel the bot does not yet know as an incident's.
        """

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        """Invites people into an incident's channel; one who cannot be invited is
        reported by the platform's own means (log, a note), not raised."""

    def display_name(self, user: str) -> str:
        """A person's name as a postmortem shows it (never a raw platform id)."""

    def mention(self, user: str) -> str:
        """How a reply on this platform mentions the person."""

    def parse_mention(self, token: str) -> str | None:
        """The user id a command token mentions, or None if it mentions nobody."""

    def channel_link(self, *, workspace: str, channel_id: str) -> ChannelLink | None:
        """A permanent link to an incident's channel or room (a report's "Relevant …
        chat log"), or None where the platform has none (the console)."""


class ReminderOutlet(Protocol):
    """Where the reminders of one platform go out: its way of writing, and delivery."""

    @property
    def command_prefix(self) -> str:
        """How a user writes a command there, for the commands a reminder suggests."""

    def mention(self, user: str) -> str:
        """How a message there mentions the person."""

    def deliver(self, replies: Sequence[Reply]) -> None:
        """Posts replies that answer no event; raises when the platform cannot take them
        now (nothing was posted), so the reminder is tried again later."""
