"""What reads an incident's timeline, on SQLite and PostgreSQL: `export N` reads the one
incident's entries in one query (not every incident's, not one query per entry), and
reminder delivery reads none."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.clock import ManualClock
from bot.domain import EntryKind, Incident, TimelineEntry
from bot.drafts.templates import builtin_registry
from bot.reminders import Reminder, ReminderKind
from bot.replies import Message, Reply
from bot.service import CoreSettings, IncidentBot
from storage.uow import SqlAlchemyUnitOfWorkFactory

T0 = datetime(2025, 3, 4, 13, 0, tzinfo=UTC)
ENTRIES = 30


def incident(workspace: str, number: int) -> Incident:
    found = Incident.declare(
        workspace=workspace, number=number, title=f"Incident {number}", platform="test",
        channel_id=f"{workspace}-C{number}", channel_name=f"inc-{number}", declared_by="maria",
        declared_at=T0, captured_at=T0, template="standard",
    )
    for seq in range(found.timeline_count() + 1, ENTRIES + 1):
        at = T0 + timedelta(minutes=seq)
        found.timeline.append(
            TimelineEntry(seq, at, at, EntryKind.NOTE, "bob", f"{workspace} {number}: {seq}")
        )
    return found


@contextmanager
def timeline_reads(factory: SqlAlchemyUnitOfWorkFactory) -> Iterator[list[Any]]:
    """The parameters of each SELECT on timeline_entries run inside the block."""
    seen: list[Any] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "timeline_entries" in statement:
            seen.append(parameters)

    event.listen(factory.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(factory.engine, "before_cursor_execute", note)


def bot_on(factory: SqlAlchemyUnitOfWorkFactory) -> IncidentBot:
    return IncidentBot(
        uow=factory, clock=ManualClock(T0 + timedelta(hours=2)), settings=CoreSettings(),
        templates=builtin_registry(),
    )


def test_finding_an_incident_reads_only_its_timeline_in_one_query(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        for workspace in ("acme", "globex"):
            for number in (1, 2, 3):
                uow.incidents.add(incident(workspace, number))
        uow.commit()
    bot = bot_on(uow_factory)
    with timeline_reads(uow_factory) as reads:
        found = bot.find(2, "globex")
    # One query, for this incident's entries only (its one id is the only parameter).
    assert [len(parameters) for parameters in reads] == [1]
    # Whole and readable after its unit of work, as `export` uses it.
    assert [entry.text for entry in found.timeline][-1] == f"globex 2: {ENTRIES}"
    assert len(found.timeline) == ENTRIES
    with pytest.raises(Exception, match="several workspaces"):
        bot.find(2)


class Outlet:
    command_prefix = "/incident"

    def __init__(self) -> None:
        self.delivered: list[Message] = []

    def mention(self, user: str) -> str:
        return f"@{user}"

    def deliver(self, replies: Sequence[Reply]) -> None:
        self.delivered.extend(r for r in replies if isinstance(r, Message))


def test_reminder_delivery_reads_no_timeline(uow_factory: SqlAlchemyUnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.incidents.add(incident("acme", 1))
        uow.reminders.add(
            Reminder(
                workspace="acme", incident_number=1, platform="test",
                kind=ReminderKind.STATUS_UPDATE, due_at=T0 + timedelta(hours=1), created_at=T0,
            )
        )
        uow.commit()
    outlet = Outlet()
    with timeline_reads(uow_factory) as reads:
        report = bot_on(uow_factory).deliver_due_reminders({"test": outlet}, claimant="t")
    assert report.delivered == 1
    assert [message.channel for message in outlet.delivered] == ["acme-C1"]
    assert "no status update in incident 1" in outlet.delivered[0].text
    assert reads == []
