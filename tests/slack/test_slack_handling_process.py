"""What Slack is told "got it" for is handled in a child process of `incident-bot run`
(adapters/slack/handoff.py). A dead child is replaced and loses nothing; a dead parent
leaves no child behind; `INCIDENT_BOT_SLACK_HANDLING=thread` keeps it in one process.
"""

from __future__ import annotations

import os
import re
import signal
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fake_slack import BOT_TOKEN, BOT_USER, FakeSlack
from slack_bot import (
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    children_of,
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


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status  # a zombie has exited


def bot_env(fake: FakeSlack, workdir: Path, port: int, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "INCIDENT_BOT_SLACK_API_URL": fake.api_url,
        "INCIDENT_BOT_SLACK_PORT": str(port),
        "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
        "INCIDENT_BOT_HTTP_PORT": "0",
        "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{workdir}/bot.db",
        "INCIDENT_BOT_INBOX_RETRY_AFTER": "2s",
        **extra,
    }


def timeline(workdir: Path, workspace: str) -> list[Any]:
    engine = make_engine(f"sqlite:///{workdir}/bot.db")
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    select(timeline_entries.c.kind, timeline_entries.c.text,
                           timeline_entries.c.source_ref)
                    .join(incidents, incidents.c.id == timeline_entries.c.incident_id)
                    .where(incidents.c.workspace == workspace)
                )
            )
    finally:
        engine.dispose()


def declare(fake: FakeSlack, sender: SlackSender, workspace: str) -> str:
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    title = f"Handled elsewhere {uuid.uuid4().hex[:6]}"
    answer = sender.command(team=workspace, channel=general, user="UADA",
                            text=f"start {title}", response_url=fake.response_url())
    assert answer.status == 200
    channel = str(fake.wait_for(
        lambda: next((c.id for c in fake.channels.values() if c.topic.endswith(title)), None),
        timeout=30,
    ))
    # The summary is posted once the channel is recorded: `start` is finished (a kill
    # before that leaves the incident without its channel, a window of its own).
    fake.wait_for(lambda: any(call.params.get("channel") == channel
                              for call in fake.calls_to("chat.postMessage")), timeout=30)
    return channel


def test_a_killed_handling_process_is_replaced_and_what_was_acked_is_handled_once(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake = fake_slack
    port = free_port()
    bot = BotProcess(env=bot_env(fake, tmp_path, port), workdir=tmp_path)
    try:
        bot.wait_until(lambda: port_open(port))
        sender = SlackSender(port=port)
        workspace = f"T{uuid.uuid4().hex[:8].upper()}"
        channel = declare(fake, sender, workspace)
        [child] = wait_until(lambda: children_of(bot.process.pid), "the handling process")

        # The child is killed while the acks go on: each of these gets its 200 from the
        # parent, whether or not a child is there to handle it yet.
        os.kill(child, signal.SIGKILL)
        notes = [f"while it was down {n} {uuid.uuid4().hex[:6]}" for n in range(10)]
        pinned = [fake.post_user_message(channel, user="UBOB", text=f"line {n}")
                  for n in range(5)]
        for text in notes:
            answer = sender.command(team=workspace, channel=channel, user="UADA",
                                    text=f"note {text}", response_url=fake.response_url())
            assert answer.status == 200
        for ts in pinned:
            answer = sender.event(event_callback(workspace, reaction(
                "reaction_added", user="UADA", channel=channel, ts=ts, author="UBOB")))
            assert answer.status == 200

        def all_there() -> bool:
            rows = timeline(tmp_path, workspace)
            return {r.text for r in rows if r.kind == "note"} >= set(notes) and {
                r.source_ref for r in rows if r.kind == "tagged"} >= set(pinned)

        try:
            wait_until(all_there, "every acked note and 📌 on the timeline", timeout=60)
        except AssertionError as problem:
            raise AssertionError(f"{problem}\n{bot.log_tail(60)}") from None
        rows = timeline(tmp_path, workspace)
        assert Counter(r.text for r in rows if r.kind == "note") == Counter(notes)
        assert Counter(r.source_ref for r in rows if r.kind == "tagged") == Counter(pinned)
        [replacement] = children_of(bot.process.pid)
        assert replacement != child
        # What the handling process counted is on the bot's /metrics, served by the parent.
        found = re.search(r"web pages at (http://\S+)", bot.log())
        assert found, bot.log_tail()
        with urllib.request.urlopen(f"{found.group(1)}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        handled = re.search(
            r'incident_bot_events_handled_total\{kind="command:note",platform="slack"\} (\S+)',
            metrics,
        )
        assert handled and float(handled.group(1)) >= len(notes), metrics[:2000]
        assert f"the Slack handling process {child} exited with -9" in bot.log()
        # Each 📌 confirmed, by whichever process handled it (one handled again after
        # the kill asks for its ✅ again, which Slack keeps once).
        assert all(fake.checked(channel, ts) for ts in pinned)
    finally:
        bot.stop()
    assert not alive(replacement), "the handling process outlived a clean stop"


def test_the_handling_process_does_not_outlive_a_killed_bot(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    bot = BotProcess(env=bot_env(fake_slack, tmp_path, port), workdir=tmp_path)
    bot.wait_until(lambda: port_open(port))
    [child] = wait_until(lambda: children_of(bot.process.pid), "the handling process")
    bot.kill()
    wait_until(lambda: not alive(child), "the orphaned handling process to exit", timeout=20)


def test_thread_handling_keeps_one_process(fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake = fake_slack
    port = free_port()
    env = bot_env(fake, tmp_path, port, INCIDENT_BOT_SLACK_HANDLING="thread")
    bot = BotProcess(env=env, workdir=tmp_path)
    try:
        bot.wait_until(lambda: port_open(port))
        sender = SlackSender(port=port)
        workspace = f"T{uuid.uuid4().hex[:8].upper()}"
        channel = declare(fake, sender, workspace)
        answer = sender.command(team=workspace, channel=channel, user="UADA",
                                text="note handled here", response_url=fake.response_url())
        assert answer.status == 200
        wait_until(lambda: any(r.text == "handled here" for r in timeline(tmp_path, workspace)),
                   "the note")
        assert children_of(bot.process.pid) == []
    finally:
        bot.stop()


def test_a_handling_mode_that_does_not_exist_is_explained(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = bot_env(fake_slack, tmp_path, free_port(), INCIDENT_BOT_SLACK_HANDLING="forked")
    bot = BotProcess(env=env, workdir=tmp_path)
    assert bot.process.wait(timeout=30) == 2
    assert "INCIDENT_BOT_SLACK_HANDLING: `forked` is not a handling mode; use `process`" in (
        bot.log()
    )
