"""Downtime longer than one sync carries, on a real Synapse with its default limits
(at most 100 timeline events per room per sync): the bot fetches what the sync left
out and applies every event once, in order, at its own time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import nio
from matrix_people import BotProcess, Human, RunBot, confirmations, notice_from
from sqlalchemy import select
from synapse_server import Account, Synapse

from storage.database import make_engine
from storage.orm import incidents, timeline_entries

MESSAGES = 500
PINS = 20
OTHER_ROOM_CHAT = 150


def test_a_gap_of_hundreds_of_events_is_applied_once_in_order(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    run_bot: RunBot,
    tmp_path: Path,
) -> None:
    account, bot = run_bot()
    try:
        pinned = asyncio.run(
            _gap(synapse, new_account("alice"), new_account("bob"), tmp_path, account, bot)
        )
    finally:
        bot.stop()
    assert "fetched" in bot.output() and "left out" in bot.output()

    # Every 📌 is on the timeline exactly once, at the time its message was posted.
    database = bot_env["INCIDENT_BOT_DATABASE_URL"]
    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    incidents.c.number,
                    timeline_entries.c.kind,
                    timeline_entries.c.text,
                    timeline_entries.c.occurred_at,
                    timeline_entries.c.removed_at,
                ).join(incidents, incidents.c.id == timeline_entries.c.incident_id)
            ).all()
    finally:
        engine.dispose()
    assert {row.number for row in rows} == {1}, "no other incident was declared"
    tagged = [row for row in rows if row.kind == "tagged"]
    assert sorted(row.text for row in tagged) == sorted(pinned)
    for row in tagged:
        assert row.removed_at is None
        assert row.occurred_at == pinned[row.text], row.text
    notes = [row for row in rows if row.kind == "note"]
    assert [row.text for row in notes] == ["Failover finished while the bot was away"]
    assert not any("general" in row.text for row in rows)


async def _gap(
    synapse: Synapse,
    alice_account: Account,
    bob_account: Account,
    tmp_path: Path,
    bot_account: Account,
    process: BotProcess,
) -> dict[str, datetime]:
    bot = bot_account.user_id
    async with Human(synapse, alice_account, tmp_path / "alice") as alice:
        general, room = await alice.declare(bot, "Cache stampede")
        await alice.send(room, "!incident severity 2")
        await alice.wait_for(room, notice_from(bot, "Severity set to SEV2"), "the severity")

        process.kill()  # kill -9, by pid
        # While the bot is down: 500 messages in the incident room, 20 of them 📌'd as
        # they come, and one command in the middle; chat in the declaring room that
        # mentions commands without being one; a command in a room the bot is not in.
        pinned_ids: list[str] = []
        per_pin = MESSAGES // PINS
        for first in range(1, MESSAGES + 1, per_pin):
            # A burst at a time (Synapse orders them), then a 📌 on the burst's last one.
            sent = await asyncio.gather(
                *(alice.send(room, f"incident chatter {n}") for n in range(first, first + per_pin))
            )
            await alice.react(room, sent[-1])
            pinned_ids.append(sent[-1])
            if first <= MESSAGES // 2 < first + per_pin:
                await alice.send(room, "!incident note Failover finished while the bot was away")
        chat = await asyncio.gather(
            *(
                alice.send(general, f"general: did anyone type !incident status {n}?")
                for n in range(1, OTHER_ROOM_CHAT + 1)
            )
        )
        await alice.react(general, chat[10])
        async with Human(synapse, bob_account, tmp_path / "bob") as bob:
            elsewhere = await bob.create_room(invite=[], encrypted=False)
            await bob.send(elsewhere, "!incident start Not for the bot")

        mark = len(alice.seen)
        process.start()
        await alice.wait_for(
            room,
            notice_from(bot, "Noted on the timeline"),
            "the command sent while the bot was down",
            after=mark,
            timeout=120,
        )
        await alice.wait_until(
            lambda: len(confirmations(alice.seen[mark:], room, bot)) >= PINS,
            f"✅ on all {PINS} pinned messages",
            timeout=120,
        )
        # Let anything the bot would wrongly do arrive, then look at everything it said.
        mark_listing = len(alice.seen)
        await alice.send(room, "!incident timeline")
        await alice.wait_for(
            room, notice_from(bot, "Timeline of incident 1"), "the timeline", after=mark_listing
        )
        after_restart = alice.seen[mark:]
        assert sorted(confirmations(after_restart, room, bot)) == sorted(pinned_ids)
        said = [s for s in after_restart if s.sender == bot and s.type == "m.room.message"]
        assert [s.room_id for s in said] == [room, room], [s.body for s in said]
        assert not any(s.body.startswith("Severity set") for s in said), "an old command ran again"
        assert sum("Noted on the timeline" in s.body for s in said) == 1

        pinned: dict[str, datetime] = {}
        for event_id in pinned_ids:
            found = await alice.client.room_get_event(room, event_id)
            assert isinstance(found, nio.RoomGetEventResponse), found
            event = found.event
            if isinstance(event, nio.MegolmEvent):
                event = alice.client.decrypt_event(event)
            pinned[event.body] = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
        return pinned
