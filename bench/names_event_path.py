"""What storing people's display names costs on the event path, on SQLite.

Run on demand (not part of `make test`):

    .venv/bin/python bench/names_event_path.py [--events 400] [--people 20]

It handles `--events` notes (each mentioning one of `--people` people) on a fresh
SQLite database, three ways, and prints the median time per event:

- no names told at all (the baseline: what an event costs without this feature);
- names told as the adapters do it: only when new or changed (so once per person);
- names told on every event (what the adapters avoid: an upsert transaction each time).

It also renders the incident's draft with the stored names, as `incident-bot export`
does offline, with all of them in the timeline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adapters.cli import OfflinePlatform  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.drafts.templates import builtin_registry  # noqa: E402
from bot.events import CommandReceived  # noqa: E402
from bot.mentions import reference  # noqa: E402
from bot.ports import ChannelRef  # noqa: E402
from bot.service import CoreSettings, IncidentBot  # noqa: E402
from storage.database import upgrade_database  # noqa: E402
from storage.uow import unit_of_work_factory  # noqa: E402

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class BenchPlatform:
    name = "bench"
    command_prefix = "/incident"

    def open_incident_channel(self, *, name: str, topic: str, invite: object) -> ChannelRef:
        return ChannelRef(id=name, name=name)

    def invite_to_channel(self, channel: ChannelRef, users: object) -> None:
        pass

    def display_name(self, user: str) -> str:
        return f"Person {user}"

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return token[1:] if token.startswith("@") else None


def run(mode: str, events: int, people: int, directory: Path) -> tuple[list[float], float]:
    url = f"sqlite:///{directory}/{mode}.db"
    upgrade_database(url)
    clock = ManualClock(T0)
    factory = unit_of_work_factory(url)
    bot = IncidentBot(
        uow=factory, clock=clock, settings=CoreSettings(timezone=ZoneInfo("UTC")),
        templates=builtin_registry(),
    )
    platform = BenchPlatform()

    def say(text: str, user: str, channel: str) -> None:
        clock.advance_to(clock.now() + timedelta(seconds=1))
        bot.handle(
            CommandReceived(workspace="w", channel=channel, user=user, text=text,
                            posted_at=clock.now()),
            platform=platform,
        )

    say("start Bench", "u0", "general")
    told: dict[str, str] = {}
    timings: list[float] = []
    for n in range(events):
        user = f"u{n % people}"
        started = time.perf_counter()
        name = platform.display_name(user)
        if mode == "every event" or (mode == "when changed" and told.get(user) != name):
            bot.remember_names("bench", "w", {user: name})
            told[user] = name
        say(f"note step {n} with {reference(user)}", user, "inc-1-bench")
        timings.append(time.perf_counter() - started)
    incident = bot.find(1)
    started = time.perf_counter()
    offline = OfflinePlatform("bench", bot.stored_names(incident))
    draft = bot.export(incident, None, "md", offline).content.decode()
    export = time.perf_counter() - started
    if mode != "no names":
        assert "Person u1" in draft and reference("u1") not in draft
    factory.dispose()
    return timings, export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--people", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("no names", "when changed", "every event"):
            timings, export = run(mode, args.events, args.people, Path(scratch))
            print(
                f"{mode:>13}: median {statistics.median(timings) * 1000:.2f} ms/event, "
                f"p95 {sorted(timings)[int(len(timings) * 0.95)] * 1000:.2f} ms; "
                f"offline export of {args.events} entries {export * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
