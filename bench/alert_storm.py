"""An alert storm through the real receiver: how fast `POST /hooks/alertmanager` answers
while a group grows to N alerts, and how long the queued work takes, on SQLite and on
PostgreSQL side by side in one run.

Run on demand (not part of `make test`):

    .venv/bin/python bench/alert_storm.py [--alerts 1000] [--steps 4] [--no-postgres]

The group grows as Alertmanager sends it: every notification holds all the group's
alerts so far (N/steps, 2N/steps, … N). Each is posted over HTTP to the bot's server
(uvicorn on a loopback port) without waiting for the work; the answer times are the
receiver's (authentication, size, parsing, the inbox's commit). Then the time until
the worker has put every alert on the timeline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from adapters.adapter import HttpMount  # noqa: E402
from adapters.alerts.receiver import AlertReceiver, ReceiverSettings  # noqa: E402
from adapters.alerts.worker import AlertWorker  # noqa: E402
from adapters.bootstrap import build_bot, build_inbox, prepare_database  # noqa: E402
from adapters.config import load_settings  # noqa: E402
from adapters.console.app import ConsolePlatform  # noqa: E402
from adapters.web.server import HttpServer, Listener  # noqa: E402
from bot.alert_intake import AlertIntake  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.replies import Reply  # noqa: E402
from storage.uow import unit_of_work_factory  # noqa: E402

TOKEN = "bench-token-0123456789"
ADMIN = os.environ.get(
    "INCIDENT_BOT_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
ROUTES = """\
[[alerts.routes]]
match = ['severity="critical"']
platform = "console"
"""


@dataclass
class CountingOutlet:
    platform: ConsolePlatform = field(default_factory=ConsolePlatform)
    messages: int = 0

    def deliver(self, replies: Sequence[Reply]) -> None:
        self.messages += len(replies)

    def standing_by(self) -> bool:
        return False


@dataclass(frozen=True)
class Row:
    backend: str
    alerts: int
    answer_median_ms: float
    answer_max_ms: float
    work_seconds: float
    entries: int
    messages: int

    @property
    def entries_per_s(self) -> float:
        return self.entries / self.work_seconds if self.work_seconds else 0.0


def storm(count: int) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "InstanceDown", "severity": "critical",
                       "instance": f"10.0.{n // 250}.{n % 250}:9100"},
            "annotations": {"summary": f"instance {n} down"},
            "startsAt": f"2025-03-04T14:{n // 60 % 60:02d}:{n % 60:02d}Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
            "fingerprint": f"{n:016x}",
        }
        for n in range(count)
    ]  # fmt: skip
    return json.dumps({
        "version": "4", "groupKey": '{}:{alertname="InstanceDown"}', "status": "firing",
        "receiver": "bot", "groupLabels": {"alertname": "InstanceDown"},
        "commonLabels": {"alertname": "InstanceDown", "severity": "critical"},
        "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
        "truncatedAlerts": 0, "alerts": alerts,
    }).encode()  # fmt: skip


def run(backend: str, url: str, workdir: Path, alerts: int, steps: int) -> Row:
    config = workdir / f"{uuid.uuid4().hex}.toml"
    config.write_text(ROUTES)
    settings = load_settings({"INCIDENT_BOT_DATABASE_URL": url, "INCIDENT_BOT_CONFIG": str(config)})
    prepare_database(url)
    clock = ManualClock(datetime(2025, 3, 4, 15, 0, tzinfo=UTC))
    outlet = CountingOutlet()
    inbox = build_inbox(settings)
    intake = AlertIntake(
        bot=build_bot(settings, clock=clock), uow=unit_of_work_factory(url), clock=clock,
        rules=settings.alert_rules,
    )  # fmt: skip
    worker = AlertWorker(
        intake=intake, inbox=inbox, outlets={"console": outlet}, clock=clock,
        claimant="bench", retry_after=timedelta(minutes=5), sweep_every=3600,
    )  # fmt: skip
    receiver = AlertReceiver(
        settings=ReceiverSettings(alertmanager_token=TOKEN, max_body=8 * 1024 * 1024),
        inbox=inbox, clock=clock, claimant="bench", accepted=worker.accept,
    )  # fmt: skip
    mount = HttpMount(receiver.routes(), "127.0.0.1", 0, "bench")
    from starlette.applications import Starlette

    listener = Listener("127.0.0.1", 0, "bench")
    server = HttpServer(app=Starlette(routes=list(mount.routes)), listeners=[listener])
    server.start()
    worker.start()
    base = server.url_of(listener)
    bodies = [storm(alerts * (step + 1) // steps) for step in range(steps)]
    answers: list[float] = []
    try:
        started = time.perf_counter()
        for body in bodies:
            request = urllib.request.Request(
                f"{base}/hooks/alertmanager", data=body, method="POST",
                headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            )  # fmt: skip
            sent = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as answer:
                assert answer.status == 200
            answers.append((time.perf_counter() - sent) * 1000)
        assert worker.wait_idle(timeout=3600)
        work = time.perf_counter() - started
    finally:
        server.stop()
        worker.stop()
    incident = build_bot(settings, clock=clock).find(1)
    entries = sum((e.source_ref or "").startswith("alert:") for e in incident.timeline)
    return Row(backend, alerts, statistics.median(answers), max(answers), work, entries,
               outlet.messages)  # fmt: skip


@contextmanager
def scratch_postgres() -> Iterator[str]:
    name = f"incident_bot_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN, autocommit=True, connect_timeout=3) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(ADMIN)
    try:
        yield (f"postgresql://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}"
               f":{params.get('port', 5432)}/{name}")  # fmt: skip
    finally:
        with psycopg.connect(ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows.append(run("SQLite", f"sqlite:///{workdir / 'bench.db'}", workdir, args.alerts,
                        args.steps))  # fmt: skip
        if not args.no_postgres:
            with scratch_postgres() as url:
                rows.append(run("PostgreSQL", url, workdir, args.alerts, args.steps))
    print(f"{'backend':<11} {'alerts':>6} {'answer p50 ms':>13} {'answer max ms':>13} "
          f"{'work s':>7} {'entries/s':>9} {'messages':>8}")  # fmt: skip
    for row in rows:
        print(f"{row.backend:<11} {row.alerts:>6} {row.answer_median_ms:>13.1f} "
              f"{row.answer_max_ms:>13.1f} {row.work_seconds:>7.2f} {row.entries_per_s:>9.0f} "
              f"{row.messages:>8}")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
