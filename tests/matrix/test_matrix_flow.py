"""A whole incident on a real Synapse: humans as nio clients, the bot as
`incident-bot run`; once in plain rooms and once end-to-end encrypted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from matrix_people import BotProcess, Human, Seen, notice_from
from synapse_server import Account, Synapse

CHECK = "✅"


def reaction_from(bot: str, target: str, key: str = CHECK) -> Callable[[Seen], bool]:
    def match(seen: Seen) -> bool:
        relates = seen.content.get("m.relates_to") or {}
        return (
            seen.sender == bot
            and seen.type == "m.reaction"
            and relates.get("event_id") == target
            and relates.get("key") == key
        )

    return match


def hhmm(seen: Seen) -> str:
    stamp = datetime.fromtimestamp(int(seen.source["origin_server_ts"]) / 1000, UTC)
    return f"{stamp:%H:%M}"


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain-rooms", "encrypted-rooms"])
def test_a_whole_incident_from_start_to_the_draft_file(
    encrypted: bool,
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    bot_account = new_account("incident-bot")
    env = {
        **bot_env,
        "MATRIX_USER_ID": bot_account.user_id,
        "INCIDENT_BOT_MATRIX_ENCRYPT_ROOMS": "true" if encrypted else "false",
    }
    # One run logs in with the token the account was made with, the other with a password.
    if encrypted:
        env["MATRIX_PASSWORD"] = bot_account.password
    else:
        env["MATRIX_ACCESS_TOKEN"] = bot_account.access_token
    bot = BotProcess(env=env, workdir=tmp_path)
    bot.start()
    try:
        asyncio.run(
            _whole_incident(synapse, new_account, tmp_path, bot_account.user_id, encrypted)
        )
    finally:
        code = bot.stop()
    output = bot.output()
    assert code == 0, output
    assert bot_account.password not in output
    assert bot_account.access_token not in output
    assert "Traceback" not in output, output


async def _whole_incident(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    tmp_path: Path,
    bot: str,
    encrypted: bool,
) -> None:
    async with (
        Human(synapse, new_account("alice"), tmp_path / "alice") as alice,
        Human(synapse, new_account("bob"), tmp_path / "bob") as bob,
    ):
        await alice.client.set_displayname("Alice Adams")
        await bob.client.set_displayname("Bob Berg")
        general = await alice.create_room(invite=[bot], encrypted=encrypted)
        await alice.wait_for(
            general,
            lambda s: s.type == "m.room.member"
            and s.source.get("state_key") == bot
            and s.content.get("membership") == "join",
            "the bot to accept the invitation",
        )

        await alice.send(general, f"!incident start Checkout returns 502 --invite {bob.user_id}")
        link = await alice.wait_for(
            general, notice_from(bot, "Incident 1 declared"), "the declaration in #general"
        )
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        assert f"https://matrix.to/#/{room}" in link.content["formatted_body"]
        await bob.wait_until(lambda: room in bob.invites, "bob's invite")
        await alice.join(room)
        await bob.join(room)
        summary = await alice.wait_for(
            room, notice_from(bot, "Incident 1: Checkout returns 502"), "the summary"
        )
        assert "Commander:" in summary.body
        state = alice.client.rooms[room]
        assert state.name == "inc-1-checkout-returns-502"
        assert "Checkout returns 502" in (state.topic or "")
        assert state.encrypted is encrypted
        if encrypted:
            assert getattr(summary.event, "decrypted", False), "the summary was not encrypted"

        # Roles: once by a pill (Element's mention), once by a typed user id.
        await alice.send(
            room,
            "!incident role comms Bob Berg",
            html=f'!incident role comms <a href="https://matrix.to/#/{bob.user_id}">Bob Berg</a>',
        )
        answer = await alice.wait_for(
            room, notice_from(bot, "is now Communications Lead"), "the comms role"
        )
        assert bob.user_id in answer.body
        assert f"https://matrix.to/#/{bob.user_id}" in answer.content["formatted_body"]
        assert (answer.content.get("m.relates_to") or {}).get("m.in_reply_to")
        await alice.send(room, f"!incident role ops {bob.user_id}")
        await alice.wait_for(room, notice_from(bot, "is now Operations Lead"), "the ops role")

        first = await bob.send(room, "Pods are crashlooping")
        second = await alice.send(room, "Rolled back to the last release", thread_root=first)
        chatter = await bob.send(room, "Anyone for lunch")
        seen_first = await alice.wait_for(room, lambda s: s.event_id == first, "bob's message")

        # Tagged newest first: the timeline still orders them by when they were posted.
        mark = len(alice.seen)
        chatter_pin = await alice.react(room, chatter)
        await alice.wait_for(room, reaction_from(bot, chatter), "✅ on the chatter", after=mark)
        await bob.react(room, second)
        await alice.wait_for(room, reaction_from(bot, second), "✅ on the thread reply")
        await alice.react(room, first)
        await bob.react(room, first)  # a second 📌 on one message makes no second entry
        await alice.wait_for(room, reaction_from(bot, first), "✅ on bob's message")
        await alice.redact(room, chatter_pin)
        await alice.wait_for(
            room, notice_from(bot, "off the timeline", "Anyone for lunch"), "the untag"
        )
        await bob.edit(room, first, "Pods are crashlooping with OOM kills")
        # A command in a thread is answered in that thread.
        await alice.send(room, "!incident status identified", thread_root=first)
        threaded = await alice.wait_for(room, notice_from(bot, "Status: identified"), "status")
        relation = threaded.content.get("m.relates_to") or {}
        assert relation.get("rel_type") == "m.thread" and relation.get("event_id") == first

        earlier = datetime.now(UTC) - timedelta(hours=2)
        await alice.send(
            room, f"!incident timeline add {earlier:%Y-%m-%d %H:%M}Z Error rate alert fired"
        )
        await alice.wait_for(room, notice_from(bot, "Added to the timeline"), "the back-dating")
        await alice.send(room, "!incident set summary Checkout failed for twenty minutes")
        await alice.wait_for(room, notice_from(bot, "Section `summary`"), "the summary section")

        mark = len(alice.seen)
        await alice.send(room, "!incident close")
        await alice.wait_for(room, notice_from(bot, "Incident 1 closed"), "the close", after=mark)
        upload = await alice.wait_for(
            room,
            lambda s: s.sender == bot and s.content.get("msgtype") == "m.file",
            "the draft file",
            after=mark,
        )
        assert upload.content["filename"].endswith(".md")
        assert ("file" in upload.content) is encrypted  # an encrypted attachment in e2e rooms
        draft = (await alice.download(upload.content)).decode("utf-8")

        # A report's references link to the room, as matrix.to permalinks do.
        mark = len(alice.seen)
        await alice.send(room, "!incident export report")
        report_file = await alice.wait_for(
            room,
            lambda s: s.sender == bot and s.content.get("msgtype") == "m.file",
            "the report draft",
            after=mark,
        )
        report = (await alice.download(report_file.content)).decode("utf-8")
        assert "### Relevant Matrix chat log" in report
        assert f"](https://matrix.to/#/{room}?via=localhost)" in report

    lines = draft.splitlines()
    entry = next(line for line in lines if "Pods are crashlooping with OOM kills" in line)
    assert hhmm(seen_first) in entry
    assert "Bob Berg" not in entry and "@bob-" not in entry  # credited to nobody, as the seeds
    assert sum("crashlooping" in line for line in lines) == 1
    position = {text: next(i for i, line in enumerate(lines) if text in line) for text in (
        "Error rate alert fired", "Pods are crashlooping", "Rolled back to the last release"
    )}
    assert (
        position["Error rate alert fired"]
        < position["Pods are crashlooping"]
        < position["Rolled back to the last release"]
    )
    assert "Anyone for lunch" not in draft
    assert "Checkout failed for twenty minutes" in draft
    assert "@bob-" not in draft and "@alice-" not in draft  # names, not raw ids
