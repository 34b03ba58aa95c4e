"""What the web face's reads cost with long timelines: the incident list (`/`), the
insights (`/insights`) and a Prometheus scrape (`/metrics`), read through incident
summaries (no timeline) beside the old read that loaded every incident whole; and one
poll of an open incident's live page, its change marker beside the old poll that loaded
the incident whole.

Run on demand (a smoke run with tiny sizes is in the tests):

    .venv/bin/python bench/web_reads.py [--incidents 200] [--entries 500] [--repeat 7]

One SQLite database in a temporary directory holds `--incidents` incidents of
`--entries` timeline entries each (plus a commander, milestones and two action items
apiece). Two web faces serve it side by side in this process, over real HTTP on
loopback: `summaries` is the bot as it is, `whole` the same bot reading incidents whole
for these pages (`list_incidents()`, as before the summaries). Each page is fetched
`--repeat` times from each face in turn; the figure is the median wall time. The
`whole` figure leaves out the old list page's extra per-incident name look-up, so the
old cost was higher still. The live poll is timed in-process (one incident, no HTTP):
`whole` loads the incident and compares what it holds, as each open page did every 2 s;
`summaries` is the change-marker query the pages of one incident now share.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adapters.telemetry import PrometheusTelemetry  # noqa: E402
from adapters.web.runtime import WebFace  # noqa: E402
from adapters.web.settings import web_settings  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.domain import EntryKind, Incident, MilestoneKind, Role, Status  # noqa: E402
from bot.drafts.templates import builtin_registry  # noqa: E402
from bot.service import CoreSettings, IncidentBot  # noqa: E402
from bot.summary import IncidentSummary  # noqa: E402
from storage.database import make_engine, upgrade_database  # noqa: E402
from storage.orm import (  # noqa: E402
    action_items,
    incidents,
    milestones,
    role_assignments,
    timeline_entries,
)
from storage.uow import unit_of_work_factory  # noqa: E402

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
PAGES = ("/", "/insights", "/metrics")


class WholeIncidentsBot(IncidentBot):
    """The read the pages made before summaries: every incident whole, timelines
    loaded, then boiled down to what the page shows."""

    def incident_summaries(self, workspace: str | None = None) -> list[IncidentSummary]:
        return [IncidentSummary.of(incident) for incident in self.list_incidents(workspace)]


@dataclass
class Row:
    page: str
    incidents: int
    entries: int
    whole_ms: float  # before: incidents read whole
    summaries_ms: float  # now: summaries, or the change marker for the live poll

    @property
    def ratio(self) -> float:
        return self.whole_ms / self.summaries_ms if self.summaries_ms else float("inf")


def old_live_version(incident: Incident) -> tuple[object, ...]:
    """What the live page compared on each poll before the change marker."""
    return (
        incident.status.value,
        incident.severity,
        incident.closed_at,
        tuple((e.seq, e.text, e.removed_at, e.edited_at) for e in incident.timeline),
        tuple((a.role.value, a.user, a.relieved_at) for a in incident.roles),
        tuple((a.seq, a.done_at) for a in incident.actions),
        tuple((s.section_id, s.updated_at) for s in incident.sections),
    )


def live_poll_row(url: str, args: argparse.Namespace) -> Row:
    bot = IncidentBot(
        uow=unit_of_work_factory(url),
        clock=ManualClock(T0),
        settings=CoreSettings(),
        templates=builtin_registry(),
    )
    number = args.incidents  # the newest: open when its number is a multiple of 3, or not
    times: dict[str, list[float]] = {"whole": [], "marker": []}
    for _ in range(args.repeat * 5):
        started = time.perf_counter()
        incident = bot.incident("bench", number)
        assert incident is not None
        old_live_version(incident)
        times["whole"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        assert bot.change_marker("bench", number) is not None
        times["marker"].append((time.perf_counter() - started) * 1000)
    return Row(
        page="live poll",
        incidents=1,
        entries=args.entries,
        whole_ms=statistics.median(times["whole"]),
        summaries_ms=statistics.median(times["marker"]),
    )


def seed(url: str, count: int, entries: int) -> None:
    """Rows written straight into the tables: the bench measures reading, not writing."""
    upgrade_database(url)
    engine = make_engine(url)
    statuses = list(Status)
    with engine.begin() as connection:
        for number in range(1, count + 1):
            declared = T0 + timedelta(hours=7 * number)
            closed = number % 3 != 0
            incident_id = connection.execute(
                incidents.insert().values(
                    workspace="bench",
                    number=number,
                    title=f"Checkout returns 502 ({number})",
                    platform="console",
                    channel_id=f"inc-{number}",
                    channel_name=f"inc-{number}",
                    declared_by="alice",
                    declared_at=declared,
                    severity=number % 4 + 1,
                    status=Status.RESOLVED if closed else statuses[number % 3],
                    template="standard",
                    timezone="Europe/Oslo",
                    resolved_at=declared + timedelta(hours=2) if closed else None,
                    closed_at=declared + timedelta(hours=3) if closed else None,
                )
            ).inserted_primary_key[0]
            connection.execute(
                timeline_entries.insert(),
                [
                    {
                        "incident_id": incident_id,
                        "seq": seq,
                        "occurred_at": declared + timedelta(seconds=10 * seq),
                        "captured_at": declared + timedelta(seconds=10 * seq),
                        "kind": EntryKind.NOTE,
                        "author": "bob",
                        "text": f"Entry {seq}: the 5xx rate is {seq % 97}% on shard {seq % 7}",
                        "source_ref": None,
                        "tagged_by": [],
                    }
                    for seq in range(1, entries + 1)
                ],
            )
            connection.execute(
                role_assignments.insert().values(
                    incident_id=incident_id,
                    role=Role.COMMANDER,
                    user_id="alice",
                    assigned_at=declared,
                    assigned_by="alice",
                )
            )
            connection.execute(
                milestones.insert(),
                [
                    {
                        "incident_id": incident_id,
                        "kind": kind,
                        "at": declared + timedelta(minutes=minutes),
                        "set_at": declared,
                        "set_by": "alice",
                    }
                    for kind, minutes in (
                        (MilestoneKind.STARTED, -20),
                        (MilestoneKind.DETECTED, -5),
                        (MilestoneKind.MITIGATED, 40 + number % 50),
                    )
                ],
            )
            connection.execute(
                action_items.insert(),
                [
                    {
                        "incident_id": incident_id,
                        "seq": seq,
                        "text": f"Follow-up {seq}",
                        "owner": "bob",
                        "created_at": declared,
                        "created_by": "alice",
                        "done_at": declared if seq == 1 else None,
                        "done_by": "bob" if seq == 1 else None,
                    }
                    for seq in (1, 2)
                ],
            )
    engine.dispose()


def face_for(bot_class: type[IncidentBot], url: str) -> WebFace:
    bot = bot_class(
        uow=unit_of_work_factory(url),
        clock=ManualClock(T0),
        settings=CoreSettings(),
        templates=builtin_registry(),
    )
    face = WebFace(
        settings=web_settings({"INCIDENT_BOT_HTTP_PORT": "0"}),
        bot=bot,
        telemetry=PrometheusTelemetry(),
    )
    face.start()
    return face


def fetch_ms(base: str, path: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(base + path, timeout=300) as answer:
        answer.read()
        assert answer.status == 200, f"{path}: {answer.status}"
    return (time.perf_counter() - started) * 1000


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/bench.db"
        seed(url, args.incidents, args.entries)
        faces = {"whole": face_for(WholeIncidentsBot, url), "summaries": face_for(IncidentBot, url)}
        try:
            for page in PAGES:
                times: dict[str, list[float]] = {name: [] for name in faces}
                for face in faces.values():
                    assert face.url is not None
                    fetch_ms(face.url, page)  # warm-up: templates, caches
                for _ in range(args.repeat):
                    for name, face in faces.items():  # interleaved: the same machine load
                        assert face.url is not None
                        times[name].append(fetch_ms(face.url, page))
                rows.append(
                    Row(
                        page=page,
                        incidents=args.incidents,
                        entries=args.entries,
                        whole_ms=statistics.median(times["whole"]),
                        summaries_ms=statistics.median(times["summaries"]),
                    )
                )
        finally:
            for face in faces.values():
                face.stop()
        rows.append(live_poll_row(url, args))
    if args.json:
        print(json.dumps([asdict(row) | {"ratio": row.ratio} for row in rows], indent=2))
    else:
        print(f"{args.incidents} incidents x {args.entries} entries, SQLite, median of "
              f"{args.repeat} (ms)")
        print(f"{'read':<12}{'whole':>10}{'now':>12}{'ratio':>8}")
        for row in rows:
            print(f"{row.page:<12}{row.whole_ms:>10.1f}{row.summaries_ms:>12.1f}{row.ratio:>7.1f}x")
    return rows


if __name__ == "__main__":
    main()
