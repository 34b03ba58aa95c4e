"""Two `incident-bot run` replicas, each with both platforms: Slack in HTTP mode (against
the fake Slack) and Matrix (one account and one store directory, against a real
Synapse), on one PostgreSQL database. Both sweep the reminders every second; only the
Matrix leader sweeps Matrix's.

A Slack incident and a Matrix incident, each closed with its postmortem empty, get a
reminder every 2 s. Each reminder reaches its channel or room once. The Matrix standby
takes Slack commands and delivers Slack reminders while it stands by; after `kill -9`
of the Matrix leader it goes on delivering Slack's, takes over Matrix, and Matrix's
reminders continue from it, none twice (those that fell due while nobody synced come
once it can post: it handles what was written meanwhile first).
"""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from matrix_people import BotProcess, Human, bot_joined, notice_from, wait_for_log
from sqlalchemy import Engine, select
from synapse_server import Account, Synapse

from storage.database import make_engine
from storage.orm import leases, reminders

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "slack"))

from fake_slack import BOT_USER, FakeSlack, start_with_people
from slack_bot import SlackSender, free_port, http_mode_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

EVERY = 2  # seconds between an incident's reminders
MAX = 6  # reminders per incident
LEASE = 9  # the Matrix sync lease: a standby takes over 6 to 12 s after a kill -9
REMINDERS = {
    "INCIDENT_BOT_REMIND_SECTIONS_AFTER": f"{EVERY}s",
    "INCIDENT_BOT_REMIND_SECTIONS_EVERY": f"{EVERY}s",
    "INCIDENT_BOT_REMIND_SECTIONS_MAX": str(MAX),
    "INCIDENT_BOT_REMIND_SWEEP_INTERVAL": "1s",
}
GAP_NOTES = 10  # commands sent to Matrix between the kill and the takeover
# The kill -9 comes when no reminder is claimed and none falls due within this long: a
# reminder claimed by the dying process would be given up as `unknown` (by design: it
# may have been posted), and this test counts deliveries, not that trade-off.
QUIET = timedelta(seconds=0.5)


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    fake = start_with_people()
    try:
        yield fake
    finally:
        fake.stop()


