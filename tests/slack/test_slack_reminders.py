"""Reminders end to end on Slack: `incident-bot run` (HTTP mode) against the fake Slack,
with short reminder settings, restarted before each reminder falls due.

Each reminder must arrive in the incident's channel, once, addressed to the right
person as `<@U…>`, naming each empty section with `/incident set …`; and nothing more
arrives once the sections are written.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_slack import BOT_TOKEN, BOT_USER, Call, FakeSlack
from slack_bot import SIGNING_SECRET, BotProcess, SlackSender, free_port, port_open

pytestmark = pytest.mark.e2e

SWEEP = 1.0
NO_COMMANDER_AFTER = 18
STATUS_EVERY = 20
SECTIONS_AFTER = 20
SECTIONS_EVERY = 5
SECTIONS = ("impact", "summary", "root-cause", "resolution", "prevention")


class RestartingBot:
    """`incident-bot run` on one database, started again on a new port when asked."""

    def __init__(self, fake: FakeSlack, tmp_path: Path) -> None:
        self._fake = fake
        self._tmp_path = tmp_path
        self._runs = 0
        self.process: BotProcess | None = None
        self.sender: SlackSender | None = None
        self.logs: list[str] = []

    def start(self) -> SlackSender:
        self._runs += 1
        workdir = self._tmp_path / f"run-{self._runs}"
        workdir.mkdir()
        port = free_port()
        self.process = BotProcess(
            workdir=workdir,
            env={
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "INCIDENT_BOT_SLACK_PORT": str(port),
                "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
                "INCIDENT_BOT_SLACK_API_URL": self._fake.api_url,
                "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{self._tmp_path}/bot.db",
                "INCIDENT_BOT_DECLARER_IS_COMMANDER": "false",
                "INCIDENT_BOT_REMIND_NO_COMMANDER_AFTER": f"{NO_COMMANDER_AFTER}s",
                "INCIDENT_BOT_REMIND_STATUS_EVERY": f"{STATUS_EVERY}s",
                "INCIDENT_BOT_REMIND_SECTIONS_AFTER": f"{SECTIONS_AFTER}s",
                "INCIDENT_BOT_REMIND_SECTIONS_EVERY": f"{SECTIONS_EVERY}s",
                "INCIDENT_BOT_REMIND_SWEEP_INTERVAL": f"{SWEEP:.0f}s",
            },
        )
        self.process.wait_until(lambda: port_open(port))
        self.sender = SlackSender(port=port)
        return self.sender

    def stop(self) -> None:
        if self.process is not None:
            code = self.process.stop()
            self.logs.append(self.process.log_path.read_text("utf-8", "replace"))
            assert code == 0, self.logs[-1]
            self.process = None


@pytest.fixture
def bot(fake_slack: FakeSlack, tmp_path: Path) -> Iterator[RestartingBot]:
    runner = RestartingBot(fake_slack, tmp_path)
    try:
        yield runner
    finally:
        runner.stop()
    log = "\n".join(runner.logs)
    assert "not delivered" not in log, log
    assert "Traceback" not in log, log


def posts(fake: FakeSlack, channel: str, *words: str) -> list[Call]:
    """The bot's chat.postMessage calls in `channel` whose text holds every word."""
    return [
        call
        for call in fake.calls_to("chat.postMessage")
        if call.params.get("channel") == channel
        and all(word in str(call.params.get("text", "")) for word in words)
    ]


