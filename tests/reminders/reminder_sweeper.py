"""A bot process that only sweeps reminders, for the two-process test.

Usage: python reminder_sweeper.py DATABASE_URL OUT_FILE GO_FILE

Waits (with a deadline) until GO_FILE exists, so that both processes start sweeping
together, then sweeps until nothing is due and appends the channel of every reminder
it delivered to OUT_FILE, one per line, flushed to disk as it goes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bot.clock import SystemClock
from bot.drafts.templates import builtin_registry
from bot.replies import Message, Reply
from bot.service import CoreSettings, IncidentBot
from storage.uow import unit_of_work_factory

PLATFORM = "sweeptest"


class FileOutlet:
    command_prefix = "/incident"

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def mention(self, user: str) -> str:
        return f"@{user}"

    def deliver(self, replies: Sequence[Reply]) -> None:
        time.sleep(0.002)  # a platform takes a moment to answer; lets the sweeps interleave
        for reply in replies:
            assert isinstance(reply, Message)
            self._file.write(f"{reply.channel}\n")
        self._file.flush()
        os.fsync(self._file.fileno())


def main(url: str, out: Path, go: Path) -> int:
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.01)
    uow = unit_of_work_factory(url)
    bot = IncidentBot(
        uow=uow, clock=SystemClock(), settings=CoreSettings(), templates=builtin_registry()
    )
    report = bot.deliver_due_reminders(
        {PLATFORM: FileOutlet(out)}, claimant=f"sweeper-{os.getpid()}"
    )
    uow.dispose()
    print(report.delivered)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
