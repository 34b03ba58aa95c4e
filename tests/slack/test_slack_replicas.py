"""Two `incident-bot run` processes in Slack HTTP mode on one PostgreSQL, behind a small
round-robin front: every request is acked, every event applied once, nobody told that
something went wrong."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlack
from slack_bot import (
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    command_payload,
    event_callback,
    free_port,
    port_open,
    reaction,
)
from sqlalchemy import func, select

from storage.database import make_engine
from storage.orm import inbox, incidents, timeline_entries

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

NOTES = 60
PINS = 60


class RoundRobin:
    """Forwards each request to the next backend in turn, as a load balancer would."""

    def __init__(self, backends: list[int]) -> None:
        turns = itertools.cycle(backends)
        lock = threading.Lock()

        class Forward(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    backend = next(turns)
                connection = http.client.HTTPConnection("127.0.0.1", backend, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    connection.request("POST", self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.getheader("Content-Type") or "")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    connection.close()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def replicas(
    postgres_url: str, fake_slack: FakeSlack, tmp_path: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[SlackSender, list[BotProcess]]]:
    """Two `incident-bot run` processes in HTTP mode on one database, behind a front."""
    ports = [free_port(), free_port()]
    bots = []
    for n, port in enumerate(ports):
        workdir = tmp_path / f"replica-{n}"
        workdir.mkdir()
        bots.append(BotProcess(workdir=workdir, env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "INCIDENT_BOT_SLACK_PORT": str(port),
            "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
            "INCIDENT_BOT_SLACK_API_URL": fake_slack.api_url,
            "INCIDENT_BOT_DATABASE_URL": postgres_url,
            "INCIDENT_BOT_INBOX_RETRY_AFTER": "2s",
            **(env or {}),
        }))
    front = None
    try:
        for bot, port in zip(bots, ports, strict=True):
            bot.wait_until(lambda port=port: port_open(port))  # type: ignore[misc]
        front = RoundRobin(ports)
        yield SlackSender(port=front.port), bots
    finally:
        if front is not None:
            front.close()
        codes = [bot.stop() for bot in bots]
    assert codes == [0, 0], [bot.log_tail() for bot in bots]


@pytest.fixture
def two_replicas(
    postgres_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> Iterator[tuple[SlackSender, list[BotProcess]]]:
    with replicas(postgres_url, fake_slack, tmp_path) as running:
        yield running


def test_two_replicas_ack_every_request_and_apply_each_once(
    two_replicas: tuple[SlackSender, list[BotProcess]], fake_slack: FakeSlack, postgres_url: str
) -> None:
    sender, bots = two_replicas
    fake = fake_slack
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    title = f"Two replicas {uuid.uuid4().hex[:6]}"
    assert sender.command(team=ws, channel=general, user="UADA", text=f"start {title}",
                          response_url=fake.response_url()).status == 200
    channel = fake.wait_for(
        lambda: next((c.id for c in fake.channels.values() if c.topic.endswith(title)), None)
    )
    fake.wait_for(lambda: fake.bot_messages(channel), message="the summary")
    notes = [f"replica note {n} {uuid.uuid4().hex[:6]}" for n in range(NOTES)]
    pinned = [fake.post_user_message(channel, user="UBOB", text=f"line {n}")
              for n in range(PINS)]
    response_url = fake.response_url()

    def send(n: int) -> int:
        if n % 2:
            return sender.command(team=ws, channel=channel, user="UADA",
                                  text=f"note {notes[n // 2]}", response_url=response_url).status
        event = event_callback(ws, reaction("reaction_added", user="UADA", channel=channel,
                                            ts=pinned[n // 2], author="UBOB"))
        status = sender.event(event).status
        # Slack's retry of it, which the front sends to the other replica.
        retry = sender.event(event, headers={"X-Slack-Retry-Num": "1",
                                             "X-Slack-Retry-Reason": "http_timeout"}).status
        return status if retry == 200 else retry

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(send, range(NOTES + PINS)))
    assert statuses == [200] * (NOTES + PINS)

    engine = make_engine(postgres_url)
    try:
        deadline = time.monotonic() + 90
        while True:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(timeline_entries.c.kind, timeline_entries.c.text,
                           timeline_entries.c.source_ref)
                    .join(incidents, incidents.c.id == timeline_entries.c.incident_id)
                    .where(incidents.c.workspace == ws)
                ).all()
                waiting = connection.scalar(select(func.count()).select_from(inbox))
            noted = Counter(row.text for row in rows if row.kind == "note")
            tagged = Counter(row.source_ref for row in rows if row.kind == "tagged")
            if all(noted[t] for t in notes) and all(tagged[ts] for ts in pinned) and not waiting:
                break
            assert time.monotonic() < deadline, (len(noted), len(tagged), waiting)
            time.sleep(0.2)
    finally:
        engine.dispose()
    assert all(noted[t] == 1 for t in notes), noted
    assert all(tagged[ts] == 1 for ts in pinned), tagged
    told = [body for _, body in fake.responses] + [
        str(call.params.get("text")) for call in fake.calls_to("chat.postEphemeral")
    ]
    assert not [text for text in told if "went wrong" in text], told
    # Both replicas did part of the work.
    assert all("Slack HTTP mode listening" in bot.log() for bot in bots)


def test_two_socket_mode_connections_apply_each_event_once(
    postgres_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Slack may deliver an event on either connection, and a retry on the other."""
    fake = fake_slack
    before = fake.open_sockets
    bots = []
    try:
        for n in range(2):
            workdir = tmp_path / f"replica-{n}"
            workdir.mkdir()
            bots.append(BotProcess(workdir=workdir, env={
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_APP_TOKEN": APP_TOKEN,
                "INCIDENT_BOT_SLACK_API_URL": fake.api_url,
                "INCIDENT_BOT_DATABASE_URL": postgres_url,
                "INCIDENT_BOT_INBOX_RETRY_AFTER": "2s",
            }))
            bots[-1].wait_until(lambda n=n: fake.open_sockets >= before + n + 1)  # type: ignore[misc]
        first, second = before, before + 1  # this test's two connections
        ws = f"T{uuid.uuid4().hex[:8].upper()}"
        general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
        title = f"Two sockets {uuid.uuid4().hex[:6]}"
        fake.push("slash_commands", command_payload(
            team=ws, channel=general, user="UADA", text=f"start {title}",
            response_url=fake.response_url()), connection=first)
        channel = fake.wait_for(
            lambda: next((c.id for c in fake.channels.values() if c.topic.endswith(title)), None)
        )
        fake.wait_for(lambda: fake.bot_messages(channel), message="the summary")
        pinned = [fake.post_user_message(channel, user="UBOB", text=f"line {n}")
                  for n in range(PINS)]
        envelopes = []
        for n, ts in enumerate(pinned):
            event = event_callback(ws, reaction("reaction_added", user="UADA", channel=channel,
                                                ts=ts, author="UBOB"))
            # Once on one connection, and Slack's retry of it on the other.
            envelopes.append(fake.push("events_api", event,
                                       connection=first if n % 2 else second))
            envelopes.append(fake.push("events_api", event, retry_attempt=1,
                                       connection=second if n % 2 else first))
        fake.wait_for(lambda: all(e.acked_at for e in envelopes), timeout=60, message="acks")
        engine = make_engine(postgres_url)
        try:
            deadline = time.monotonic() + 60
            while True:
                with engine.connect() as connection:
                    tagged = Counter(
                        row.source_ref for row in connection.execute(
                            select(timeline_entries.c.source_ref)
                            .join(incidents, incidents.c.id == timeline_entries.c.incident_id)
                            .where(incidents.c.workspace == ws,
                                   timeline_entries.c.kind == "tagged")
                        )
                    )
                    waiting = connection.scalar(select(func.count()).select_from(inbox))
                if all(tagged[ts] for ts in pinned) and not waiting:
                    break
                assert time.monotonic() < deadline, (len(tagged), waiting)
                time.sleep(0.2)
        finally:
            engine.dispose()
        assert all(tagged[ts] == 1 for ts in pinned), tagged
        assert all(fake.checked(channel, ts) for ts in pinned)
    finally:
        codes = [bot.stop() for bot in bots]
    assert codes == [0] * len(bots), [bot.log_tail() for bot in bots]


