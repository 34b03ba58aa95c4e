"""Reminder delivery on real databases: SQLite and PostgreSQL in-process, and two real
OS processes sweeping one PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.domain import Incident
from bot.drafts.templates import builtin_registry
from bot.reminders import Reminder, ReminderKind, ReminderState
from bot.replies import Message, Reply
from bot.service import CoreSettings, IncidentBot
from storage.database import upgrade_database
from storage.uow import SqlAlchemyUnitOfWorkFactory, unit_of_work_factory

HERE = Path(__file__).resolve().parent
T0 = datetime(2025, 3, 4, 13, 0, tzinfo=UTC)
PLATFORM = "sweeptest"  # as in reminder_sweeper.py


class FlakyOutlet:
    command_prefix = "/incident"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.delivered: list[Message] = []
        self.attempts = 0

    def mention(self, user: str) -> str:
        return f"@{user}"

    def deliver(self, replies: Sequence[Reply]) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("502 from the chat platform")
        self.delivered.extend(r for r in replies if isinstance(r, Message))


def seed(uow_factory: SqlAlchemyUnitOfWorkFactory, count: int, due: datetime) -> None:
    """`count` open incidents, each with one status-update reminder due at `due`."""
    with uow_factory() as uow:
        for number in range(1, count + 1):
            incident = Incident.declare(
                workspace="w", number=number, title=f"Incident {number}", platform=PLATFORM,
                channel_id=f"C{number:04d}", channel_name=f"inc-{number}", declared_by="maria",
                declared_at=due - timedelta(hours=1), captured_at=due - timedelta(hours=1),
                template="standard",
            )
            uow.incidents.add(incident)
            uow.reminders.add(
                Reminder(
                    workspace="w", incident_number=number, platform=PLATFORM,
                    kind=ReminderKind.STATUS_UPDATE, due_at=due, created_at=due,
                )
            )
        uow.commit()


def states(uow_factory: SqlAlchemyUnitOfWorkFactory, number: int) -> list[ReminderState]:
    with uow_factory() as uow:
        return [r.state for r in uow.reminders.for_incident("w", number)]


def test_a_failed_delivery_is_retried_then_delivered_once(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    seed(uow_factory, 1, T0)
    clock = ManualClock(T0)
    bot = IncidentBot(
        uow=uow_factory, clock=clock, settings=CoreSettings(), templates=builtin_registry()
    )
    outlet = FlakyOutlet(failures=2)
    sweep = lambda: bot.deliver_due_reminders({PLATFORM: outlet}, claimant="t")  # noqa: E731
    assert sweep().failed == 1
    assert states(uow_factory, 1) == [ReminderState.PENDING]
    assert sweep().failed == 0 and outlet.attempts == 1  # backing off: not due yet
    clock.advance_to(T0 + timedelta(seconds=30))
    assert sweep().failed == 1
    clock.advance_to(T0 + timedelta(seconds=90))
    assert sweep().delivered == 1
    clock.advance_to(T0 + timedelta(minutes=10))
    assert sweep().delivered == 0
    assert [m.channel for m in outlet.delivered] == ["C0001"]
    assert states(uow_factory, 1) == [ReminderState.SENT, ReminderState.PENDING]
    with uow_factory() as uow:
        sent = uow.reminders.for_incident("w", 1)[0]
        assert sent.attempts == 2
        assert sent.last_error == "ConnectionError: 502 from the chat platform"


@pytest.mark.postgres
def test_a_claim_in_progress_is_skipped_not_waited_for(postgres_url: str) -> None:
    upgrade_database(postgres_url)
    factory = unit_of_work_factory(postgres_url)
    try:
        seed(factory, 2, T0)
        with factory() as first, factory() as second:
            [a] = first.reminders.claim_due(now=T0, platforms=[PLATFORM], limit=1, claimant="a")
            started = time.monotonic()
            [b] = second.reminders.claim_due(
                now=T0, platforms=[PLATFORM], limit=5, claimant="b"
            )
            assert time.monotonic() - started < 5  # not blocked by the first transaction
            assert a.id != b.id
            first.commit()
            second.commit()
        with factory() as uow:
            left = uow.reminders.claim_due(now=T0, platforms=[PLATFORM], limit=5, claimant="c")
            assert left == []
    finally:
        factory.dispose()


@pytest.mark.postgres
def test_two_processes_sweeping_one_database_deliver_each_reminder_once(
    postgres_url: str, tmp_path: Path
) -> None:
    upgrade_database(postgres_url)
    factory = unit_of_work_factory(postgres_url)
    try:
        seed(factory, 200, datetime.now(UTC) - timedelta(minutes=1))
    finally:
        factory.dispose()
    go = tmp_path / "go"
    outs = [tmp_path / f"delivered-{n}.txt" for n in (1, 2)]
    workers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "reminder_sweeper.py"), postgres_url, str(out), str(go)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for out in outs
    ]
    go.touch()
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    per_process = [out.read_text().split() if out.exists() else [] for out in outs]
    counts = Counter(channel for delivered in per_process for channel in delivered)
    assert len(counts) == 200
    assert max(counts.values()) == 1, [c for c, n in counts.items() if n > 1]
    assert all(per_process), "both processes took a share"
    factory = unit_of_work_factory(postgres_url)
    try:
        for number in (1, 100, 200):
            assert states(factory, number)[0] is ReminderState.SENT
    finally:
        factory.dispose()


def test_one_incident_never_holds_two_pending_reminders_of_a_kind(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    from bot.ports import ConcurrentChange

    seed(uow_factory, 1, T0)
    with uow_factory() as uow:
        uow.reminders.add(
            Reminder(
                workspace="w", incident_number=1, platform=PLATFORM,
                kind=ReminderKind.STATUS_UPDATE, due_at=T0, created_at=T0,
            )
        )
        with pytest.raises(ConcurrentChange):
            uow.commit()
    assert states(uow_factory, 1) == [ReminderState.PENDING]
