"""Two `incident-bot run` replicas for one Matrix account, on one PostgreSQL and one
store directory, against a real Synapse: one syncs and the other stands by. `kill -9` of
the syncing one, and the standby takes over within 30 s from the saved sync token: what
was written meanwhile (in an encrypted room) is applied once, and nothing twice."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import nio
import pytest
from matrix_people import (
    BotProcess,
    Human,
    bot_joined,
    confirmations,
    notice_from,
    wait_for_log,
)
from sqlalchemy import delete, select
from synapse_server import Account, Synapse

from storage.database import make_engine
from storage.orm import incidents, leases, sync_positions, timeline_entries

TAKEOVER = 30.0  # the longest a standby may take to answer after the leader's kill -9
PINS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def readyz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.postgres
def test_the_standby_takes_over_within_30_s_of_a_kill_and_applies_everything_once(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    shared = {
        **bot_env,  # one store directory for both: one device, one set of keys
        "INCIDENT_BOT_DATABASE_URL": postgres_url,
        "MATRIX_USER_ID": account.user_id,
        "MATRIX_PASSWORD": account.password,
    }
    ports = [free_port(), free_port()]
    replicas = []
    for name, port in zip(("one", "two"), ports, strict=True):
        (tmp_path / name).mkdir()
        replicas.append(
            BotProcess(
                env={**shared, "INCIDENT_BOT_HTTP_PORT": str(port)}, workdir=tmp_path / name
            )
        )
    leader, standby = replicas
    leader.start()
    wait_for_log(leader, "this replica syncs")
    standby.start()
    wait_for_log(standby, "Matrix: standby")
    wait_for_log(standby, "web pages at")
    # The standby is ready (it is there to take over), and says that it stands by.
    status, body = readyz(ports[1])
    assert (status, body) == (200, "ready (matrix: standby, another replica syncs)\n")
    wait_for_log(leader, "web pages at")
    assert readyz(ports[0]) == (200, "ready\n")
    try:
        pinned = asyncio.run(
            _takeover(synapse, new_account("alice"), tmp_path, account.user_id, leader, standby)
        )
    finally:
        for replica in replicas:
            if replica.running():
                assert replica.stop() == 0, replica.output()
    assert "Matrix: logged in" not in standby.output().split("this replica syncs")[0], (
        "the standby connected before it took over"
    )
    assert account.password not in (tmp_path / "two" / "bot.log").read_text()

    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(timeline_entries.c.kind, timeline_entries.c.text).join(
                    incidents, incidents.c.id == timeline_entries.c.incident_id
                )
            ).all()
            token = connection.execute(select(sync_positions.c.position)).scalars().all()
            holders = connection.execute(select(leases.c.holder)).scalars().all()
    finally:
        engine.dispose()
    tagged = sorted(row.text for row in rows if row.kind == "tagged")
    assert tagged == sorted(pinned), "each 📌 on the timeline once"
    notes = [row.text for row in rows if row.kind == "note"]
    assert notes == ["Taken over while the leader was dead"]
    assert len(token) == 1 and token[0], "the sync token is in the database"
    assert len(holders) == 1


async def _takeover(
    synapse: Synapse,
    account: Account,
    tmp_path: Path,
    bot: str,
    leader: BotProcess,
    standby: BotProcess,
) -> list[str]:
    async with Human(synapse, account, tmp_path / "alice") as alice:
        general = await alice.create_room(invite=[bot], encrypted=False)
        await alice.wait_for(general, bot_joined(bot), "the bot to join")
        await alice.send(general, "!incident start Replicated outage")
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        await alice.join(room)
        await alice.wait_for(room, notice_from(bot, "Incident 1: Replicated outage"), "summary")
        assert alice.client.rooms[room].encrypted
        await alice.send(room, "!incident severity 2")
        await alice.wait_for(room, notice_from(bot, "Severity set to SEV2"), "the severity")
        await alice.send(room, "!incident timeline")
        await alice.wait_for(room, notice_from(bot, "Timeline of incident 1"), "a listing")
        assert "Matrix: logged in" not in standby.output()

        leader.kill()  # kill -9, by pid
        killed = time.monotonic()
        mark = len(alice.seen)
        texts = [f"While the leader was dead, step {n}" for n in range(1, 2 * PINS + 1)]
        sent = [await alice.send(room, text) for text in texts]
        pinned = sent[1::2]
        for event_id in pinned:
            await alice.react(room, event_id)
        await alice.send(room, "!incident note Taken over while the leader was dead")

        await alice.wait_for(
            room,
            notice_from(bot, "Noted on the timeline"),
            "the command sent after the kill",
            after=mark,
            timeout=TAKEOVER,
        )
        took = time.monotonic() - killed
        print(f"the standby answered {took:.1f} s after the leader's kill -9")
        assert took < TAKEOVER, f"the standby answered {took:.1f} s after the kill"
        assert "this replica syncs" in standby.output()
        await alice.wait_until(
            lambda: sorted(confirmations(alice.seen[mark:], room, bot)) == sorted(pinned),
            f"✅ on the {PINS} pinned messages",
            timeout=30,
        )
        listing_mark = len(alice.seen)
        await alice.send(room, "!incident timeline")
        listing = await alice.wait_for(
            room, notice_from(bot, "Timeline of incident 1"), "the timeline", after=listing_mark
        )
        for text in texts[1::2]:
            assert listing.body.count(text) == 1, listing.body
        assert listing.body.count("Taken over while the leader was dead") == 1
        # Each command answered once, across both replicas.
        answers = [s.body for s in alice.seen if notice_from(bot)(s)]
        assert sum(body.startswith("Incident 1 declared") for body in answers) == 1
        assert sum(body.startswith("Severity set to SEV2") for body in answers) == 1
        assert sum("Noted on the timeline" in body for body in answers) == 1
        assert sorted(confirmations(alice.seen[mark:], room, bot)) == sorted(pinned)
        return [texts[sent.index(event_id)] for event_id in pinned]


@pytest.mark.postgres
def test_a_leader_paused_past_its_lease_steps_down_when_it_wakes(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    shared = {
        **bot_env,
        "INCIDENT_BOT_DATABASE_URL": postgres_url,
        "INCIDENT_BOT_HTTP_PORT": "off",
        "INCIDENT_BOT_MATRIX_LEASE": "6s",
        "MATRIX_USER_ID": account.user_id,
        "MATRIX_ACCESS_TOKEN": account.access_token,
        "MATRIX_DEVICE_ID": account.device_id,
    }
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = BotProcess(env=shared, workdir=tmp_path / "one")
    second = BotProcess(env=shared, workdir=tmp_path / "two")
    first.start()
    wait_for_log(first, "this replica syncs")
    second.start()
    wait_for_log(second, "Matrix: standby")
    try:
        asyncio.run(
            _pause(synapse, new_account("alice"), tmp_path, account.user_id, first, second)
        )
    finally:
        first.resume()
        for replica in (first, second):
            if replica.running():
                assert replica.stop() == 0, replica.output()
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            notes = connection.execute(
                select(timeline_entries.c.text).where(timeline_entries.c.kind == "note")
            ).scalars().all()
    finally:
        engine.dispose()
    assert sorted(notes) == ["after the old leader woke", "while the leader stood still"]


async def _pause(
    synapse: Synapse,
    account: Account,
    tmp_path: Path,
    bot: str,
    first: BotProcess,
    second: BotProcess,
) -> None:
    async with Human(synapse, account, tmp_path / "alice") as alice:
        general = await alice.create_room(invite=[bot], encrypted=False)
        await alice.wait_for(general, bot_joined(bot), "the bot to join")
        await alice.send(general, "!incident start Stalled replica")
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        await alice.join(room)
        await alice.wait_for(room, notice_from(bot, "Incident 1: Stalled replica"), "summary")

        first.pause()  # in the middle of its long poll, holding its lease
        mark = len(alice.seen)
        await alice.send(room, "!incident note while the leader stood still")
        await alice.wait_for(
            room, notice_from(bot, "Noted on the timeline"), "the standby's answer",
            after=mark, timeout=TAKEOVER,
        )
        assert "this replica syncs" in second.output()

        # The old leader wakes with a long poll in flight and a lease long gone: it must
        # not handle what it receives, nor save its token behind the new leader.
        woke = len(first.output())
        first.resume()
        await alice.send(room, "!incident note after the old leader woke")
        message = await alice.send(room, "Pinned after the old leader woke")
        await alice.react(room, message)
        await alice.wait_until(
            lambda: "Matrix: standby" in first.output()[woke:], "the old leader to stand by",
            timeout=30,
        )
        await alice.wait_until(
            lambda: confirmations(alice.seen[mark:], room, bot) == [message], "✅ once",
            timeout=30,
        )
        listing_mark = len(alice.seen)
        await alice.send(room, "!incident timeline")
        listing = await alice.wait_for(
            room, notice_from(bot, "Timeline of incident 1"), "the timeline", after=listing_mark
        )
        assert listing.body.count("Pinned after the old leader woke") == 1
        answers = [s.body for s in alice.seen[mark:] if notice_from(bot)(s)]
        assert sum("Noted on the timeline" in body for body in answers) == 2, answers
        assert confirmations(alice.seen[mark:], room, bot) == [message]
        assert second.running() and "this replica syncs" not in first.output()[woke:]


def test_a_sync_token_kept_in_the_store_moves_into_the_database(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """A bot upgraded from a version that kept its sync token only in the store directory
    carries on from it: what was written while it was down runs, not treated as history."""
    account = new_account("incident-bot")
    bot = BotProcess(
        env={**bot_env, "MATRIX_USER_ID": account.user_id, "MATRIX_PASSWORD": account.password},
        workdir=tmp_path,
    )
    database = bot_env["INCIDENT_BOT_DATABASE_URL"]
    store = Path(bot_env["INCIDENT_BOT_MATRIX_STORE"])
    bot.start()
    try:
        asyncio.run(_upgrade(synapse, new_account("alice"), tmp_path, account, bot, database,
                             store))
    finally:
        assert bot.stop() == 0, bot.output()
    assert "the sync token moves from the store into the database" in bot.output()


async def _upgrade(
    synapse: Synapse,
    account: Account,
    tmp_path: Path,
    bot_account: Account,
    process: BotProcess,
    database: str,
    store: Path,
) -> None:
    bot = bot_account.user_id
    async with Human(synapse, account, tmp_path / "alice") as alice:
        general = await alice.create_room(invite=[bot], encrypted=False)
        await alice.wait_for(general, bot_joined(bot), "the bot to join")
        await alice.send(general, "!incident start Upgraded bot")
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        await alice.join(room)
        await alice.wait_for(room, notice_from(bot, "Incident 1: Upgraded bot"), "summary")
        assert process.stop() == 0

        # As the earlier version left things: the token in the store, none in the database.
        engine = make_engine(database)
        try:
            with engine.begin() as connection:
                token = connection.execute(select(sync_positions.c.position)).scalar_one()
                connection.execute(delete(sync_positions))
        finally:
            engine.dispose()
        device = json.loads((store / "device.json").read_text())["device_id"]
        kept = nio.store.DefaultStore(bot, device, str(store))
        kept.save_sync_token(token)

        mark = len(alice.seen)
        await alice.send(room, "!incident note written during the upgrade")
        process.start()
        await alice.wait_for(
            room, notice_from(bot, "Noted on the timeline"), "the note", after=mark, timeout=60
        )