def readyz(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
        return str(response.read().decode())


async def until(condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Polls `condition` every 50 ms (letting the people's syncs run) until it holds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        await asyncio.sleep(0.05)
    return result


def test_each_reminder_once_on_both_platforms_across_two_replicas_and_a_kill(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    postgres_url: str,
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    shared = {
        **bot_env,  # one store directory for both: one device, one set of keys
        **REMINDERS,
        "INCIDENT_BOT_DATABASE_URL": postgres_url,
        "INCIDENT_BOT_MATRIX_LEASE": f"{LEASE}s",
        "MATRIX_USER_ID": account.user_id,
        "MATRIX_ACCESS_TOKEN": account.access_token,
        "MATRIX_DEVICE_ID": account.device_id,
    }
    ports = [free_port(), free_port()]
    replicas = []
    for name, port in zip(("one", "two"), ports, strict=True):
        (tmp_path / name).mkdir()
        replicas.append(BotProcess(
            env={
                **shared,
                **http_mode_env(api_url=fake_slack.api_url, port=port),
                "INCIDENT_BOT_HTTP_PORT": str(port),  # the pages beside /slack/events
            },
            workdir=tmp_path / name,
        ))
    leader, standby = replicas
    engine = make_engine(postgres_url)
    try:
        leader.start()
        wait_for_log(leader, "this replica syncs")
        standby.start()
        wait_for_log(standby, "Matrix: standby")
        for replica in replicas:
            wait_for_log(replica, "web pages at")  # Slack's requests are taken from then
        assert readyz(ports[1]) == "ready (matrix: standby, another replica syncs)\n"
        asyncio.run(_reminders(
            synapse, new_account("alice"), tmp_path, account.user_id, fake_slack,
            [SlackSender(port=port) for port in ports], engine, leader, standby,
        ))
    finally:
        engine.dispose()
        for replica in replicas:
            if replica.running():
                assert replica.stop() == 0, replica.output()
    for replica in replicas:
        log = replica.output()
        assert "not delivered" not in log, log
        assert "Traceback" not in log, log


async def _reminders(
    synapse: Synapse,
    alice_account: Account,
    tmp_path: Path,
    bot: str,
    fake: FakeSlack,
    slack: list[SlackSender],  # to the Matrix leader, to the standby
    engine: Engine,
    leader: BotProcess,
    standby: BotProcess,
) -> None:
    def slack_reminders(channel: str, n: int) -> int:
        return sum(
            f"Reminder {n} of {MAX}" in str(call.params.get("text", ""))
            for call in fake.calls_to("chat.postMessage")
            if call.params.get("channel") == channel
        )

    async with Human(synapse, alice_account, tmp_path / "alice") as alice:

        def matrix_reminders(room: str, n: int) -> int:
            return sum(
                notice_from(bot, f"Reminder {n} of {MAX}")(seen)
                for seen in alice.events(room, sender=bot)
            )

        # Slack: an incident declared through the Matrix leader (closed through the standby).
        ws = f"T{uuid.uuid4().hex[:8].upper()}"
        general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
        title = f"Both platforms {uuid.uuid4().hex[:6]}"
        assert slack[0].command(team=ws, channel=general, user="UADA", text=f"start {title}",
                                response_url=fake.response_url()).status == 200
        channel = await until(lambda: next(
            (c.id for c in fake.channels.values() if c.topic.endswith(title)), None
        ), "the Slack incident's channel")
        await until(lambda: fake.bot_messages(channel), "the Slack incident's summary")

        # Matrix: an incident declared in a room, through the leader.
        room_general = await alice.create_room(invite=[bot], encrypted=False)
        await alice.wait_for(room_general, bot_joined(bot), "the bot to join")
        await alice.send(room_general, "!incident start Replicated reminders")
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        await alice.join(room)
        await alice.wait_for(room, notice_from(bot, "Incident 1: Replicated reminders"), "summary")

        # Both closed, one right after the other: reminders every EVERY seconds from now.
        assert slack[1].command(team=ws, channel=channel, user="UADA", text="close",
                                response_url=fake.response_url()).status == 200
        await alice.send(room, "!incident close")
        await alice.wait_for(room, notice_from(bot, "Incident 1 closed"), "the close")

        # Two reminders on each platform with both replicas sweeping.
        await until(lambda: slack_reminders(channel, 2) and matrix_reminders(room, 2),
                    "the second reminder on both platforms", timeout=60)
        assert "this replica syncs" not in standby.output()

        # kill -9 of the Matrix leader, at a moment when it holds no reminder.
        await until(lambda: nothing_in_hand(engine), "a moment with no reminder in hand")
        leader.kill()
        killed = datetime.now(UTC)
        # Written while nobody syncs: the replica that takes over handles these in its
        # first sync, before it can post anything, while Matrix reminders are overdue.
        mark = len(alice.seen)
        for n in range(1, GAP_NOTES + 1):
            await alice.send(room, f"!incident note while nobody synced, {n}")

        await until(lambda: slack_reminders(channel, MAX) and matrix_reminders(room, MAX),
                    f"reminder {MAX} on both platforms", timeout=60)
        await until(lambda: all_done(engine), "every reminder recorded", timeout=30)
        # What the bot posted before this reaches alice before it does.
        marker = await alice.send(room, "all reminders are in")
        await alice.wait_for(room, lambda seen: seen.event_id == marker, "the marker")

        noted = [s.body for s in alice.seen[mark:] if notice_from(bot, "Noted")(s)]
        assert len(noted) == GAP_NOTES, noted
        for n in range(1, MAX + 1):
            assert slack_reminders(channel, n) == 1, (n, fake.bot_messages(channel))
            assert matrix_reminders(room, n) == 1, (n, [s.body for s in alice.events(room)])
        assert slack_reminders(channel, MAX + 1) == matrix_reminders(room, MAX + 1) == 0

    with engine.connect() as connection:
        rows = connection.execute(
            select(reminders.c.platform, reminders.c.occurrence, reminders.c.state,
                   reminders.c.attempts, reminders.c.claimed_by, reminders.c.claimed_at)
            .where(reminders.c.kind == "empty-sections")
        ).all()
        takeover = connection.execute(
            select(leases.c.taken_at).where(leases.c.holder.contains(f":{standby.pid}:"))
        ).scalar_one()
    for platform in ("slack", "matrix"):
        mine = sorted((r.occurrence, r.state, r.attempts) for r in rows if r.platform == platform)
        # Sent at the first attempt: none failed (and was put off) on a replica taking over.
        assert mine == [(n, "sent", 0) for n in range(1, MAX + 1)], (platform, mine)
    by_standby = f":{standby.pid}:"
    # The standby delivered Slack reminders while it stood by (before it took over)…
    assert [r for r in rows if r.platform == "slack" and by_standby in r.claimed_by
            and r.claimed_at < takeover], rows
    # … and every Matrix reminder due after the kill, once it had taken over.
    after_kill = [r for r in rows if r.platform == "matrix" and r.claimed_at > killed]
    assert after_kill and all(by_standby in r.claimed_by for r in after_kill), rows
    print(f"the standby took the Matrix lease {(takeover - killed).total_seconds():.1f} s "
          "after the kill")


def nothing_in_hand(engine: Engine) -> bool:
    """No reminder claimed, none due within QUIET: a sweep holds none now."""
    with engine.connect() as connection:
        rows = connection.execute(select(reminders.c.state, reminders.c.due_at)).all()
    soon = datetime.now(UTC) + QUIET
    return not any(r.state == "claimed" or (r.state == "pending" and r.due_at <= soon)
                   for r in rows)


def all_done(engine: Engine) -> bool:
    """Every reminder is recorded as done: none pending, none claimed."""
    with engine.connect() as connection:
        states = connection.execute(select(reminders.c.state)).scalars().all()
    return bool(states) and not [s for s in states if s in ("pending", "claimed")]
