"""PostgreSQL unreachable for 30 s under `incident-bot run` (HTTP mode): what cannot be
stored is not acked, a slash command is told at once that nothing was recorded, what
was stored before waits, and the bot recovers by itself. A private server the test
starts and stops, never the shared one."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_slack import BOT_TOKEN, BOT_USER, FakeSlack
from private_postgres import PrivatePostgres
from slack_bot import (
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    event_callback,
    free_port,
    port_open,
    reaction,
)
from sqlalchemy import func, select

from storage.database import make_engine
from storage.orm import inbox, incidents, timeline_entries

pytestmark = pytest.mark.e2e

OUTAGE = 30.0


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def test_postgresql_away_for_30_s_loses_nothing_and_the_bot_recovers_by_itself(
    private_postgres: PrivatePostgres, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake = fake_slack
    port = free_port()
    bot = BotProcess(
        workdir=tmp_path,
        env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "INCIDENT_BOT_SLACK_PORT": str(port),
            "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
            "INCIDENT_BOT_SLACK_API_URL": fake.api_url,
            "INCIDENT_BOT_DATABASE_URL": private_postgres.url,
            "INCIDENT_BOT_INBOX_RETRY_AFTER": "1s",
        },
    )
    try:
        bot.wait_until(lambda: port_open(port))
        sender = SlackSender(port=port)
        ws = f"T{uuid.uuid4().hex[:8].upper()}"
        general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
        title = f"Database away {uuid.uuid4().hex[:6]}"
        assert sender.command(team=ws, channel=general, user="UADA", text=f"start {title}",
                              response_url=fake.response_url()).status == 200
        channel = fake.wait_for(
            lambda: next((c.id for c in fake.channels.values() if c.topic.endswith(title)), None)
        )
        fake.wait_for(lambda: fake.bot_messages(channel), message="the summary")
        fake.wait_for(lambda: any("declared" in m["text"] for m in fake.bot_messages(general)),
                      message="the declaration")
        before = fake.post_user_message(channel, user="UBOB", text="tagged just before")
        during = fake.post_user_message(channel, user="UBOB", text="tagged during the outage")
        # Stored, and still being handled when the server goes: the Web API is slow.
        fake.slow_down("conversations.history", 2.0)
        assert sender.event(event_callback(ws, reaction(
            "reaction_added", user="UADA", channel=channel, ts=before, author="UBOB"
        ))).status == 200
        private_postgres.stop()
        away_since = time.monotonic()

        # An event that cannot be stored gets no 200: Slack sends it again later.
        pinned_during = event_callback(ws, reaction(
            "reaction_added", user="UADA", channel=channel, ts=during, author="UBOB"))
        refused = sender.event(pinned_during)
        assert refused.status != 200, refused
        # A slash command is answered at once that nothing was recorded.
        answer = sender.command(team=ws, channel=channel, user="UADA",
                                text="note typed during the outage",
                                response_url=fake.response_url())
        assert answer.status == 200 and answer.seconds < 3.0, answer
        assert "nothing was done" in answer.body and "Try again" in answer.body, answer.body

        time.sleep(max(0.0, OUTAGE - (time.monotonic() - away_since)))
        assert bot.process.poll() is None, f"the bot died:\n{bot.log_tail()}"
        fake.slow_down("conversations.history", 0)
        private_postgres.start()

        # Slack's retry of the refused event, and the person typing the command again.
        retried = sender.event(pinned_during, headers={"X-Slack-Retry-Num": "1",
                                                       "X-Slack-Retry-Reason": "http_error"})
        assert retried.status == 200, retried
        assert sender.command(team=ws, channel=channel, user="UADA",
                              text="note typed during the outage",
                              response_url=fake.response_url()).status == 200

        engine = make_engine(private_postgres.url)
        try:
            def state() -> tuple[Counter[str], int]:
                with engine.connect() as connection:
                    rows = connection.execute(
                        select(timeline_entries.c.kind, timeline_entries.c.text)
                        .join(incidents, incidents.c.id == timeline_entries.c.incident_id)
                        .where(incidents.c.workspace == ws)
                    ).all()
                    waiting = connection.scalar(select(func.count()).select_from(inbox))
                return Counter(f"{row.kind}:{row.text}" for row in rows), int(waiting or 0)

            deadline = time.monotonic() + 60
            while True:
                seen, waiting = state()
                wanted = ("tagged:tagged just before", "tagged:tagged during the outage",
                          "note:typed during the outage")
                if all(seen[key] for key in wanted) and waiting == 0:
                    break
                assert time.monotonic() < deadline, (seen, waiting, bot.log_tail())
                time.sleep(0.2)
            assert all(seen[key] == 1 for key in wanted), seen
        finally:
            engine.dispose()
        log = bot.log()
        assert "the database is not answering" in log
    finally:
        code = bot.stop()
    assert code == 0, bot.log_tail()
