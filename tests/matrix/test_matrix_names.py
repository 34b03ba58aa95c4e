"""Names everywhere, on a real Synapse: people named in free text (pills, typed user ids)
are kept as references and shown with their current display name, in the uploaded
draft and in a command-line export run with no Matrix connection."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from matrix_people import COMMAND, BotProcess, Human, notice_from
from synapse_server import Account, Synapse


def pill(user: str, name: str) -> str:
    return f'<a href="https://matrix.to/#/{user}">{name}</a>'


def offline(env: dict[str, str], workdir: Path, *args: str) -> str:
    """`incident-bot …` in its own process, on the bot's database, with no Matrix settings."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("INCIDENT_BOT_", "MATRIX_", "SLACK_"))
    }
    environment["INCIDENT_BOT_DATABASE_URL"] = env["INCIDENT_BOT_DATABASE_URL"]
    done = subprocess.run(
        [str(COMMAND), *args], capture_output=True, text=True, cwd=workdir,
        env=environment, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_changed_display_name_shows_in_the_draft_and_in_an_offline_export(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    bot_account = new_account("incident-bot")
    env = {
        **bot_env,
        "MATRIX_USER_ID": bot_account.user_id,
        "MATRIX_ACCESS_TOKEN": bot_account.access_token,
        "INCIDENT_BOT_MATRIX_ENCRYPT_ROOMS": "false",
    }
    bot = BotProcess(env=env, workdir=tmp_path)
    bot.start()
    try:
        people, draft, echo = asyncio.run(
            _incident(synapse, new_account, tmp_path, bot_account.user_id)
        )
    finally:
        code = bot.stop()
    assert code == 0, bot.output()
    assert "Traceback" not in bot.output(), bot.output()
    alice, bob = people

    assert "Pair with Bob Berg on the runbook" in echo  # a reply names people: no id, no ref
    for text in ("Robert Berg promoted the replica", "Failing over now, cc Alice Adams",
                 "Robert Berg failed over to the replica", "Pair with Robert Berg on the runbook"):
        assert text in draft, f"{text!r} missing from the draft:\n{draft}"
    assert "Bob Berg" not in draft  # the name as it is now, not when the message came
    for raw in (alice, bob, "{@", "@bob-", "@alice-"):
        assert raw not in draft, f"{raw} in the draft:\n{draft}"

    exported = offline(env, tmp_path, "export", "1")
    for text in ("Robert Berg promoted the replica", "Failing over now, cc Alice Adams",
                 "Robert Berg failed over to the replica", "Alice Adams"):
        assert text in exported, f"{text!r} missing from the export:\n{exported}"
    shown = offline(env, tmp_path, "show", "1")
    assert "Incident commander: Alice Adams" in shown
    assert "Robert Berg: Failing over now, cc Alice Adams" in shown
    for raw in (alice, bob, "{@", "@bob-", "@alice-"):
        assert raw not in exported, f"{raw} in the export:\n{exported}"
        assert raw not in shown, f"{raw} in `show`:\n{shown}"


async def _incident(
    synapse: Synapse, new_account: Callable[[str], Account], tmp_path: Path, bot: str
) -> tuple[tuple[str, str], str, str]:
    async with (
        Human(synapse, new_account("alice"), tmp_path / "alice") as alice,
        Human(synapse, new_account("bob"), tmp_path / "bob") as bob,
    ):
        await alice.client.set_displayname("Alice Adams")
        await bob.client.set_displayname("Bob Berg")
        general = await alice.create_room(invite=[bot], encrypted=False)
        await alice.wait_for(
            general,
            lambda s: s.type == "m.room.member"
            and s.source.get("state_key") == bot
            and s.content.get("membership") == "join",
            "the bot to accept the invitation",
        )
        await alice.send(general, f"!incident start Replica failover --invite {bob.user_id}")
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        await bob.wait_until(lambda: room in bob.invites, "bob's invite")
        await alice.join(room)
        await bob.join(room)
        await alice.wait_for(room, notice_from(bot, "Incident 1: Replica failover"), "summary")

        # Bob named by a pill in a note, a section and an action; Alice by a typed id.
        await alice.send(
            room, "!incident note Bob Berg promoted the replica",
            html=f"!incident note {pill(bob.user_id, 'Bob Berg')} promoted the replica",
        )
        await alice.wait_for(room, notice_from(bot, "Noted on the timeline"), "the note")
        await alice.send(
            room, "!incident set summary Bob Berg failed over to the replica",
            html=f"!incident set summary {pill(bob.user_id, 'Bob Berg')} failed over to "
            "the replica",
        )
        await alice.wait_for(room, notice_from(bot, "Section `summary`"), "the section")
        await alice.send(
            room, "!incident action Pair with Bob Berg on the runbook",
            html=f"!incident action Pair with {pill(bob.user_id, 'Bob Berg')} on the runbook",
        )
        echo = await alice.wait_for(room, notice_from(bot, "Action item #1"), "the action")
        message = await bob.send(room, f"Failing over now, cc {alice.user_id}")
        await alice.wait_for(room, lambda s: s.event_id == message, "bob's message")
        await alice.react(room, message)
        await alice.wait_for(
            room,
            lambda s: s.sender == bot and s.type == "m.reaction"
            and (s.content.get("m.relates_to") or {}).get("event_id") == message,
            "✅ on bob's message",
        )

        # Bob changes his name after all of it was written.
        await bob.client.set_displayname("Robert Berg")
        await alice.wait_for(
            room,
            lambda s: s.type == "m.room.member" and s.source.get("state_key") == bob.user_id
            and s.content.get("displayname") == "Robert Berg",
            "bob's new name in the room",
        )
        mark = len(alice.seen)
        await alice.send(room, "!incident close")
        upload = await alice.wait_for(
            room,
            lambda s: s.sender == bot and s.content.get("msgtype") == "m.file",
            "the draft file",
            after=mark,
        )
        draft = (await alice.download(upload.content)).decode("utf-8")
        # The stored name follows the change too (stored after the sync that carried it).
        return (alice.user_id, bob.user_id), draft, echo.body
