"""What one chat event costs the database: a fixed handful of statements, whatever the
incident's size, and an incident read for use after its unit of work is whole."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import event, func, insert, select

from bot.clock import ManualClock
from bot.commands import default_mention
from bot.domain import EntryKind, MilestoneKind
from bot.drafts.templates import builtin_registry
from bot.events import CommandReceived, InboundEvent, MessageTagged
from bot.ports import ChannelRef
from bot.replies import Message
from bot.service import CoreSettings, IncidentBot
from storage.orm import incidents, timeline_entries
from storage.uow import SqlAlchemyUnitOfWorkFactory

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


class Chat:
    name = "test"
    command_prefix = "/incident"

    def open_incident_channel(
        self, *, name: str, topic: str, invite: Sequence[str]
    ) -> ChannelRef:
        return ChannelRef(id=f"C-{name}", name=name)

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        pass

    def channel_link(self, *, workspace: str, channel_id: str) -> None:
        return None

    def display_name(self, user: str) -> str:
        return user

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return default_mention(token)


class Room:
    def __init__(self, factory: SqlAlchemyUnitOfWorkFactory) -> None:
        self.factory = factory
        self.clock = ManualClock(T0)
        self.bot = IncidentBot(
            uow=factory, clock=self.clock, settings=CoreSettings(), templates=builtin_registry()
        )
        self.chat = Chat()
        self.ids = count(1)
        replies = self.say("start Checkout is down", channel="general")
        self.channel = next(
            r.channel for r in replies if isinstance(r, Message) and r.channel != "general"
        )

    def handle(self, event: InboundEvent) -> list[Any]:
        replies = self.bot.handle(event, platform=self.chat)
        errors = [r.text for r in replies if isinstance(r, Message) and r.is_error]
        assert not errors, errors
        return replies

    def say(self, text: str, *, channel: str | None = None) -> list[Any]:
        self.clock.advance_to(self.clock.now() + timedelta(seconds=1))
        return self.handle(
            CommandReceived(
                workspace="w", channel=channel or self.channel, user="alice", text=text,
                posted_at=self.clock.now(), event_id=f"e{next(self.ids)}",
            )
        )

    def pin(self, message: str) -> list[Any]:
        self.clock.advance_to(self.clock.now() + timedelta(seconds=1))
        return self.handle(
            MessageTagged(
                workspace="w", channel=self.channel, user="bob", message_ref=message,
                author="erin", text=f"text of {message}", posted_at=self.clock.now(),
                event_id=f"e{next(self.ids)}",
            )
        )

    def grow_timeline_to(self, entries: int) -> None:
        """Earlier entries, written directly (as many events would have left them)."""
        with self.factory.engine.begin() as connection:
            incident_id = connection.scalar(select(incidents.c.id))
            first = (
                connection.scalar(
                    select(func.max(timeline_entries.c.seq)).where(
                        timeline_entries.c.incident_id == incident_id
                    )
                )
                or 0
            ) + 1
            connection.execute(
                insert(timeline_entries),
                [
                    {
                        "incident_id": incident_id, "seq": seq, "occurred_at": T0,
                        "captured_at": T0, "kind": EntryKind.NOTE, "author": "bob",
                        "text": f"earlier note {seq}", "source_ref": f"earlier/{seq}",
                        "tagged_by": [],
                    }
                    for seq in range(first, entries + 1)
                ],
            )

    @contextmanager
    def statements(self) -> Iterator[list[str]]:
        seen: list[str] = []

        def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement.split()[0].upper())

        event.listen(self.factory.engine, "before_cursor_execute", _count)
        try:
            yield seen
        finally:
            event.remove(self.factory.engine, "before_cursor_execute", _count)


def costs(room: Room, turn: int) -> dict[str, int]:
    """Statements sent for a note, a new 📌 and a role handover."""
    spent = {}
    for what, act in (
        ("note", lambda: room.say(f"note checked shard {turn}")),
        ("pin", lambda: room.pin(f"m/{turn}")),
        ("role", lambda: room.say(f"role comms @{('carol', 'dave')[turn % 2]}")),
    ):
        with room.statements() as seen:
            act()
        spent[what] = len([s for s in seen if s != "BEGIN"])  # SQLite's BEGIN IMMEDIATE
    return spent


def test_an_event_costs_the_same_few_statements_on_a_long_timeline(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    room = Room(uow_factory)
    room.say("role comms @carol")  # each measured `role` is a handover
    small = costs(room, 1)
    room.grow_timeline_to(2_000)
    large = costs(room, 2)
    assert large == small
    # The event id, the incident (locked) with its roles, the next entry number, the
    # reminders in force with their control, the entry; the reminder the entry restarts
    # (cancel one, arm the next); a handover also relieves one holder and adds another;
    # a command's answer is kept with its event id.
    assert small == {"note": 9, "pin": 9, "role": 11}, small
    with uow_factory() as uow:
        incident = uow.incidents.get("w", 1)
        assert incident is not None
        # The three events after the 2,000 entries were numbered on, without gaps.
        assert incident.timeline_count() == len(incident.timeline) == 2_003
        assert [entry.seq for entry in incident.timeline[-3:]] == [2_001, 2_002, 2_003]


def test_an_incident_found_by_its_channel_is_whole_after_the_unit_of_work(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    room = Room(uow_factory)
    room.say("set summary The checkout database ran out of connections")
    room.say("action Alert on the connection count")
    room.say("milestone detected 08:00")
    room.say("status identified")
    incident = room.bot.incident_in_channel("test", room.channel)
    assert incident is not None
    # Read after its unit of work ended: none of these may need the database.
    assert incident.section_text("summary") == "The checkout database ran out of connections"
    assert [action.text for action in incident.actions] == ["Alert on the connection count"]
    assert incident.milestone(MilestoneKind.DETECTED) == T0
    assert incident.milestone(MilestoneKind.IDENTIFIED) is not None
