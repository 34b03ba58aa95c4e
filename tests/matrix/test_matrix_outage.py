"""The bot's PostgreSQL away while people write in an incident room on a real Synapse:
the sync pauses without moving its token, and once the database is back every event
of the pause is handled once. A private server the test starts, never the shared one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from matrix_people import BotProcess, Human, RunBot, bot_joined, notice_from
from private_postgres import PrivatePostgres
from synapse_server import Account, Synapse

OUTAGE = 15.0


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def test_the_sync_waits_for_the_database_and_loses_nothing(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    run_bot: RunBot,
    private_postgres: PrivatePostgres,
    tmp_path: Path,
) -> None:
    account, bot = run_bot(INCIDENT_BOT_DATABASE_URL=private_postgres.url)
    try:
        asyncio.run(_outage(synapse, new_account("alice"), tmp_path, account.user_id, bot,
                            private_postgres))
    finally:
        assert bot.stop() == 0, bot.output()
    assert "sync paused" in bot.output()


async def _outage(
    synapse: Synapse,
    account: Account,
    tmp_path: Path,
    bot: str,
    process: BotProcess,
    database: PrivatePostgres,
) -> None:
    async with Human(synapse, account, tmp_path / "alice") as alice:
        general = await alice.create_room(invite=[bot], encrypted=False)
        await alice.wait_for(general, bot_joined(bot), "the bot to join")
        await alice.send(general, "!incident start Database away")
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        await alice.join(room)
        await alice.wait_for(room, notice_from(bot, "Incident 1: Database away"), "summary")

        database.stop()
        mark = len(alice.seen)
        message = await alice.send(room, "Written while the database was away")
        await alice.react(room, message)
        await alice.send(room, "!incident note noted while the database was away")
        await alice.wait_until(
            lambda: "sync paused" in process.output(), "the bot to notice", timeout=30
        )
        await asyncio.sleep(OUTAGE)
        assert process.running(), process.output()
        said = [s for s in alice.seen[mark:] if s.sender == bot]
        assert not said, "the bot answered while it could record nothing"
        database.start()

        await alice.wait_for(room, notice_from(bot, "Noted on the timeline"), "the note",
                             after=mark, timeout=60)
        await alice.wait_until(
            lambda: [s for s in alice.seen[mark:] if s.sender == bot and s.type == "m.reaction"],
            "✅ on the message tagged during the outage", timeout=60,
        )
        listing_mark = len(alice.seen)
        await alice.send(room, "!incident timeline")
        listing = await alice.wait_for(room, notice_from(bot, "Timeline of incident 1"),
                                       "the timeline", after=listing_mark)
        assert listing.body.count("Written while the database was away") == 1
        assert listing.body.count("noted while the database was away") == 1
        answers = [s for s in alice.seen[mark:] if s.sender == bot]
        assert sum("Noted on the timeline" in s.body for s in answers) == 1
        assert len([s for s in answers if s.type == "m.reaction"]) == 1
