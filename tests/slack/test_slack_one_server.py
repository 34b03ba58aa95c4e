"""Slack's HTTP mode on the bot's one HTTP server: Slack's port answers /slack/events and
nothing else, the pages' port answers both, and /metrics counts the acks (in Socket
Mode too)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlack
from slack_bot import (
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    command_payload,
    free_port,
    port_open,
)

pytestmark = pytest.mark.e2e

START_HANDLED = 'incident_bot_events_handled_total{kind="command:start",platform="slack"} 1.0'


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read().decode()


@pytest.fixture
def one_server(fake_slack: FakeSlack, tmp_path: Path) -> Iterator[tuple[int, int]]:
    slack_port, pages_port = free_port(), free_port()
    bot = BotProcess(
        env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "INCIDENT_BOT_SLACK_API_URL": fake_slack.api_url,
            "INCIDENT_BOT_SLACK_PORT": str(slack_port),
            "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
            "INCIDENT_BOT_HTTP_PORT": str(pages_port),
            "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
        },
        workdir=tmp_path,
    )
    try:
        bot.wait_until(lambda: port_open(slack_port) and port_open(pages_port))
        yield slack_port, pages_port
    finally:
        assert bot.stop() == 0, bot.log_tail()


def test_slack_and_the_pages_share_one_server(
    one_server: tuple[int, int], fake_slack: FakeSlack
) -> None:
    slack_port, pages_port = one_server
    team = f"T{uuid.uuid4().hex[:8].upper()}"
    general = fake_slack.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    # Slack's Request URL answers Slack, and serves no page: it is often public.
    answer = SlackSender(port=slack_port).command(
        team=team, channel=general, user="UADA", text="start Search is slow",
        response_url=fake_slack.response_url(),
    )  # fmt: skip
    assert answer.status == 200
    assert fetch(f"http://127.0.0.1:{slack_port}/")[0] == 404
    assert fetch(f"http://127.0.0.1:{slack_port}/metrics")[0] == 404
    # The pages' address serves the incident Slack just declared, and Slack too.
    # The incident is handled after the ack, and listed once handled.
    assert eventually(lambda: "Search is slow" in fetch(f"http://127.0.0.1:{pages_port}/")[1])
    assert fetch(f"http://127.0.0.1:{pages_port}/")[0] == 200
    second = SlackSender(port=pages_port).command(
        team=team, channel=general, user="UADA", text="help",
        response_url=fake_slack.response_url(),
    )  # fmt: skip
    assert second.status == 200
    # A request without Slack's signature is refused on either port.
    unsigned = urllib.request.Request(
        f"http://127.0.0.1:{pages_port}/slack/events", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=10)
    assert refused.value.code == 401
    assert ack_count(pages_port) >= 3
    # Counted once handled, which is after the ack.
    assert eventually(lambda: START_HANDLED in metrics_of(pages_port)), metrics_of(pages_port)


def test_socket_mode_acks_are_timed_on_the_metrics_page(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """In Socket Mode /metrics counts the acks too: each envelope acked over the socket
    is one observation of the ack time, and an event ignored gets none."""
    pages_port = free_port()
    opened = fake_slack.connections_opened
    bot = BotProcess(
        env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "INCIDENT_BOT_SLACK_API_URL": fake_slack.api_url,
            "INCIDENT_BOT_HTTP_PORT": str(pages_port),
            "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
        },
        workdir=tmp_path,
    )
    try:
        bot.wait_until(lambda: port_open(pages_port) and fake_slack.connections_opened > opened
                       and fake_slack.open_sockets > 0)
        assert ack_count(pages_port) == 0
        team = f"T{uuid.uuid4().hex[:8].upper()}"
        general = fake_slack.add_channel(f"general-{uuid.uuid4().hex[:6]}",
                                         members={BOT_USER, "UADA"})
        envelopes = [
            fake_slack.push("slash_commands", command_payload(
                team=team, channel=general, user="UADA", text=text,
                response_url=fake_slack.response_url(),
            ))
            for text in ("help", "start Socket acks are timed", "help")
        ]
        fake_slack.wait_for(lambda: all(e.acked_at for e in envelopes), message="three acks")
        bot.wait_until(lambda: ack_count(pages_port) == 3)
        bot.wait_until(lambda: START_HANDLED in metrics_of(pages_port))
        assert ack_count(pages_port) == 3  # the replies sent meanwhile are not acks
    finally:
        assert bot.stop() == 0, bot.log_tail()


def metrics_of(pages_port: int) -> str:
    return fetch(f"http://127.0.0.1:{pages_port}/metrics")[1]


def ack_count(pages_port: int) -> float:
    return float(
        next(
            line
            for line in metrics_of(pages_port).splitlines()
            if line.startswith("incident_bot_slack_ack_seconds_count")
        ).split()[-1]
    )


def eventually(condition: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
