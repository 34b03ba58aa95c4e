"""`start` stores the incident before it opens the channel, and invites people only once
the channel is recorded: on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from bot.clock import ManualClock
from bot.commands import default_mention
from bot.drafts.templates import builtin_registry
from bot.events import CommandReceived
from bot.ports import ChannelRef
from bot.replies import Message, Reply
from bot.service import CoreSettings, IncidentBot
from storage.uow import SqlAlchemyUnitOfWorkFactory

T0 = datetime(2025, 3, 4, 14, 2, tzinfo=UTC)


def start_event(event_id: str = "Ev1") -> CommandReceived:
    return CommandReceived(
        workspace="w", channel="general", user="maria",
        text="start Checkout down --invite @li", posted_at=T0, event_id=event_id,
    )


class Chat:
    name = "fake"
    command_prefix = "/incident"

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.invited: list[tuple[str, list[str]]] = []

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
        self.opened.append(name)
        return ChannelRef(id=f"C-{name}", name=name)

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        self.invited.append((channel.id, list(users)))

    def channel_link(self, *, workspace: str, channel_id: str) -> None:
        return None

    def display_name(self, user: str) -> str:
        return user

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return default_mention(token)


def bot_on(factory: SqlAlchemyUnitOfWorkFactory) -> IncidentBot:
    return IncidentBot(
        uow=factory, clock=ManualClock(T0), settings=CoreSettings(), templates=builtin_registry()
    )


def test_someone_typing_in_the_channel_at_once_finds_the_incident(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    bot = bot_on(uow_factory)
    answers: list[list[Reply]] = []

    class EagerInvitee(Chat):
        """Li types `roles` in the new channel the moment the invitation arrives, from
        another process (thread), and the invitation waits for the answer."""

        def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
            super().invite_to_channel(channel, users)

            def type_roles() -> None:
                answers.append(bot.handle(
                    CommandReceived(
                        workspace="w", channel=channel.id, user="li", text="roles",
                        posted_at=T0,
                    ),
                    platform=Chat(),
                ))

            typing = threading.Thread(target=type_roles)
            typing.start()
            typing.join(timeout=30)

    chat = EagerInvitee()
    bot.handle(start_event(), platform=chat)

    assert chat.invited == [("C-inc-1-checkout-down", ["maria", "li"])]
    [[answer]] = answers
    assert isinstance(answer, Message)
    assert not answer.is_error, answer.text
    assert "@maria" in answer.text and "no incident" not in answer.text


def test_a_channel_that_cannot_be_opened_leaves_nothing_behind(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    bot = bot_on(uow_factory)

    class Down(Chat):
        def open_incident_channel(
            self, *, name: str, topic: str, invite: Sequence[str]
        ) -> ChannelRef:
            raise ConnectionError("the platform is down")

    down = Down()
    with pytest.raises(ConnectionError):
        bot.handle(start_event(), platform=down)
    assert bot.list_incidents() == []
    assert down.invited == []

    # The platform re-delivers the same event; it is handled afresh, with number 1.
    chat = Chat()
    replies = bot.handle(start_event(), platform=chat)
    assert chat.opened == ["inc-1-checkout-down"]
    [incident] = bot.list_incidents()
    assert (incident.number, incident.channel_id) == (1, "C-inc-1-checkout-down")
    assert any(isinstance(r, Message) and r.channel == "C-inc-1-checkout-down" for r in replies)


def test_nobody_is_invited_while_the_channel_is_opened(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    chat = Chat()
    bot_on(uow_factory).handle(start_event(), platform=chat)
    assert chat.opened == ["inc-1-checkout-down"]
    assert chat.invited == [("C-inc-1-checkout-down", ["maria", "li"])]


class StallsOpening(Chat):
    """Says when the channel is being opened, then never answers: a process using it
    is killed there."""

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
        print("opening", name, flush=True)
        time.sleep(3600)
        raise AssertionError("killed before")


# Handles `start_event()` on the database at argv[1], and dies opening the channel.
DIES_OPENING_THE_CHANNEL = """
import sys
sys.path.insert(0, sys.argv[2])
from test_start_steps import StallsOpening, bot_on, start_event
from storage.uow import unit_of_work_factory

bot_on(unit_of_work_factory(sys.argv[1])).handle(start_event(), platform=StallsOpening())
"""


def killed_while_opening(script: str, database_url: str) -> str:
    """Runs `script` (Python, given the database URL and this directory) in a process of
    its own, and `kill -9`s it, by pid, once it is opening a channel; the channel's name."""
    dying = subprocess.Popen(
        [sys.executable, "-c", script, database_url, os.path.dirname(__file__)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert dying.stdout is not None
        said, name = dying.stdout.readline().split()
        assert said == "opening", said
        return name
    finally:
        os.kill(dying.pid, signal.SIGKILL)
        dying.wait(timeout=30)


def test_a_start_killed_before_its_channel_was_recorded_is_finished_by_its_redelivery(
    migrated_url: str, uow_factory: SqlAlchemyUnitOfWorkFactory
) -> None:
    assert killed_while_opening(DIES_OPENING_THE_CHANNEL, migrated_url) == "inc-1-checkout-down"
    bot = bot_on(uow_factory)
    [stored] = bot.list_incidents()
    assert stored.channel_id.startswith("(opening)")  # the crash left it without a channel

    # The platform (or the inbox, in another process) delivers the same `start` again:
    # the stored incident gets its channel, people are invited, and the bot says so.
    chat = Chat()
    replies = bot.handle(start_event(), platform=chat)
    assert chat.opened == ["inc-1-checkout-down"]
    assert chat.invited == [("C-inc-1-checkout-down", ["maria", "li"])]
    [incident] = bot.list_incidents()
    assert (incident.number, incident.channel_id) == (1, "C-inc-1-checkout-down")
    said = [r.text for r in replies if isinstance(r, Message)]
    assert any("Incident 1 declared by @maria: Checkout down" in text for text in said), said
    assert any(
        r.channel == "C-inc-1-checkout-down" for r in replies if isinstance(r, Message)
    ), replies
    # The channel works as the incident's.
    [roles] = bot.handle(
        CommandReceived(
            workspace="w", channel="C-inc-1-checkout-down", user="li", text="roles",
            posted_at=T0,
        ),
        platform=chat,
    )
    assert isinstance(roles, Message) and not roles.is_error, roles

    # Once finished, a further redelivery changes nothing, and the next `start` is 2.
    assert bot.handle(start_event(), platform=chat) == []
    assert chat.opened == ["inc-1-checkout-down"]
    bot.handle(start_event("Ev2"), platform=chat)
    assert [i.number for i in bot.list_incidents()] == [1, 2]
