"""The Slack adapter in Socket Mode, end to end: `incident-bot run` with SLACK_APP_TOKEN
opens a websocket through the fake's apps.connections.open and acks what it is sent."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER, Envelope, FakeSlack
from slack_bot import BotProcess, command_payload, event_callback, reaction

pytestmark = pytest.mark.e2e


def acked(fake: FakeSlack, envelope: Envelope) -> Envelope:
    return fake.wait_for(lambda: envelope if envelope.acked_at else None,
                         message=f"the ack of {envelope.type}")


def command(fake: FakeSlack, *, ws: str, channel: str, text: str) -> Envelope:
    payload: dict[str, Any] = command_payload(
        team=ws, channel=channel, user="UADA", text=text, response_url=fake.response_url()
    )
    return acked(fake, fake.push("slash_commands", payload))


def checks(fake: FakeSlack, channel: str, ts: str) -> int:
    return sum(
        1
        for call in fake.calls_to("reactions.add")
        if call.params.get("channel") == channel and call.params.get("timestamp") == ts
    )


def test_socket_mode_handles_commands_and_events_across_a_reconnect(
    socket_bot: BotProcess, fake_slack: FakeSlack
) -> None:
    fake = fake_slack
    assert [c.token for c in fake.calls_to("apps.connections.open")][-1] == APP_TOKEN
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})

    command(fake, ws=ws, channel=general, text="start Socket mode outage")
    channel = fake.wait_for(lambda: fake.channel_named("inc-1-socket-mode-outage"),
                            message="the incident channel")
    fake.wait_for(lambda: fake.bot_messages(channel.id), message="the summary")

    before = fake.post_user_message(channel.id, user="UBOB", text="Queue depth at 40k",
                                    at=datetime(2024, 10, 24, 9, 1, tzinfo=UTC))
    after = fake.post_user_message(channel.id, user="UCAROL", text="Consumers scaled to 12",
                                   at=datetime(2024, 10, 24, 9, 7, tzinfo=UTC))

    # A 📌 arrives, and right behind it Slack asks the client to reconnect. Whatever the
    # race, the event is handled once: acked on the old connection, or sent again on
    # the new one (the fake redelivers what was not acked) and then handled there.
    opened = fake.connections_opened
    first = fake.push("events_api", event_callback(ws, reaction(
        "reaction_added", user="UADA", channel=channel.id, ts=before, author="UBOB")))
    fake.disconnect()
    fake.wait_for(lambda: fake.connections_opened > opened and fake.open_sockets >= 1,
                  message="the reconnection")
    acked(fake, first)
    second = fake.push("events_api", event_callback(ws, reaction(
        "reaction_added", user="UADA", channel=channel.id, ts=after, author="UCAROL")))
    acked(fake, second)
    # Slack retrying the first event (retry_attempt 1) changes nothing.
    retried = fake.push("events_api", first.payload, retry_attempt=1)
    acked(fake, retried)

    fake.wait_for(lambda: checks(fake, channel.id, before) and checks(fake, channel.id, after),
                  message="✅ on both messages")
    command(fake, ws=ws, channel=channel.id, text="timeline")
    listing = fake.wait_for(
        lambda: next((m["text"] for m in fake.bot_messages(channel.id)
                      if m["text"].startswith("Timeline of incident 1")), None),
        message="the timeline",
    )
    assert listing.count("Queue depth at 40k") == 1
    assert listing.count("Consumers scaled to 12") == 1
    assert "2024-10-24 09:01 Bob Martin: Queue depth at 40k" in listing
    assert "2024-10-24 09:07 Carol Chen: Consumers scaled to 12" in listing
    # The ✅ is on each message (the retried 📌 asked for it again: Slack keeps one).
    assert fake.checked(channel.id, before) and fake.checked(channel.id, after)
    for secret in (BOT_TOKEN, APP_TOKEN):
        assert secret not in socket_bot.log()


def test_socket_mode_shortcut_adds_to_the_timeline(
    socket_bot: BotProcess, fake_slack: FakeSlack
) -> None:
    fake = fake_slack
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    command(fake, ws=ws, channel=general, text="start Shortcut over socket")
    channel = fake.wait_for(lambda: fake.channel_named("inc-1-shortcut-over-socket"),
                            message="the incident channel")
    fake.wait_for(lambda: fake.bot_messages(channel.id), message="the summary")
    ts = fake.post_user_message(channel.id, user="UBOB", text="Found the bad config")
    message = next(m for m in fake.channels[channel.id].messages if m["ts"] == ts)
    envelope = fake.push("interactive", {
        "type": "message_action",
        "callback_id": "add_to_incident_timeline",
        "trigger_id": uuid.uuid4().hex,
        "response_url": fake.response_url(),
        "team": {"id": ws},
        "channel": {"id": channel.id},
        "user": {"id": "UCAROL"},
        "message_ts": ts,
        "message": dict(message),
    })
    acked(fake, envelope)
    fake.wait_for(lambda: checks(fake, channel.id, ts) == 1, message="✅ from the shortcut")


def test_200_slash_commands_over_the_socket_are_all_acked_fast_and_all_applied(
    socket_bot: BotProcess, fake_slack: FakeSlack
) -> None:
    """As in HTTP mode: the ack goes back before the work (bench/ measures precisely)."""
    fake = fake_slack
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    command(fake, ws=ws, channel=general, text="start Socket under load")
    channel = fake.wait_for(lambda: fake.channel_named("inc-1-socket-under-load"),
                            message="the incident channel")
    fake.wait_for(lambda: fake.bot_messages(channel.id), message="the summary")

    def note(n: int) -> float:
        envelope = command(fake, ws=ws, channel=channel.id, text=f"note socket load {n}")
        assert envelope.acked_at is not None
        return envelope.acked_at - envelope.sent_at

    with ThreadPoolExecutor(max_workers=20) as pool:
        seconds = list(pool.map(note, range(200)))
    assert max(seconds) < 2.0, sorted(seconds)[-5:]
    fake.wait_for(
        lambda: sum("Noted on the timeline" in m["text"]
                    for m in fake.bot_messages(channel.id)) == 200,
        timeout=90,
        message="all 200 notes applied",
    )
