"""Tagging on Slack with INCIDENT_BOT_TAG_EMOJI set: the configured reaction (by its
short name) puts a message on the timeline, 📌 does not; the bot's ✅ comes off with
the last tag (reactions.remove), and with `timeline remove`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_slack import BOT_TOKEN, BOT_USER, FakeSlack
from slack_bot import (
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    event_callback,
    free_port,
    port_open,
    reaction,
)

pytestmark = pytest.mark.e2e

CHECK = "white_check_mark"


@pytest.fixture
def sender(fake_slack: FakeSlack, tmp_path: Path) -> Iterator[SlackSender]:
    """`incident-bot run` in HTTP mode, tagging with 📍 (written as the emoji itself)."""
    port = free_port()
    bot = BotProcess(
        workdir=tmp_path,
        env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "INCIDENT_BOT_SLACK_PORT": str(port),
            "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
            "INCIDENT_BOT_SLACK_API_URL": fake_slack.api_url,
            "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
            "INCIDENT_BOT_TAG_EMOJI": "📍",
        },
    )
    try:
        bot.wait_until(lambda: port_open(port))
        yield SlackSender(port=port)
    finally:
        code = bot.stop()
    log = bot.log_path.read_text("utf-8", "replace")
    assert code == 0, log
    assert "Traceback" not in log, log


def test_the_configured_emoji_tags_and_the_check_follows_it(
    sender: SlackSender, fake_slack: FakeSlack
) -> None:
    fake = fake_slack
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    title = f"Queue backlog {uuid.uuid4().hex[:6]}"
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})

    def command(channel: str, text: str) -> None:
        answer = sender.command(team=ws, channel=channel, user="UADA", text=text,
                                response_url=fake.response_url())
        assert answer.status == 200, answer.body

    def react(kind: str, user: str, ts: str, name: str) -> None:
        event: dict[str, Any] = reaction(kind, user=user, channel=channel, ts=ts, author="UBOB")
        answer = sender.event(event_callback(ws, {**event, "reaction": name}))
        assert answer.status == 200, answer.body

    def checked(ts: str) -> bool:
        return any(r["name"] == CHECK and BOT_USER in r["users"]
                   for r in fake.reactions_on(channel, ts))

    def said(*words: str) -> list[str]:
        return [m["text"] for m in fake.bot_messages(channel)
                if all(word in m["text"] for word in words)]

    command(general, f"start {title}")
    channel = fake.wait_for(
        lambda: next((c for c in fake.channels.values() if c.topic.endswith(title)), None),
        message="the incident channel",
    ).id
    summary = fake.wait_for(lambda: said(f"Incident 1: {title}"), message="the summary")[0]
    assert "React with 📍 to put a message on the timeline" in summary
    other = fake.post_user_message(channel, user="UBOB", text="Lunch at noon?")
    stuck = fake.post_user_message(channel, user="UBOB", text="Consumers are stuck")

    react("reaction_added", "UADA", other, "pushpin")  # not the tagging emoji here
    react("reaction_added", "UADA", stuck, "round_pushpin")
    react("reaction_added", "UCAROL", stuck, "round_pushpin")
    fake.wait_for(lambda: checked(stuck), message="the ✅")
    command(channel, "timeline")
    listing = fake.wait_for(lambda: said("Timeline of incident 1"), message="the timeline")[0]
    assert listing.count("Consumers are stuck") == 1
    # One channel's events are handled in order: the 📌 came first and did nothing.
    assert "Lunch at noon?" not in listing and not checked(other)

    react("reaction_removed", "UADA", stuck, "round_pushpin")  # carol's still holds it
    react("reaction_removed", "UCAROL", stuck, "round_pushpin")
    fake.wait_for(lambda: said("Took #", "Consumers are stuck"), message="the untag")
    assert not checked(stuck)
    [removal] = [c for c in fake.calls_to("reactions.remove")
                 if c.params.get("channel") == channel]
    assert removal.params["timestamp"] == stuck and removal.params["name"] == CHECK

    # Tagged again, then taken off by command: the ✅ comes and goes with it.
    react("reaction_added", "UCAROL", stuck, "round_pushpin")
    fake.wait_for(lambda: checked(stuck), message="the ✅ again")
    seq = said("Took #")[0].split("#", 1)[1].split(" ", 1)[0]
    command(channel, f"timeline remove {seq}")
    fake.wait_for(lambda: said(f"Removed #{seq}"), message="the removal")
    assert not checked(stuck)
    assert len([c for c in fake.calls_to("reactions.remove")
                if c.params.get("channel") == channel]) == 2
