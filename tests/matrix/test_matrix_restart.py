"""Restarts on a real Synapse: what happened while the bot was down is handled once,
nothing handled before is handled again, and a first start replays no history."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from matrix_people import BotProcess, Human, RunBot, bot_joined, confirmations, notice_from
from synapse_server import Account, Synapse


def test_what_happens_while_the_bot_is_down_is_handled_once_after_the_restart(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    run_bot: RunBot,
    tmp_path: Path,
) -> None:
    account, bot = run_bot()
    try:
        asyncio.run(_restart(synapse, new_account("alice"), tmp_path, account.user_id, bot))
    finally:
        assert bot.stop() == 0, bot.output()
    assert "continuing from the stored sync token" in bot.output()
    assert account.password not in bot.log.read_text()


async def _restart(
    synapse: Synapse, account: Account, tmp_path: Path, bot: str, process: BotProcess
) -> None:
    async with Human(synapse, account, tmp_path / "alice") as alice:
        _, room = await alice.declare(bot, "Database failover")
        earlier = await alice.send(room, "Primary is unreachable")
        await alice.send(room, "!incident severity 2")
        await alice.wait_for(room, notice_from(bot, "Severity set to SEV2"), "the severity")

        assert process.stop() == 0
        # While the bot is down: a message in the (encrypted) incident room, and a 📌 on it.
        message = await alice.send(room, "Replica promoted to primary")
        await alice.react(room, message)

        process.start()
        await alice.wait_for(
            room,
            lambda s: s.sender == bot
            and s.type == "m.reaction"
            and (s.content.get("m.relates_to") or {}).get("event_id") == message,
            "✅ on the message tagged while the bot was down",
        )
        # A message from before the restart: the bot fetches it and decrypts it again.
        await alice.react(room, earlier)
        await alice.wait_for(
            room,
            lambda s: s.sender == bot
            and s.type == "m.reaction"
            and (s.content.get("m.relates_to") or {}).get("event_id") == earlier,
            "✅ on the message from before the restart",
        )
        mark = len(alice.seen)
        await alice.send(room, "!incident timeline")
        listing = await alice.wait_for(
            room, notice_from(bot, "Timeline of incident 1"), "the timeline", after=mark
        )
        # The restarted bot decrypted the message (its keys survived in the store) ...
        assert alice.client.rooms[room].encrypted
        assert listing.body.count("Replica promoted to primary") == 1
        # ... and handled nothing twice: one start, one severity answer.
        assert listing.body.count("Primary is unreachable") == 1
        assert len(alice.events(room, sender=bot, type="m.reaction")) == 2
        answers = [s.body for s in alice.seen if notice_from(bot)(s)]
        assert sum(body.startswith("Severity set to SEV2") for body in answers) == 1
        assert sum(body.startswith("Incident 1 declared") for body in answers) == 1
        assert listing.body.count("SEV2") == 1


def test_a_first_start_does_not_run_commands_written_before_the_bot_joined(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    alice = new_account("alice")
    bot = BotProcess(
        env={
            **bot_env,
            "MATRIX_USER_ID": account.user_id,
            "MATRIX_ACCESS_TOKEN": account.access_token,
            "MATRIX_DEVICE_ID": account.device_id,
        },
        workdir=tmp_path,
    )

    async def before() -> str:
        async with Human(synapse, alice, tmp_path / "alice") as person:
            general = await person.create_room(invite=[account.user_id], encrypted=False)
            await person.send(general, "!incident start An old outage")
            return general

    async def after(general: str) -> None:
        async with Human(synapse, alice, tmp_path / "alice") as person:
            await person.wait_for(general, bot_joined(account.user_id), "the bot to join")
            await person.send(general, "!incident start A new outage")
            declared = await person.wait_for(
                general, notice_from(account.user_id, "declared"), "the declaration"
            )
            # Incident 1 is the new one: the old command was history, not a command.
            assert "Incident 1 declared" in declared.body
            assert "A new outage" in declared.body
            replies = [s for s in person.seen if notice_from(account.user_id, "outage")(s)]
            assert all("An old outage" not in s.body for s in replies)

    general = asyncio.run(before())
    bot.start()
    try:
        asyncio.run(after(general))
    finally:
        assert bot.stop() == 0, bot.output()
    assert "first start" in bot.output()


def test_an_invitation_from_outside_the_allow_list_is_not_accepted(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    alice = new_account("alice")
    mallory = new_account("mallory")
    bot = BotProcess(
        env={
            **bot_env,
            "MATRIX_USER_ID": account.user_id,
            "MATRIX_ACCESS_TOKEN": account.access_token,
            "INCIDENT_BOT_MATRIX_ALLOWED_INVITERS": alice.user_id,
        },
        workdir=tmp_path,
    )
    bot.start()

    async def invitations() -> None:
        async with (
            Human(synapse, mallory, tmp_path / "mallory") as outsider,
            Human(synapse, alice, tmp_path / "alice") as insider,
        ):
            outside = await outsider.create_room(invite=[account.user_id], encrypted=False)
            await outsider.send(outside, "!incident start Not yours")
            inside = await insider.create_room(invite=[account.user_id], encrypted=False)
            # The bot handles invitations in order; once it has joined alice's room, it
            # has seen (and left unanswered) mallory's earlier one.
            await insider.wait_for(inside, bot_joined(account.user_id), "the bot to join")
            await outsider.wait_until(
                lambda: f"not joining {outside}" in bot.output(), "the refusal in the log"
            )
            room = outsider.client.rooms[outside]
            assert account.user_id in room.invited_users
            assert not outsider.events(outside, sender=account.user_id)

    try:
        asyncio.run(invitations())
    finally:
        assert bot.stop() == 0, bot.output()


def test_a_pin_and_a_command_synced_again_after_their_answers_were_sent_get_none_again(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    run_bot: RunBot,
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The bot died after answering a 📌 and a command and before it saved its sync
    token (and its note of the ✅): both are synced again after the restart. The core
    asks for the ✅ again (a ✅ never sent would be sent now); Synapse already has it,
    and one ✅ it stays, with no error. The command's answer, kept in case it was never
    sent, was marked sent: it does not come twice."""
    account, bot = run_bot()
    try:
        asyncio.run(_check_again(synapse, new_account("alice"), tmp_path, account.user_id, bot,
                                 bot_env))
    finally:
        assert bot.stop() == 0, bot.output()
    assert "was not posted" not in bot.output()


