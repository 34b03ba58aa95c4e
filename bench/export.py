"""How long exporting a postmortem draft takes for a 10,000-entry incident, beyond a
one-entry incident: md, html and docx, for each built-in template.

Run on demand (a smoke run with tiny sizes is in the tests):

    .venv/bin/python bench/export.py [--entries 10000] [--repeat 3] [--templates standard,report]

Both incidents are stored in a SQLite database in a temporary directory. Each export is
what `incident-bot export N --format F` does after start-up: find the incident (its
timeline loaded) and render the draft. The figure is the best of `--repeat` runs, with
the one-entry incident's time subtracted. Targets: md and html under 0.5 s, docx
under 2 s. Both wall-clock and CPU time (of this process) are shown: on a shared
machine the CPU time is the steadier measure of the work.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.clock import ManualClock  # noqa: E402
from bot.commands import default_mention  # noqa: E402
from bot.domain import EntryKind, Incident, Role, TimelineEntry  # noqa: E402
from bot.drafts.templates import builtin_registry  # noqa: E402
from bot.service import CoreSettings, IncidentBot  # noqa: E402
from storage.database import upgrade_database  # noqa: E402
from storage.uow import unit_of_work_factory  # noqa: E402

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
FORMATS = ("md", "html", "docx")


class Names:
    name = "bench"
    command_prefix = "/incident"

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> object:
        raise AssertionError("the bench opens no channel")

    def invite_to_channel(self, channel: object, users: Sequence[str]) -> None:
        raise AssertionError("the bench invites nobody")

    def channel_link(self, *, workspace: str, channel_id: str) -> None:
        return None

    def display_name(self, user: str) -> str:
        return user.capitalize()

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return default_mention(token)


@dataclass
class Row:
    template: str
    format: str
    entries: int
    one_entry_s: float
    many_entries_s: float
    one_entry_cpu_s: float
    many_entries_cpu_s: float

    @property
    def beyond_s(self) -> float:
        return self.many_entries_s - self.one_entry_s

    @property
    def beyond_cpu_s(self) -> float:
        return self.many_entries_cpu_s - self.one_entry_cpu_s


def incident_with(number: int, entries: int) -> Incident:
    """An incident over two days with `entries` entries of every kind, as chat leaves them."""
    incident = Incident.declare(
        workspace="w", number=number, title="Checkout returns 502", platform="bench",
        channel_id=f"C{number}", channel_name=f"inc-{number}-checkout", declared_by="alice",
        declared_at=T0, captured_at=T0, template="standard",
    )
    incident.assign_role(Role.COMMANDER, "alice", by="alice", at=T0, now=T0)
    incident.set_section("summary", "Checkout failed for two days.", by="alice", now=T0)
    kinds = (EntryKind.NOTE, EntryKind.TAGGED, EntryKind.BACKDATED, EntryKind.AUTOMATIC)
    step = timedelta(days=2) / max(entries, 1)
    # Built directly (not entry by entry through the rules) so that seeding is quick.
    for seq in range(incident.timeline_count() + 1, entries + 1):
        at = T0 + step * seq
        kind = kinds[seq % len(kinds)]
        incident.timeline.append(
            TimelineEntry(
                seq, at, at, kind, None if kind is EntryKind.AUTOMATIC else "bob",
                f"Entry {seq}: the 5xx rate is {seq % 97}% | `pods` <restarted> ## again",
                source_ref=f"m/{seq}" if kind is EntryKind.TAGGED else None,
                tagged_by=["carol"] if kind is EntryKind.TAGGED else [],
            )
        )
    return incident


def best_of(repeat: int, action: Callable[[], None]) -> tuple[float, float]:
    """The shortest wall-clock and CPU times of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--templates", default="standard,retro,blameless,blog,report")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        upgrade_database(url)
        factory = unit_of_work_factory(url)
        with factory() as uow:
            uow.incidents.add(incident_with(1, 1))
            uow.incidents.add(incident_with(2, args.entries))
            uow.commit()
        bot = IncidentBot(
            uow=factory, clock=ManualClock(T0 + timedelta(days=3)), settings=CoreSettings(),
            templates=builtin_registry(),
        )
        names = Names()

        def export(number: int, template: str, fmt: str) -> None:
            incident = bot.find(number, "w")
            draft = bot.export(incident, template, fmt, names)
            assert draft.content

        for template in args.templates.split(","):
            for fmt in FORMATS:
                one = best_of(args.repeat, lambda t=template, f=fmt: export(1, t, f))
                many = best_of(args.repeat, lambda t=template, f=fmt: export(2, t, f))
                row = Row(template, fmt, args.entries, one[0], many[0], one[1], many[1])
                rows.append(row)
                print(
                    f"{template:>10} {fmt:>4}: {row.beyond_s:6.3f} s beyond one entry "
                    f"({row.beyond_cpu_s:6.3f} s CPU)",
                    file=sys.stderr,
                )
        factory.dispose()
    lines = [
        f"| template | format | one entry (s) | {args.entries:,} entries (s) "
        "| beyond one entry (s) | beyond one entry, CPU (s) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.template} | {row.format} | {row.one_entry_s:.3f} | "
            f"{row.many_entries_s:.3f} | {row.beyond_s:.3f} | {row.beyond_cpu_s:.3f} |"
        )
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2))
    return rows


if __name__ == "__main__":
    main()
