"""Two bot processes on one PostgreSQL database declaring incidents at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from bot.clock import ManualClock
from bot.commands import default_mention
from bot.drafts.templates import builtin_registry
from bot.events import CommandReceived
from bot.ports import ChannelRef
from bot.service import CoreSettings, IncidentBot
from storage.database import upgrade_database
from storage.uow import unit_of_work_factory

pytestmark = pytest.mark.postgres


class RendezvousPlatform:
    """Holds each thread's first channel opening until both threads are there."""

    name = "fake"
    command_prefix = "/incident"

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=10)
        self.waited: set[int] = set()
        self.opened: list[str] = []

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
        thread = threading.get_ident()
        if thread not in self.waited:
            self.waited.add(thread)
            self.barrier.wait()
        self.opened.append(name)
        return ChannelRef(id=f"C-{name}", name=name)

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        pass

    def display_name(self, user: str) -> str:
        return user

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return default_mention(token)

    def channel_link(self, *, workspace: str, channel_id: str) -> None:
        return None  # no permalinks here


def test_simultaneous_starts_get_different_numbers(postgres_url: str) -> None:
    upgrade_database(postgres_url)
    platform = RendezvousPlatform()
    moment = datetime(2025, 3, 4, 14, 2, tzinfo=UTC)
    bots = [
        IncidentBot(
            uow=unit_of_work_factory(postgres_url),
            clock=ManualClock(moment),
            settings=CoreSettings(),
            templates=builtin_registry(),
        )
        for _ in range(2)
    ]
    failures: list[BaseException] = []

    def declare(bot: IncidentBot, title: str) -> None:
        try:
            bot.handle(
                CommandReceived(
                    workspace="w", channel="general", user="maria", text=f"start {title}",
                    posted_at=moment,
                ),
                platform=platform,
            )
        except BaseException as problem:  # reported below, with the thread's failure
            failures.append(problem)

    threads = [
        threading.Thread(target=declare, args=(bot, title))
        for bot, title in zip(bots, ("Checkout down", "Search slow"), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    incidents = bots[0].list_incidents("w")
    assert sorted(i.number for i in incidents) == [1, 2]
    assert {i.title for i in incidents} == {"Checkout down", "Search slow"}
    # The incident is stored before its channel is opened: the loser of the race for
    # number 1 opened no channel for it, only one for number 2.
    assert sorted(platform.opened) == ["inc-1-checkout-down", "inc-2-search-slow"] or sorted(
        platform.opened
    ) == ["inc-1-search-slow", "inc-2-checkout-down"]
