"""Two bot processes (threads, each with its own engine and connection pool) writing into
one incident on PostgreSQL at the same time: nobody is told something went wrong, every
entry is stored once, and the entry numbers run 1..N without a gap or a repeat."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.commands import default_mention
from bot.domain import EntryKind
from bot.drafts.templates import builtin_registry
from bot.events import CommandReceived, InboundEvent, MessageTagged
from bot.ports import ChannelRef
from bot.replies import Message
from bot.service import CoreSettings, IncidentBot
from storage.database import upgrade_database
from storage.orm import timeline_entries
from storage.uow import unit_of_work_factory

pytestmark = pytest.mark.postgres

T0 = datetime(2025, 3, 4, 14, 2, tzinfo=UTC)
PER_WRITER = 40


class Chat:
    name = "fake"
    command_prefix = "/incident"

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
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


def burst(writer: str, channel: str) -> list[InboundEvent]:
    """Notes, 📌 on the writer's own messages, and 📌 on messages both writers pin."""
    events: list[InboundEvent] = []
    for number in range(PER_WRITER):
        at = T0 + timedelta(seconds=number)
        if number % 3 == 0:
            events.append(CommandReceived(
                workspace="w", channel=channel, user=writer, text=f"note {writer} {number}",
                posted_at=at, event_id=f"{writer}-{number}",
            ))
        elif number % 3 == 1:
            events.append(MessageTagged(
                workspace="w", channel=channel, user=writer, message_ref=f"{writer}/{number}",
                author=writer, text=f"pinned {writer} {number}", posted_at=at,
                event_id=f"{writer}-{number}",
            ))
        else:
            # Both writers pin the same message: it is one entry, tagged by both.
            events.append(MessageTagged(
                workspace="w", channel=channel, user=writer, message_ref=f"shared/{number}",
                author="erin", text=f"shared {number}", posted_at=at,
                event_id=f"{writer}-{number}",
            ))
    return events


def test_two_writers_on_one_incident_never_collide(postgres_url: str) -> None:
    upgrade_database(postgres_url)
    factories = [unit_of_work_factory(postgres_url) for _ in range(2)]
    bots = [
        IncidentBot(
            uow=factory, clock=ManualClock(T0), settings=CoreSettings(),
            templates=builtin_registry(),
        )
        for factory in factories
    ]
    try:
        [summary, *_] = [
            reply for reply in bots[0].handle(
                CommandReceived(
                    workspace="w", channel="general", user="alice", text="start Checkout down",
                    posted_at=T0,
                ),
                platform=Chat(),
            )
            if isinstance(reply, Message) and reply.channel != "general"
        ]
        channel = summary.channel
        start = threading.Barrier(2, timeout=10)
        failures: list[BaseException] = []
        errors: list[str] = []

        def write(bot: IncidentBot, writer: str) -> None:
            try:
                start.wait()
                for event in burst(writer, channel):
                    for reply in bot.handle(event, platform=Chat()):
                        if isinstance(reply, Message) and reply.is_error:
                            errors.append(reply.text)
            except BaseException as problem:  # reported below, with the thread's failure
                failures.append(problem)

        threads = [
            threading.Thread(target=write, args=(bot, writer))
            for bot, writer in zip(bots, ("bob", "carol"), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        assert not errors, errors

        incident = bots[0].find(1, "w")
        entries = incident.timeline
        seqs = [entry.seq for entry in entries]
        assert sorted(seqs) == list(range(1, len(entries) + 1))
        notes = {e.text for e in entries if e.kind is EntryKind.NOTE}
        assert notes == {
            f"{writer} {n}" for writer in ("bob", "carol") for n in range(0, PER_WRITER, 3)
        }
        tagged = {e.source_ref: e for e in entries if e.kind is EntryKind.TAGGED}
        own = {f"{w}/{n}" for w in ("bob", "carol") for n in range(1, PER_WRITER, 3)}
        shared = {f"shared/{n}" for n in range(2, PER_WRITER, 3)}
        assert set(tagged) == own | shared
        for ref in shared:
            assert sorted(tagged[ref].tagged_by) == ["bob", "carol"]
        with factories[0]() as uow:
            stored = uow.session.scalar(select(func.count()).select_from(timeline_entries))
        assert stored == len(entries)
    finally:
        for factory in factories:
            factory.dispose()