def test_two_replicas_deliver_each_reminder_once(
    postgres_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Both replicas sweep the one database every second: each reminder still reaches
    its channel once, however the two race for it."""
    fake = fake_slack
    reminders = {
        "INCIDENT_BOT_DECLARER_IS_COMMANDER": "false",
        "INCIDENT_BOT_REMIND_NO_COMMANDER_AFTER": "3s",
        "INCIDENT_BOT_REMIND_SECTIONS_AFTER": "2s",
        "INCIDENT_BOT_REMIND_SECTIONS_EVERY": "2s",
        "INCIDENT_BOT_REMIND_SECTIONS_MAX": "3",
        "INCIDENT_BOT_REMIND_SWEEP_INTERVAL": "1s",
    }
    with replicas(postgres_url, fake, tmp_path, reminders) as (sender, bots):
        ws = f"T{uuid.uuid4().hex[:8].upper()}"
        general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
        channels = []
        for title in (f"Open {uuid.uuid4().hex[:6]}", f"Closed {uuid.uuid4().hex[:6]}"):
            assert sender.command(team=ws, channel=general, user="UADA", text=f"start {title}",
                                  response_url=fake.response_url()).status == 200
            channels.append(fake.wait_for(lambda title=title: next(  # type: ignore[misc]
                (c.id for c in fake.channels.values() if c.topic.endswith(title)), None)))
            # Saved as the incident's channel once the summary is posted there; a command
            # sent before would be answered that the channel has no incident.
            fake.wait_for(lambda: fake.bot_messages(channels[-1]), message="the summary")
        live, closed = channels
        assert sender.command(team=ws, channel=closed, user="UADA", text="close",
                              response_url=fake.response_url()).status == 200

        def posted(channel: str, words: str) -> int:
            return sum(words in str(call.params.get("text", ""))
                       for call in fake.calls_to("chat.postMessage")
                       if call.params.get("channel") == channel)

        fake.wait_for(lambda: posted(closed, "Reminder 3 of 3"), timeout=60,
                      message="the last empty-sections reminder")
        fake.wait_for(lambda: posted(live, "has no commander"), timeout=60,
                      message="the no-commander reminder")
        time.sleep(4)  # four more sweeps by each replica: room for a second delivery
        assert posted(live, "has no commander") == 1
        for n in (1, 2, 3):
            assert posted(closed, f"Reminder {n} of 3") == 1, n
        assert posted(closed, "Reminder 4") == 0
        for bot in bots:
            assert "not delivered" not in bot.log(), bot.log_tail()