async def _check_again(
    synapse: Synapse, account: Account, tmp_path: Path, bot: str, process: BotProcess,
    env: dict[str, str],
) -> None:
    database = env["INCIDENT_BOT_DATABASE_URL"].removeprefix("sqlite:///")
    pins = Path(env["INCIDENT_BOT_MATRIX_STORE"]) / "pins.sqlite3"
    async with Human(synapse, account, tmp_path / "alice") as alice:
        _, room = await alice.declare(bot, "Cache stampede")
        message = await alice.send(room, "Hit rate fell to 3%")
        assert process.stop() == 0
        with sqlite3.connect(database) as db:
            [(before_the_pin,)] = db.execute("SELECT position FROM sync_positions").fetchall()

        process.start()
        await alice.react(room, message)
        await alice.wait_for(room, lambda s: s.sender == bot and s.type == "m.reaction",
                             "the ✅")
        await alice.send(room, "!incident note Warming the cache from the replica")
        await alice.wait_for(room, notice_from(bot, "Noted on the timeline"), "the answer")
        assert process.stop() == 0
        # As if the bot had died just after sending the ✅.
        with sqlite3.connect(database) as db:
            db.execute("UPDATE sync_positions SET position = ?", (before_the_pin,))
        with sqlite3.connect(pins) as db:
            db.execute("DELETE FROM confirmations")

        process.start()
        mark = len(alice.seen)
        await alice.send(room, "!incident timeline")
        listing = await alice.wait_for(
            room, notice_from(bot, "Timeline of incident 1"), "the timeline", after=mark
        )
        assert listing.body.count("Hit rate fell to 3%") == 1
        assert listing.body.count("Warming the cache from the replica") == 1
        await asyncio.sleep(1)  # a second ✅ or answer would have arrived by now
        assert confirmations(alice.seen, room, bot) == [message]
        answers = [s for s in alice.seen if notice_from(bot, "Noted on the timeline")(s)]
        assert len(answers) == 1, [s.body for s in answers]
