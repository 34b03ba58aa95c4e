"""How long one reminder sweep takes with 10,000 incidents in the database, on SQLite and
on PostgreSQL: the numbers behind the default sweep interval (5 s).

Run on demand (not part of `make test`):

    .venv/bin/python bench/reminder_sweep.py [--incidents 10000] [--due 200] [--no-postgres]

For each backend it fills a fresh database with N incidents the way months of use
would leave them (most closed, with their reminder history: sent, cancelled, one
pending in the future each) and measures, side by side in one run:

- an idle sweep (nothing due), the case every sweep but a few is: with N incidents and
  with an empty database, so the ratio shows whether the cost grows with the history;
- a sweep that delivers `--due` due reminders (to an outlet that only counts), per
  reminder;
- for scale, handling one chat command (`note`) on the same database.

PostgreSQL is reached like the tests do (INCIDENT_BOT_TEST_POSTGRES, default
host=127.0.0.1 port=5432 user=postgres); a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy import insert, update  # noqa: E402

from bot.clock import ManualClock  # noqa: E402
from bot.drafts.templates import builtin_registry  # noqa: E402
from bot.events import CommandReceived  # noqa: E402
from bot.reminder_delivery import DeliveryReport  # noqa: E402
from bot.replies import Reply  # noqa: E402
from bot.service import CoreSettings, IncidentBot  # noqa: E402
from storage.database import upgrade_database  # noqa: E402
from storage.orm import incidents, reminder_controls, reminders, timeline_entries  # noqa: E402
from storage.uow import SqlAlchemyUnitOfWorkFactory, unit_of_work_factory  # noqa: E402

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PLATFORM = "bench"
ADMIN = os.environ.get(
    "INCIDENT_BOT_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)


class CountingOutlet:
    command_prefix = "/incident"

    def __init__(self) -> None:
        self.count = 0

    def mention(self, user: str) -> str:
        return f"@{user}"

    def deliver(self, replies: Sequence[Reply]) -> None:
        self.count += len(replies)


class FakeChat:
    name = PLATFORM
    command_prefix = "/incident"

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> object:
        raise AssertionError("the bench starts no incident")

    def display_name(self, user: str) -> str:
        return user

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return token[1:] if token.startswith("@") else None

    def channel_link(self, *, workspace: str, channel_id: str) -> None:
        return None  # no permalinks here


def seed(factory: SqlAlchemyUnitOfWorkFactory, count: int) -> None:
    """`count` incidents: 90 % closed a while ago, 10 % open; each with a reminder history."""
    incident_rows, entry_rows, reminder_rows, control_rows = [], [], [], []
    for number in range(1, count + 1):
        declared = NOW - timedelta(days=200) + timedelta(minutes=number * 25)
        declared = min(declared, NOW - timedelta(hours=2))
        closed = number % 10 != 0
        incident_rows.append(
            {
                "workspace": "T1", "number": number, "title": f"Incident {number}",
                "platform": PLATFORM, "channel_id": f"C{number:06d}",
                "channel_name": f"inc-{number}", "declared_by": "maria",
                "declared_at": declared, "severity": 2,
                "status": "resolved" if closed else "investigating", "template": "standard",
                "timezone": "UTC", "resolved_at": declared + timedelta(hours=1) if closed else None,
                "closed_at": declared + timedelta(hours=1) if closed else None,
            }
        )
        entry_rows.append(
            {
                "seq": 1, "occurred_at": declared, "captured_at": declared, "kind": "automatic",
                "author": "maria", "text": "Incident declared", "tagged_by": [],
                "number": number,
            }
        )
        control_rows.append({"workspace": "T1", "incident_number": number, "off": False})
        base = {"workspace": "T1", "incident_number": number, "platform": PLATFORM,
                "attempts": 0, "created_at": declared}
        # History: a status reminder cancelled by activity, two that went out.
        reminder_rows.append({**base, "kind": "status-update", "due_at": declared
                              + timedelta(minutes=30), "occurrence": 1,
                              "recipients": "comms,commander", "state": "cancelled"})
        for occurrence in (1, 2):
            reminder_rows.append({**base, "kind": "empty-sections" if closed else
                                  "status-update", "due_at": declared + timedelta(days=occurrence),
                                  "occurrence": occurrence, "recipients": "x", "state": "sent"})
        # And the next one, pending, not due yet.
        reminder_rows.append({**base, "kind": "empty-sections" if closed else "status-update",
                              "due_at": NOW + timedelta(hours=1 + number % 20),
                              "occurrence": 3, "recipients": "x", "state": "pending"})
    with factory.engine.begin() as connection:
        connection.execute(insert(incidents), incident_rows)
        ids = dict(connection.execute(incidents.select().with_only_columns(
            incidents.c.number, incidents.c.id)).all())
        connection.execute(
            insert(timeline_entries),
            [{**{k: v for k, v in row.items() if k != "number"},
              "incident_id": ids[row["number"]]} for row in entry_rows],
        )
        connection.execute(insert(reminder_controls), control_rows)
        connection.execute(insert(reminders), reminder_rows)


def make_due(factory: SqlAlchemyUnitOfWorkFactory, how_many: int) -> None:
    """Brings the pending reminders of `how_many` open incidents due."""
    with factory.engine.begin() as connection:
        numbers = [n * 10 for n in range(1, how_many + 1)]
        connection.execute(
            update(reminders)
            .where(reminders.c.state == "pending", reminders.c.incident_number.in_(numbers))
            .values(due_at=NOW - timedelta(minutes=1))
        )


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def bot_on(factory: SqlAlchemyUnitOfWorkFactory) -> IncidentBot:
    return IncidentBot(
        uow=factory, clock=ManualClock(NOW), settings=CoreSettings(),
        templates=builtin_registry(),
    )


def measure(url: str, label: str, count: int, due: int) -> dict[str, float]:
    empty_url, full_url = url.replace("{}", "empty"), url.replace("{}", "full")
    results: dict[str, float] = {}
    for which, target in (("empty", empty_url), ("full", full_url)):
        upgrade_database(target)
        factory = unit_of_work_factory(target)
        if which == "full":
            started = time.perf_counter()
            seed(factory, count)
            print(f"  {label}: seeded {count} incidents in {time.perf_counter() - started:.1f} s")
        bot = bot_on(factory)
        outlet = CountingOutlet()

        def sweep(bot: IncidentBot = bot, outlet: CountingOutlet = outlet) -> DeliveryReport:
            return bot.deliver_due_reminders({PLATFORM: outlet}, claimant="bench")

        sweep()  # warm up: connections, statement caches
        results[f"idle_{which}"] = statistics.median(timed(sweep, 200))
        if which == "full":
            make_due(factory, due)
            started = time.perf_counter()
            report = sweep()
            elapsed = time.perf_counter() - started
            assert report.delivered == due == outlet.count, (report, outlet.count)
            results["due_sweep"] = elapsed
            results["per_reminder"] = elapsed / due
            chat = FakeChat()

            def command(bot: IncidentBot = bot, chat: FakeChat = chat) -> object:
                return bot.handle(
                    CommandReceived(workspace="T1", channel="C000010", user="li",
                                    text="note still looking", posted_at=NOW),
                    platform=chat,  # type: ignore[arg-type]
                )

            results["command"] = statistics.median(timed(command, 50))
        factory.dispose()
    return results


@contextmanager
def sqlite_urls() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{directory}/bench-{{}}.db"


@contextmanager
def postgres_urls() -> Iterator[str]:
    suffix = uuid.uuid4().hex[:8]
    names = {which: f"incident_bot_bench_{which}_{suffix}" for which in ("empty", "full")}
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        for name in names.values():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(ADMIN)
    base = f"postgresql://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:" \
           f"{params.get('port', 5432)}/"
    try:
        yield base + "incident_bot_bench_{}_" + suffix
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            for name in names.values():
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                              .format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if args.due > args.incidents // 10:
        parser.error("--due can be at most a tenth of --incidents (the open ones)")
    backends: list[tuple[str, Callable[[], object]]] = [("SQLite", sqlite_urls)]
    if not args.no_postgres:
        backends.append(("PostgreSQL", postgres_urls))
    print(f"{args.incidents} incidents, {args.incidents * 4} reminder rows; "
          f"{args.due} due in the delivering sweep")
    rows = []
    for label, urls in backends:
        with urls() as url:  # type: ignore[attr-defined]
            rows.append((label, measure(url, label, args.incidents, args.due)))
    print()
    print(f"{'backend':<11} {'idle, empty db':>15} {'idle, full db':>14} {'ratio':>6} "
          f"{'due sweep':>10} {'per reminder':>13} {'one command':>12}")
    for label, r in rows:
        print(f"{label:<11} {r['idle_empty'] * 1e3:>12.2f} ms {r['idle_full'] * 1e3:>11.2f} ms "
              f"{r['idle_full'] / r['idle_empty']:>6.2f} {r['due_sweep'] * 1e3:>7.0f} ms "
              f"{r['per_reminder'] * 1e3:>10.2f} ms {r['command'] * 1e3:>9.2f} ms")


if __name__ == "__main__":
    main()
