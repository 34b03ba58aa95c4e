"""Acked means recorded: `kill -9` of `incident-bot run` in the middle of a burst of Slack
requests, then a restart. Nothing Slack got an ack for is lost, what it sends again is
handled, and nothing is applied twice. HTTP mode and Socket Mode, against the fake Slack.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlack
from slack_bot import (
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    children_of,
    command_payload,
    event_callback,
    free_port,
    port_open,
    reaction,
    wait_until,
)
from sqlalchemy import select

from storage.database import make_engine
from storage.orm import incidents, timeline_entries

pytestmark = pytest.mark.e2e

NOTES = 40
PINS = 40
KILL_AFTER_ACKS = 45
# Handling is slowed down (the Web API answers late) so that acked requests wait in the
# inbox when the bot is killed.
SLOW_METHODS = ("chat.postMessage", "reactions.add", "conversations.history")


@pytest.fixture
def slow_slack(fake_slack: FakeSlack) -> Iterator[FakeSlack]:
    for method in SLOW_METHODS:
        fake_slack.slow_down(method, 0.1)
    try:
        yield fake_slack
    finally:
        for method in SLOW_METHODS:
            fake_slack.slow_down(method, 0)


def bot_env(fake: FakeSlack, workdir: Path, *, http_port: int | None) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "INCIDENT_BOT_SLACK_API_URL": fake.api_url,
        "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{workdir}/bot.db",
        # What a dead process claimed is taken up again this soon after a restart.
        "INCIDENT_BOT_INBOX_RETRY_AFTER": "1s",
    }
    if http_port is None:
        env["SLACK_APP_TOKEN"] = APP_TOKEN
    else:
        env.update(
            {
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "INCIDENT_BOT_SLACK_PORT": str(http_port),
                "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
            }
        )
    return env


def entries(workdir: Path, workspace: str) -> list[Any]:
    engine = make_engine(f"sqlite:///{workdir}/bot.db")
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    select(
                        timeline_entries.c.kind,
                        timeline_entries.c.text,
                        timeline_entries.c.source_ref,
                        timeline_entries.c.removed_at,
                    )
                    .join(incidents, incidents.c.id == timeline_entries.c.incident_id)
                    .where(incidents.c.workspace == workspace)
                )
            )
    finally:
        engine.dispose()


@dataclass
class HttpBot:
    """`incident-bot run` in Slack HTTP mode on SQLite in `workdir`, and a workspace."""

    env: dict[str, str]
    port: int
    process: BotProcess
    sender: SlackSender
    ws: str
    general: str
    workdir: Path

    def declare(self, fake: FakeSlack, title: str) -> str:
        """`/incident start TITLE` in the general channel; the incident channel's id,
        once the bot has said all it says about it (nothing of it is still on its way)."""
        assert self.sender.command(team=self.ws, channel=self.general, user="UADA",
                                   text=f"start {title}",
                                   response_url=fake.response_url()).status == 200
        channel: str = fake.wait_for(
            lambda: next((c.id for c in fake.channels.values() if c.topic.endswith(title)),
                         None)
        )
        fake.wait_for(lambda: fake.bot_messages(channel), message="the summary")
        fake.wait_for(lambda: fake.bot_messages(self.general), message="the announcement")
        return channel

    def kill(self) -> None:
        """`kill -9` of the handling process, then of the bot, by pid."""
        for child in children_of(self.process.process.pid):
            os.kill(child, signal.SIGKILL)
        self.process.kill()

    def restart(self) -> BotProcess:
        restarted = BotProcess(env=self.env, workdir=self.workdir,
                               log_name="bot-restarted.log")
        restarted.wait_until(lambda: port_open(self.port))
        return restarted


def http_bot(fake: FakeSlack, workdir: Path) -> HttpBot:
    port = free_port()
    env = bot_env(fake, workdir, http_port=port)
    process = BotProcess(env=env, workdir=workdir)
    process.wait_until(lambda: port_open(port))
    return HttpBot(
        env=env, port=port, process=process, sender=SlackSender(port=port),
        ws=f"T{uuid.uuid4().hex[:8].upper()}",
        general=fake.add_channel(f"general-{uuid.uuid4().hex[:6]}",
                                 members={BOT_USER, "UADA"}),
        workdir=workdir,
    )


def inbox_rows(workdir: Path) -> int:
    with sqlite3.connect(workdir / "bot.db-inbox") as connection:
        return int(connection.execute("SELECT count(*) FROM inbox").fetchone()[0])


def the_burst(fake: FakeSlack, channel: str) -> tuple[list[str], list[str]]:
    """Note texts and the ts of the messages to 📌."""
    notes = [f"burst note {n} {uuid.uuid4().hex[:6]}" for n in range(NOTES)]
    pinned = [
        fake.post_user_message(channel, user="UBOB", text=f"chat line {n}") for n in range(PINS)
    ]
    return notes, pinned


def assert_applied_once(
    workdir: Path, workspace: str, acked_notes: set[str], all_notes: list[str], pinned: list[str]
) -> None:
    rows = entries(workdir, workspace)
    notes = Counter(row.text for row in rows if row.kind == "note")
    tags = Counter(row.source_ref for row in rows if row.kind == "tagged")
    for text in acked_notes:
        assert notes[text] == 1, f"acked note {text!r} applied {notes[text]} times"
    for text in all_notes:
        assert notes[text] <= 1, f"note {text!r} applied {notes[text]} times"
    for ts in pinned:
        assert tags[ts] == 1, f"the 📌 on {ts} applied {tags[ts]} times"


def test_http_kill_9_mid_burst_loses_nothing_acked_and_applies_nothing_twice(
    slow_slack: FakeSlack, tmp_path: Path
) -> None:
    fake = slow_slack
    running = http_bot(fake, tmp_path)
    bot, sender, ws = running.process, running.sender, running.ws
    channel = running.declare(fake, f"Killed mid-burst {uuid.uuid4().hex[:6]}")
    notes, pinned = the_burst(fake, channel)
    events = {ts: event_callback(ws, reaction("reaction_added", user="UADA", channel=channel,
                                              ts=ts, author="UBOB")) for ts in pinned}

    acked: set[str] = set()  # note texts and pinned ts that got a 200
    lock = threading.Lock()
    killed = threading.Event()

    def send(job: tuple[str, str]) -> None:
        kind, what = job
        try:
            if kind == "note":
                answer = sender.command(team=ws, channel=channel, user="UADA",
                                        text=f"note {what}", response_url=fake.response_url())
            else:
                answer = sender.event(events[what])
        except OSError:
            return  # the bot is gone: no ack
        if answer.status != 200:
            return
        with lock:
            acked.add(what)
            if len(acked) >= KILL_AFTER_ACKS and not killed.is_set():
                killed.set()
                bot.kill()

    jobs = [job for pair in zip(
        [("note", text) for text in notes], [("pin", ts) for ts in pinned], strict=True
    ) for job in pair]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, jobs))
    assert killed.is_set(), "the bot was not killed mid-burst"
    waiting = inbox_rows(tmp_path)
    assert waiting > 0, "nothing acked was waiting when the bot died: the test proves nothing"

    for method in SLOW_METHODS:
        fake.slow_down(method, 0)
    restarted = running.restart()
    try:
        # Slack sends again the events it got no 200 for; a person types again a command
        # that got no answer.
        for ts in pinned:
            if ts not in acked:
                answer = sender.event(events[ts], headers={"X-Slack-Retry-Num": "1",
                                                           "X-Slack-Retry-Reason": "http_error"})
                assert answer.status == 200
        retyped = [f"{text} (again)" for text in notes if text not in acked]
        for text in retyped:
            assert sender.command(team=ws, channel=channel, user="UADA", text=f"note {text}",
                                  response_url=fake.response_url()).status == 200
        wait_until(lambda: inbox_rows(tmp_path) == 0, "the inbox to empty")
        assert_applied_once(tmp_path, ws, {t for t in notes if t in acked} | set(retyped),
                            notes, pinned)
        assert "took up" in restarted.log()
    finally:
        assert restarted.stop() == 0, restarted.log_tail()


def test_socket_mode_kill_9_mid_burst_loses_nothing_acked_and_applies_nothing_twice(
    slow_slack: FakeSlack, tmp_path: Path
) -> None:
    fake = slow_slack
    env = bot_env(fake, tmp_path, http_port=None)
    opened = fake.connections_opened
    bot = BotProcess(env=env, workdir=tmp_path)
    bot.wait_until(lambda: fake.connections_opened > opened and fake.open_sockets > 0)
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    title = f"Socket killed mid-burst {uuid.uuid4().hex[:6]}"
    fake.push("slash_commands", command_payload(team=ws, channel=general, user="UADA",
                                                text=f"start {title}",
                                                response_url=fake.response_url()))
    channel = fake.wait_for(
        lambda: next((c.id for c in fake.channels.values() if c.topic.endswith(title)), None)
    )
    notes, pinned = the_burst(fake, channel)
    envelopes = {}
    for text, ts in zip(notes, pinned, strict=True):
        envelopes[text] = fake.push("slash_commands", command_payload(
            team=ws, channel=channel, user="UADA", text=f"note {text}",
            response_url=fake.response_url()))
        envelopes[ts] = fake.push("events_api", event_callback(ws, reaction(
            "reaction_added", user="UADA", channel=channel, ts=ts, author="UBOB")))

    def acked() -> set[str]:
        return {what for what, envelope in envelopes.items() if envelope.acked_at is not None}

    fake.wait_for(lambda: len(acked()) >= KILL_AFTER_ACKS, timeout=30, message="acks")
    bot.kill()
    acked_at_kill = acked()
    assert inbox_rows(tmp_path) > 0, "nothing acked was waiting: the test proves nothing"

    for method in SLOW_METHODS:
        fake.slow_down(method, 0)
    opened = fake.connections_opened
    # On the new connection the fake (like Slack) sends again every envelope not acked.
    restarted = BotProcess(env=env, workdir=tmp_path, log_name="bot-restarted.log")
    try:
        restarted.wait_until(lambda: fake.connections_opened > opened)
        fake.wait_for(lambda: len(acked()) == len(envelopes), timeout=60, message="all acks")
        wait_until(lambda: inbox_rows(tmp_path) == 0, "the inbox to empty")
        assert_applied_once(tmp_path, ws, set(notes), notes, pinned)
        assert acked_at_kill <= acked()
        assert "took up" in restarted.log()
    finally:
        assert restarted.stop() == 0, restarted.log_tail()


def test_a_start_killed_while_its_channel_opens_gets_its_channel_after_the_restart(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """`kill -9` of the bot (and its handling process) while Slack creates the incident's
    channel: the incident is stored, its channel not yet recorded. The restarted bot
    takes the acked `start` up from the inbox and finishes it."""
    fake = fake_slack
    running = http_bot(fake, tmp_path)
    sender, ws = running.sender, running.ws
    title = f"Killed opening {uuid.uuid4().hex[:6]}"
    creates = len(fake.calls_to("conversations.create"))
    fake.slow_down("conversations.create", 5)
    try:
        assert sender.command(team=ws, channel=running.general, user="UADA",
                              text=f"start {title}",
                              response_url=fake.response_url()).status == 200
        wait_until(lambda: len(fake.calls_to("conversations.create")) > creates,
                   "the channel being created")
        running.kill()
    finally:
        fake.slow_down("conversations.create", 0)
    [(stored_channel,)] = incident_channels(tmp_path, ws)
    assert stored_channel.startswith("(opening)"), "the kill came too late: nothing to prove"

    restarted = running.restart()
    try:
        wait_until(lambda: not incident_channels(tmp_path, ws)[0][0].startswith("(opening)"),
                   "the incident's channel to be recorded")
        [(channel_id,)] = incident_channels(tmp_path, ws)
        channel = fake.channels[channel_id]
        assert channel.topic.endswith(title)
        wait_until(lambda: "UADA" in channel.members, "the declarer to be invited")
        wait_until(lambda: any(title in m["text"] for m in fake.bot_messages(channel_id)),
                   "the incident's first message in its channel")
        # The channel is the incident's: a command there works.
        said_before = len(fake.bot_messages(channel_id))
        assert sender.command(team=ws, channel=channel_id, user="UADA", text="roles",
                              response_url=fake.response_url()).status == 200
        said = wait_until(lambda: fake.bot_messages(channel_id)[said_before:],
                          "the answer to `roles`")
        assert "Roles in incident 1" in said[0]["text"], said
        wait_until(lambda: inbox_rows(tmp_path) == 0, "the inbox to empty")
        assert "opening it now" in restarted.log()
    finally:
        assert restarted.stop() == 0, restarted.log_tail()


def incident_channels(workdir: Path, workspace: str) -> list[Any]:
    engine = make_engine(f"sqlite:///{workdir}/bot.db")
    try:
        with engine.connect() as connection:
            return list(connection.execute(
                select(incidents.c.channel_id).where(incidents.c.workspace == workspace)
            ))
    finally:
        engine.dispose()


def test_a_pin_whose_check_was_never_sent_gets_it_after_the_restart(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """`kill -9` after the 📌's entry was committed and before its ✅ reached Slack: the
    restarted bot takes the 📌 up from the inbox, records nothing more, and sends the ✅."""
    fake = fake_slack
    running = http_bot(fake, tmp_path)
    ws = running.ws
    channel = running.declare(fake, f"Killed reacting {uuid.uuid4().hex[:6]}")
    ts = fake.post_user_message(channel, user="UBOB", text="the disk is full on db-2")
    reacting = len(fake.calls_to("reactions.add"))
    # The ✅ is on its way when the bot dies, and never arrives.
    fake.slow_down("reactions.add", 5)
    fake.fail_next("reactions.add", "internal_error")
    try:
        assert running.sender.event(event_callback(ws, reaction(
            "reaction_added", user="UADA", channel=channel, ts=ts, author="UBOB"
        ))).status == 200
        wait_until(lambda: len(fake.calls_to("reactions.add")) > reacting, "the ✅ being sent")
        running.kill()
    finally:
        fake.slow_down("reactions.add", 0)
    assert [row.source_ref for row in entries(tmp_path, ws) if row.kind == "tagged"] == [ts]

    restarted = running.restart()
    try:
        wait_until(lambda: inbox_rows(tmp_path) == 0, "the inbox to empty")
        checks = wait_until(
            lambda: [r for r in fake.reactions_on(channel, ts) if BOT_USER in r["users"]],
            "the ✅ on the pinned message",
        )
        assert [r["name"] for r in checks] == ["white_check_mark"]
        assert [row.source_ref for row in entries(tmp_path, ws) if row.kind == "tagged"] == [ts]
    finally:
        assert restarted.stop() == 0, restarted.log_tail()


def test_a_note_whose_answer_was_never_sent_gets_it_after_the_restart(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """`kill -9` after the note was recorded and before its answer reached Slack: the
    restarted bot takes the command up from the inbox, records nothing more, and sends
    the answer kept with it."""
    fake = fake_slack
    running = http_bot(fake, tmp_path)
    ws = running.ws
    channel = running.declare(fake, f"Killed answering {uuid.uuid4().hex[:6]}")
    text = f"failover finished {uuid.uuid4().hex[:6]}"
    posted = len(fake.calls_to("chat.postMessage"))
    fake.slow_down("chat.postMessage", 5)  # the answer is on its way, and never arrives
    fake.fail_next("chat.postMessage", "internal_error")
    try:
        assert running.sender.command(team=ws, channel=channel, user="UADA",
                                      text=f"note {text}",
                                      response_url=fake.response_url()).status == 200
        wait_until(lambda: any("Noted on the timeline" in str(call.params.get("text"))
                               for call in fake.calls_to("chat.postMessage")[posted:]),
                   "the answer being sent")
        running.kill()
    finally:
        fake.slow_down("chat.postMessage", 0)
    assert [row.text for row in entries(tmp_path, ws) if row.kind == "note"] == [text]
    assert not [m for m in fake.bot_messages(channel) if "Noted on the timeline" in m["text"]]

    restarted = running.restart()
    try:
        wait_until(lambda: inbox_rows(tmp_path) == 0, "the inbox to empty")
        answers = wait_until(
            lambda: [m for m in fake.bot_messages(channel) if "Noted on the timeline" in m["text"]],
            "the answer to the note",
        )
        assert len(answers) == 1, answers
        assert [row.text for row in entries(tmp_path, ws) if row.kind == "note"] == [text]
    finally:
        assert restarted.stop() == 0, restarted.log_tail()


def test_an_unpin_whose_check_was_never_taken_off_gets_it_off_after_the_restart(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """`kill -9` after the 📌's removal was committed (the entry is off the timeline) and
    before the ✅ came off: the restarted bot takes the removal up from the inbox and
    takes the ✅ off, so the message no longer says "on the timeline"."""
    fake = fake_slack
    running = http_bot(fake, tmp_path)
    ws = running.ws
    channel = running.declare(fake, f"Killed unreacting {uuid.uuid4().hex[:6]}")
    ts = fake.post_user_message(channel, user="UBOB", text="the disk is full on db-2")
    pin = reaction("reaction_added", user="UADA", channel=channel, ts=ts, author="UBOB")
    assert running.sender.event(event_callback(ws, pin)).status == 200
    wait_until(lambda: fake.checked(channel, ts), "the ✅ on the pinned message")
    removing = len(fake.calls_to("reactions.remove"))
    fake.slow_down("reactions.remove", 5)  # the removal is on its way when the bot dies
    fake.fail_next("reactions.remove", "internal_error")
    try:
        unpin = reaction("reaction_removed", user="UADA", channel=channel, ts=ts, author="UBOB")
        assert running.sender.event(event_callback(ws, unpin)).status == 200
        wait_until(lambda: len(fake.calls_to("reactions.remove")) > removing,
                   "the ✅ being taken off")
        running.kill()
    finally:
        fake.slow_down("reactions.remove", 0)
    [entry] = [row for row in entries(tmp_path, ws) if row.kind == "tagged"]
    assert entry.removed_at is not None, "the kill came too late: nothing to prove"
    assert fake.checked(channel, ts)

    restarted = running.restart()
    try:
        wait_until(lambda: inbox_rows(tmp_path) == 0, "the inbox to empty")
        wait_until(lambda: not fake.checked(channel, ts), "the ✅ to come off")
        [entry] = [row for row in entries(tmp_path, ws) if row.kind == "tagged"]
        assert entry.removed_at is not None
    finally:
        assert restarted.stop() == 0, restarted.log_tail()
