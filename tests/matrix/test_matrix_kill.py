"""`kill -9` of the bot in the middle of handling a burst of Matrix events, on a real
Synapse: after the restart every 📌 is on the timeline once, the command ran once, and
nothing handled before the kill is handled again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from matrix_people import BotProcess, Human, RunBot, confirmations, notice_from
from sqlalchemy import select
from synapse_server import Account, Synapse

from storage.database import make_engine
from storage.orm import timeline_entries

PINS = 60


def test_a_kill_in_the_middle_of_a_burst_loses_nothing_and_doubles_nothing(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    run_bot: RunBot,
    tmp_path: Path,
) -> None:
    account, bot = run_bot()
    try:
        pinned, confirmed_before_kill = asyncio.run(
            _burst_and_kill(synapse, new_account("alice"), tmp_path, account.user_id, bot)
        )
    finally:
        bot.stop()
    print(f"{confirmed_before_kill} of {PINS} 📌 confirmed when the bot was killed")
    assert 0 < confirmed_before_kill < PINS, "the kill did not land in the middle of the burst"

    engine = make_engine(bot_env["INCIDENT_BOT_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(timeline_entries.c.kind, timeline_entries.c.text,
                       timeline_entries.c.source_ref)
            ).all()
    finally:
        engine.dispose()
    tagged = Counter(row.source_ref for row in rows if row.kind == "tagged")
    assert {event_id: tagged[event_id] for event_id in pinned} == dict.fromkeys(pinned, 1)
    notes = [row.text for row in rows if row.kind == "note"]
    assert notes == ["Primary promoted during the burst"]


async def _burst_and_kill(
    synapse: Synapse, alice_account: Account, tmp_path: Path, bot: str, process: BotProcess
) -> tuple[list[str], int]:
    async with Human(synapse, alice_account, tmp_path / "alice") as alice:
        _, room = await alice.declare(bot, "Replica lag")

        messages = await asyncio.gather(
            *(alice.send(room, f"replica lag reading {n}") for n in range(PINS))
        )
        mark = len(alice.seen)
        # The burst: a 📌 on every message, the command in the middle of them.
        await asyncio.gather(*(alice.react(room, event_id) for event_id in messages[: PINS // 2]))
        await alice.send(room, "!incident note Primary promoted during the burst")
        await asyncio.gather(*(alice.react(room, event_id) for event_id in messages[PINS // 2 :]))
        # Killed once the bot is seen well into it.
        await alice.wait_until(lambda: len(confirmations(alice.seen[mark:], room, bot)) >= 15,
                               "the first 15 ✅", timeout=60)
        process.kill()  # kill -9, by pid
        confirmed_before_kill = len(set(confirmations(alice.seen[mark:], room, bot)))

        process.start()
        # Handled in order after the restart: once `timeline` is answered, every 📌 sent
        # before it has been applied (or found already applied).
        listing = len(alice.seen)
        await alice.send(room, "!incident timeline")
        await alice.wait_for(room, notice_from(bot, "Timeline of incident 1"), "the timeline",
                             after=listing, timeout=120)
        # Every 📌 has its ✅, once: one whose entry was stored just before the kill,
        # its ✅ not yet sent, gets it when the 📌 is synced again after the restart.
        # Nothing handled before the kill was handled again: one answer to the note.
        after = alice.seen[mark:]
        confirmed = await alice.wait_until(
            lambda: (found := Counter(confirmations(alice.seen[mark:], room, bot)))
            and set(found) == set(messages) and found,
            "a ✅ on every 📌", timeout=30,
        )
        assert max(confirmed.values()) == 1, confirmed
        said = [s.body for s in after if s.sender == bot and s.type == "m.room.message"]
        assert sum("Noted on the timeline" in body for body in said) <= 1, said
        return messages, confirmed_before_kill
