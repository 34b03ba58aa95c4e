"""Fixtures for the Slack adapter: one fake Slack per session, the bot as a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack, start_with_people
from slack_bot import SIGNING_SECRET, BotProcess, SlackSender, free_port, port_open


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    fake = start_with_people()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def http_bot(
    fake_slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BotProcess, SlackSender]]:
    """`incident-bot run` in HTTP mode, on a free port, with its own SQLite database."""
    workdir: Path = tmp_path_factory.mktemp("slack-http")
    port = free_port()
    bot = BotProcess(
        workdir=workdir,
        env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "INCIDENT_BOT_SLACK_PORT": str(port),
            "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
            "INCIDENT_BOT_SLACK_API_URL": fake_slack.api_url,
            "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{workdir}/bot.db",
        },
    )
    try:
        bot.wait_until(lambda: port_open(port))
        yield bot, SlackSender(port=port)
    finally:
        code = bot.stop()
    assert code == 0, f"SIGTERM should stop the bot cleanly:\n{bot.log_tail()}"


@pytest.fixture(scope="module")
def socket_bot(
    fake_slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    """`incident-bot run` in Socket Mode (SLACK_APP_TOKEN set), connected to the fake."""
    workdir: Path = tmp_path_factory.mktemp("slack-socket")
    opened = fake_slack.connections_opened
    bot = BotProcess(
        workdir=workdir,
        env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "INCIDENT_BOT_SLACK_API_URL": fake_slack.api_url,
            "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{workdir}/bot.db",
        },
    )
    try:
        bot.wait_until(
            lambda: fake_slack.connections_opened > opened and fake_slack.open_sockets > 0
        )
        yield bot
    finally:
        code = bot.stop()
    assert code == 0, f"SIGTERM should stop the bot cleanly:\n{bot.log_tail()}"
