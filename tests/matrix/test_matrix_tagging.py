"""Tagging on a real Synapse with INCIDENT_BOT_TAG_EMOJI set: the configured emoji (the
annotation key, with or without a variation selector) tags, 📌 does not; the bot
redacts its own ✅ when the last tag goes and when the entry is removed by command,
also after a restart (the ✅'s event id is kept in the store)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from matrix_people import BotProcess, Human, RunBot, Seen, notice_from
from synapse_server import Account, Synapse

CHECK = "✅"


def check_on(bot: str, target: str) -> Callable[[Seen], bool]:
    def match(seen: Seen) -> bool:
        relates = seen.content.get("m.relates_to") or {}
        return (
            seen.sender == bot
            and seen.type == "m.reaction"
            and relates.get("event_id") == target
            and relates.get("key") == CHECK
        )

    return match


def redaction_of(bot: str, event_id: str) -> Callable[[Seen], bool]:
    def match(seen: Seen) -> bool:
        redacts = seen.source.get("redacts") or seen.content.get("redacts")
        return seen.sender == bot and seen.type == "m.room.redaction" and redacts == event_id

    return match


def test_the_configured_emoji_tags_and_the_check_follows_it(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    run_bot: RunBot,
    tmp_path: Path,
) -> None:
    account, bot = run_bot(INCIDENT_BOT_TAG_EMOJI="bookmark")
    try:
        asyncio.run(
            _tagging(synapse, new_account("alice"), new_account("bob"), tmp_path,
                     account.user_id, bot)
        )
    finally:
        assert bot.stop() == 0, bot.output()
    log = bot.log.read_text()
    assert "Traceback" not in log, log
    assert "not posted" not in log, log


async def _tagging(
    synapse: Synapse,
    alice_account: Account,
    bob_account: Account,
    tmp_path: Path,
    bot: str,
    process: BotProcess,
) -> None:
    async with (
        Human(synapse, alice_account, tmp_path / "alice") as alice,
        Human(synapse, bob_account, tmp_path / "bob") as bob,
    ):
        general = await alice.create_room(invite=[bot], encrypted=False)
        await alice.wait_until(lambda: bot in alice.client.rooms[general].users, "the bot")
        await alice.send(general, f"!incident start Queue backlog --invite {bob.user_id}")
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        await bob.wait_until(lambda: room in bob.invites, "bob's invite")
        await alice.join(room)
        await bob.join(room)
        summary = await alice.wait_for(room, notice_from(bot, "Incident 1: Queue backlog"), "1")
        assert "React with 🔖 to put a message on the timeline" in summary.body

        other = await bob.send(room, "Lunch at noon?")
        stuck = await bob.send(room, "Consumers are stuck")
        await alice.react(room, other, "📌")  # not the tagging emoji here
        alice_tag = await alice.react(room, stuck, "🔖")
        bob_tag = await bob.react(room, stuck, "🔖\ufe0f")  # as some keyboards send it
        first_check = await alice.wait_for(room, check_on(bot, stuck), "the ✅")
        mark = len(alice.seen)
        await alice.send(room, "!incident timeline")
        listing = await alice.wait_for(room, notice_from(bot, "Timeline of"), "timeline",
                                       after=mark)
        assert listing.body.count("Consumers are stuck") == 1
        assert "Lunch at noon?" not in listing.body
        assert not [s for s in alice.seen if check_on(bot, other)(s)]

        await alice.redact(room, alice_tag)  # bob's tag still holds it
        await bob.redact(room, bob_tag)
        took = await alice.wait_for(room, notice_from(bot, "Took #", "Consumers"), "the untag")
        await alice.wait_for(room, redaction_of(bot, first_check.event_id), "the ✅ redacted")
        assert sum(redaction_of(bot, first_check.event_id)(s) for s in alice.seen) == 1

        # Tagged again, then (after a restart) taken off by command.
        mark = len(alice.seen)
        await alice.react(room, stuck, "🔖")
        second_check = await alice.wait_for(room, check_on(bot, stuck), "the ✅", after=mark)
        process.stop()
        process.start()
        seq = took.body.split("#", 1)[1].split(" ", 1)[0]
        await alice.send(room, f"!incident timeline remove {seq}")
        await alice.wait_for(room, notice_from(bot, f"Removed #{seq}"), "the removal")
        await alice.wait_for(room, redaction_of(bot, second_check.event_id), "✅ redacted")
