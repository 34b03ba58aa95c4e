"""Events per second through the service as an incident grows, beside plain driver inserts.

Run on demand (a smoke run with tiny sizes is in the tests):

    .venv/bin/python bench/ingest.py [--sizes 10,1000,10000] [--events 400] [--no-postgres]

For each backend (SQLite in a temporary file; PostgreSQL in a scratch database, reached
like the tests do: INCIDENT_BOT_TEST_POSTGRES, default host=127.0.0.1 port=5432
user=postgres) and each size N, one run, side by side:

- an incident is seeded with N timeline entries and the history N events leave behind
  (N processed event ids, N cancelled status-update reminders);
- `--events` chat events go through `IncidentBot.handle` with the real SQL unit of
  work, each a platform event with its id: in turn a note, a 📌 on a new message, a
  status change and a role handover, every one of them a new timeline entry;
- the same timeline rows are inserted with the plain driver (sqlite3 / psycopg), one
  transaction each, into the same table of the same database.

It prints events/s, ms per event (wall clock, and CPU time of this process: steadier on a
shared machine), the plain rate, the service's share of the plain
rate (target: at least 1/20) and each size's cost per event against the smallest size
(target: at most 1.2× at 10,000 entries).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.clock import ManualClock  # noqa: E402
from bot.commands import default_mention  # noqa: E402
from bot.domain import EntryKind  # noqa: E402
from bot.drafts.templates import builtin_registry  # noqa: E402
from bot.events import CommandReceived, InboundEvent, MessageTagged  # noqa: E402
from bot.ports import ChannelRef  # noqa: E402
from bot.reminders import ReminderKind, ReminderState  # noqa: E402
from bot.replies import Message  # noqa: E402
from bot.service import CoreSettings, IncidentBot  # noqa: E402
from storage.database import upgrade_database  # noqa: E402
from storage.orm import incidents, processed_events, reminders, timeline_entries  # noqa: E402
from storage.uow import SqlAlchemyUnitOfWorkFactory, unit_of_work_factory  # noqa: E402

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
PLATFORM = "bench"
WORKSPACE = "w"
ADMIN = os.environ.get(
    "INCIDENT_BOT_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)


class BenchChat:
    name = PLATFORM
    command_prefix = "/incident"

    def open_incident_channel(
        self, *, name: str, topic: str, invite: Sequence[str]
    ) -> ChannelRef:
        return ChannelRef(id=f"C-{name}", name=name)

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        pass

    def channel_link(self, *, workspace: str, channel_id: str) -> None:
        return None

    def display_name(self, user: str) -> str:
        return user

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return default_mention(token)


@dataclass
class Row:
    backend: str
    entries: int
    events: int
    service_per_s: float
    plain_per_s: float
    cpu_ms_per_event: float

    @property
    def ms_per_event(self) -> float:
        return 1000 / self.service_per_s

    @property
    def share_of_plain(self) -> float:
        return self.service_per_s / self.plain_per_s


def seed(factory: SqlAlchemyUnitOfWorkFactory, bot: IncidentBot, entries: int) -> str:
    """Declares the incident and fills its history up to `entries` timeline entries."""
    chat = BenchChat()
    replies = bot.handle(
        CommandReceived(
            workspace=WORKSPACE, channel="general", user="alice", text="start Checkout is down",
            posted_at=T0,
        ),
        platform=chat,
    )
    channel = next(r.channel for r in replies if isinstance(r, Message) and r.channel != "general")
    with factory.engine.begin() as connection:
        incident_id = connection.scalar(select(incidents.c.id))
        first = (connection.scalar(
            select(func.max(timeline_entries.c.seq)).where(
                timeline_entries.c.incident_id == incident_id
            )
        ) or 0) + 1
        moments = [T0 + timedelta(seconds=seq) for seq in range(first, entries + 1)]
        if moments:
            connection.execute(
                insert(timeline_entries),
                [
                    {
                        "incident_id": incident_id, "seq": seq, "occurred_at": at,
                        "captured_at": at, "kind": EntryKind.NOTE, "author": "bob",
                        "text": f"earlier note {seq}", "source_ref": f"seed/{seq}",
                        "tagged_by": [],
                    }
                    for seq, at in zip(range(first, entries + 1), moments, strict=True)
                ],
            )
            connection.execute(
                insert(processed_events),
                [
                    {"platform": PLATFORM, "event_id": f"seed-{seq}", "processed_at": at}
                    for seq, at in zip(range(first, entries + 1), moments, strict=True)
                ],
            )
            # Every entry restarted the status-update clock: one cancelled reminder each.
            connection.execute(
                insert(reminders),
                [
                    {
                        "workspace": WORKSPACE, "incident_number": 1, "platform": PLATFORM,
                        "kind": ReminderKind.STATUS_UPDATE, "due_at": at + timedelta(minutes=30),
                        "created_at": at, "occurrence": 1, "recipients": "comms,commander",
                        "state": ReminderState.CANCELLED, "attempts": 0, "finished_at": at,
                    }
                    for at in moments
                ],
            )
    return channel


def events(channel: str, first: int, count: int, start: datetime) -> Iterator[InboundEvent]:
    """Notes, 📌 on new messages, status changes and role handovers, in turn: each
    puts one entry on the timeline."""
    statuses = ("identified", "monitoring")
    people = ("carol", "dave")
    for number in range(first, first + count):
        at = start + timedelta(seconds=number - first)
        event_id = f"ev-{uuid.uuid4().hex}"
        turn = number % 4
        if turn == 0:
            yield CommandReceived(
                workspace=WORKSPACE, channel=channel, user="bob",
                text=f"note checked shard {number}", posted_at=at, event_id=event_id,
                message_ref=f"m/{number}",
            )
        elif turn == 1:
            yield MessageTagged(
                workspace=WORKSPACE, channel=channel, user="alice", message_ref=f"m/{number}",
                author="erin", text=f"the 5xx rate is {number / 10:.1f}%", posted_at=at,
                event_id=event_id,
            )
        elif turn == 2:
            yield CommandReceived(
                workspace=WORKSPACE, channel=channel, user="alice",
                text=f"status {statuses[(number // 4) % 2]}", posted_at=at, event_id=event_id,
            )
        else:
            yield CommandReceived(
                workspace=WORKSPACE, channel=channel, user="alice",
                text=f"role comms @{people[(number // 4) % 2]}", posted_at=at,
                event_id=event_id,
            )


def through_service(
    bot: IncidentBot, clock: ManualClock, channel: str, first: int, count: int
) -> tuple[float, float]:
    """Events per second (wall clock) and CPU milliseconds per event of this process."""
    chat = BenchChat()
    start = clock.now() + timedelta(minutes=1)
    batch = list(events(channel, first, count, start))
    began, cpu = time.perf_counter(), time.process_time()
    for event in batch:
        clock.advance_to(event.posted_at)
        replies = bot.handle(event, platform=chat)
        errors = [r for r in replies if isinstance(r, Message) and r.is_error]
        if errors:
            raise RuntimeError(f"the bench's event was refused: {errors[0].text}")
    return count / (time.perf_counter() - began), (time.process_time() - cpu) * 1000 / count


def plain_rows(first_seq: int, count: int) -> list[tuple[int, datetime, str]]:
    start = T0 + timedelta(days=1)
    return [
        (seq, start + timedelta(seconds=seq), f"plain note {seq}")
        for seq in range(first_seq, first_seq + count)
    ]


def plain_sqlite(path: str, incident_id: int, first_seq: int, count: int) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # The engine's settings (storage.database): WAL, foreign keys, a busy timeout.
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA busy_timeout = 15000")
        rows = plain_rows(first_seq, count)
        began = time.perf_counter()
        for seq, at, text in rows:
            moment = at.replace(tzinfo=None).isoformat(sep=" ")
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO timeline_entries (incident_id, seq, occurred_at, captured_at, kind,"
                " author, text, source_ref, tagged_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (incident_id, seq, moment, moment, "note", "bob", text, None, "[]"),
            )
            connection.execute("COMMIT")
        return count / (time.perf_counter() - began)
    finally:
        connection.close()


def plain_postgres(conninfo: str, incident_id: int, first_seq: int, count: int) -> float:
    with psycopg.connect(conninfo) as connection:
        rows = plain_rows(first_seq, count)
        began = time.perf_counter()
        for seq, at, text in rows:
            connection.execute(
                "INSERT INTO timeline_entries (incident_id, seq, occurred_at, captured_at, kind,"
                " author, text, source_ref, tagged_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (incident_id, seq, at, at, "note", "bob", text, None, Jsonb([])),
            )
            connection.commit()
        return count / (time.perf_counter() - began)


def measure(backend: str, url: str, entries: int, count: int, warmup: int) -> Row:
    upgrade_database(url)
    factory = unit_of_work_factory(url)
    try:
        clock = ManualClock(T0)
        bot = IncidentBot(
            uow=factory, clock=clock, settings=CoreSettings(), templates=builtin_registry()
        )
        channel = seed(factory, bot, entries)
        clock.advance_to(T0 + timedelta(seconds=entries + 1))
        # Connections, caches, statements; then the run, carrying on the turns.
        through_service(bot, clock, channel, 0, warmup)
        service, cpu_ms = through_service(bot, clock, channel, warmup, count)
        with factory.engine.connect() as connection:
            incident_id = int(connection.scalar(select(incidents.c.id)) or 0)
            highest = int(connection.scalar(select(func.max(timeline_entries.c.seq))) or 0)
    finally:
        factory.dispose()
    parsed = make_url(url)
    if backend == "SQLite":
        assert parsed.database is not None
        plain = plain_sqlite(parsed.database, incident_id, highest + 1, count)
    else:
        conninfo = (
            f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} "
            f"dbname={parsed.database}"
        )
        plain = plain_postgres(conninfo, incident_id, highest + 1, count)
    return Row(backend, entries, count, service, plain, cpu_ms)


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{directory}/bench.db"


@contextmanager
def postgres_url() -> Iterator[str]:
    name = f"incident_bot_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(ADMIN)
    try:
        yield (
            f"postgresql://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
            f"{params.get('port', 5432)}/{name}"
        )
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def report(rows: list[Row]) -> str:
    lines = [
        "| backend | entries | service events/s | ms/event | CPU ms/event | plain inserts/s "
        "| service/plain | cost vs smallest | CPU vs smallest |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        smallest = min((r for r in rows if r.backend == row.backend), key=lambda r: r.entries)
        lines.append(
            f"| {row.backend} | {row.entries:,} | {row.service_per_s:,.0f} | "
            f"{row.ms_per_event:.2f} | {row.cpu_ms_per_event:.2f} | {row.plain_per_s:,.0f} "
            f"| 1/{1 / row.share_of_plain:.1f} "
            f"| {smallest.service_per_s / row.service_per_s:.2f}× "
            f"| {row.cpu_ms_per_event / smallest.cpu_ms_per_event:.2f}× |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000,10000", help="entries before the run")
    parser.add_argument("--events", type=int, default=400, help="events measured per size")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    backends = [("SQLite", sqlite_url)]
    if not args.no_postgres:
        backends.append(("PostgreSQL", postgres_url))
    rows = []
    for backend, url_of in backends:
        for size in sizes:
            with url_of() as url:
                row = measure(backend, url, size, args.events, args.warmup)
            rows.append(row)
            print(
                f"{backend} {size:>6} entries: {row.service_per_s:8.0f} events/s "
                f"(plain {row.plain_per_s:8.0f}/s)",
                file=sys.stderr,
            )
    print(report(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2))
    return rows


if __name__ == "__main__":
    main()
