"""The console sweeps for due reminders only when one can be due: lines before the next
due time cost no sweep, and a line or a bare stamp past it still delivers it first."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.console.app import Console, new_console_clock
from bot.drafts.templates import builtin_registry
from bot.ports import ReminderOutlet
from bot.reminder_delivery import DeliveryReport
from bot.service import CoreSettings, IncidentBot
from storage.uow import SqlAlchemyUnitOfWorkFactory


class CountingBot(IncidentBot):
    sweeps = 0

    def deliver_due_reminders(
        self, outlets: Mapping[str, ReminderOutlet], *, claimant: str, limit: int = 10_000
    ) -> DeliveryReport:
        self.sweeps += 1
        return super().deliver_due_reminders(outlets, claimant=claimant, limit=limit)


def test_lines_before_the_next_due_reminder_cost_no_sweep(
    uow_factory: SqlAlchemyUnitOfWorkFactory, tmp_path: Path
) -> None:
    clock = new_console_clock()
    bot = CountingBot(
        uow=uow_factory, clock=clock, settings=CoreSettings(), templates=builtin_registry()
    )
    out = io.StringIO()
    console = Console(
        bot=bot, clock=clock, zone=ZoneInfo("UTC"), out=out, err=io.StringIO(),
        drafts_dir=tmp_path,
    )
    lines = ["[2025-03-04 14:00] maria: /incident start Checkout down"]
    # 40 chat lines (not commands: nothing on the timeline) until 14:20; the status-update
    # reminder armed by `start` is due at 14:30.
    lines += [f"[14:{minute // 2:02d}:{30 * (minute % 2):02d}] li: still looking"
              for minute in range(1, 41)]
    console.play(lines)
    assert bot.sweeps == 1  # the first line's: nothing was known yet

    console.play(["[14:40]"])  # a bare stamp past 14:30 delivers it
    assert bot.sweeps == 2
    assert "no status update in incident 1 for 30m" in out.getvalue()