def test_every_reminder_arrives_once_after_a_restart(
    bot: RestartingBot, fake_slack: FakeSlack
) -> None:
    fake = fake_slack
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    tag = uuid.uuid4().hex[:6]
    general = fake.add_channel(f"general-{tag}", members={BOT_USER, "UADA"})
    bot.start()

    def command(channel: str, text: str, *answer: str) -> float:
        """Sends the command and waits for its answer; returns when it was sent (the core
        dates it on arrival, a little later; the answer may come a while after that)."""
        before = len(posts(fake, channel, *answer))
        sender = bot.sender
        assert sender is not None
        sent_at = time.time()
        reply = sender.command(team=ws, channel=channel, user="UADA", text=text,
                               response_url=fake.response_url())
        assert reply.status == 200, reply.body
        fake.wait_for(
            lambda: posts(fake, channel, *answer)[before:], message=f"the answer to {text}"
        )
        return sent_at

    def incident(number: int, title: str) -> tuple[str, float]:
        sent_at = time.time()  # the core dates `start` when Bolt hands it over, just after
        command(general, f"start {title}", f"Incident {number} declared")
        channel = next(c for c in fake.channels.values() if c.topic.endswith(title))
        return channel.id, sent_at

    def reminder(channel: str, due: float, what: str, *words: str) -> Call:
        arrived = fake.wait_for(
            lambda: posts(fake, channel, *words), timeout=due - time.time() + 30,
            message=f"the {what} reminder",
        )[-1]
        print(f"{what} reminder arrived {arrived.at - due:+.2f} s after its due time")
        assert arrived.at >= due - 0.5, f"the {what} reminder came early"
        return arrived

    # Incident 1 is closed at once, with every section empty and nobody in a role.
    closed_channel, _ = incident(1, f"Cache stampede {tag}")
    closed_at = command(closed_channel, "close", "Incident 1 closed")
    sections_due = closed_at + SECTIONS_AFTER
    # Incident 2 stays open without a commander; its comms lead is bob.
    live, declared = incident(2, f"Disk full on db {tag}")
    no_commander_due = declared + NO_COMMANDER_AFTER
    comms_at = command(live, "role comms <@UBOB|bob>", "is now Communications Lead")
    status_due = comms_at + STATUS_EVERY  # a timeline change restarts the clock

    # Restarted before any of them is due; nothing happens in those channels after it.
    began = time.time()
    bot.stop()
    bot.start()
    print(f"set up in {began - closed_at:.1f} s, restarted in {time.time() - began:.1f} s")
    first_due = min(no_commander_due, status_due, sections_due)
    assert time.time() < first_due, "the restart took too long for this test"
    print(f"restart done {first_due - time.time():.1f} s before the first reminder was due")

    # No commander: to the channel as a whole.
    no_commander = reminder(live, no_commander_due, "no-commander", "has no commander")
    assert "`/incident role commander me`" in no_commander.params["text"]

    # Empty sections: to the declarer (nobody holds a role), each section by command.
    first = reminder(closed_channel, sections_due, "empty-sections", "Reminder 1 of 5")
    text = first.params["text"]
    assert text.startswith("<@UADA>: the postmortem of incident 1")
    for section in SECTIONS:
        assert f"`/incident set {section} TEXT`" in text, text
    assert "!incident" not in text
    command(closed_channel, "set impact Writes failed for 12 minutes.", "Section `impact`")

    # Status update: to the comms lead, in Slack's mention form.
    status = reminder(live, status_due, "status-update", "no status update")
    assert status.params["text"].startswith("<@UBOB>: no status update in incident 2")
    assert "`/incident status investigating|identified|monitoring|resolved`" in (
        status.params["text"]
    )
    command(live, "status resolved", "Status: resolved")

    # The next empty-sections reminder, SECTIONS_EVERY later, names the others.
    sections_due += SECTIONS_EVERY  # the cadence of the due times, not of the arrivals
    second = reminder(closed_channel, sections_due, "second empty-sections", "Reminder 2 of 5")
    assert "`/incident set impact TEXT`" not in second.params["text"]
    assert "`/incident set summary TEXT`" in second.params["text"]
    for section in SECTIONS[1:]:
        command(closed_channel, f"set {section} Written.", f"Section `{section}`")

    # Quiet from now on: wait past the time the third would have been due.
    quiet_until = max(sections_due + SECTIONS_EVERY, status_due + 1) + 3 * SWEEP
    fake.wait_for(lambda: time.time() > quiet_until, timeout=quiet_until - time.time() + 10,
                  message="the quiet time")
    assert len(posts(fake, live, "has no commander")) == 1
    assert len(posts(fake, live, "no status update")) == 1
    assert len(posts(fake, closed_channel, "Reminder ")) == 2
    assert not posts(fake, general, "remind")
