"""What reads an incident's timeline, on SQLite and PostgreSQL: `export N` reads the one
incident's entries in one query (not every incident's, not one query per entry), as
the ORM would have loaded them, and reminder delivery reads none."""

from __future__ import annotations

import copy
import dataclasses
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.clock import ManualClock
from bot.domain import EntryKind, Incident, TimelineEntry
from bot.drafts.templates import builtin_registry
from bot.reminders import Reminder, ReminderKind
from bot.replies import Message, Reply
from bot.service import CoreSettings, IncidentBot
from storage.database import upgrade_database
from storage.uow import SqlAlchemyUnitOfWorkFactory, unit_of_work_factory

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


class Names:
    """What a draft asks of the platform: people's names, the command prefix."""

    command_prefix = "/incident"

    def display_name(self, user: str) -> str:
        return {"bob": "Bob *B* <b>", "carol": "Carol_C"}.get(user, user.upper())

    def channel_link(self, *, workspace: str, channel_id: str) -> None:
        return None


def varied(workspace: str, number: int) -> Incident:
    """Entries of every kind: tagged by people, edited, removed, naming people."""
    found = incident(workspace, number)
    kinds = (EntryKind.NOTE, EntryKind.TAGGED, EntryKind.BACKDATED, EntryKind.AUTOMATIC)
    for seq in range(ENTRIES + 1, ENTRIES + 13):
        at = T0 + timedelta(minutes=seq, seconds=seq, microseconds=seq)
        kind = kinds[seq % 4]
        found.timeline.append(
            TimelineEntry(
                seq, at, at + timedelta(seconds=5), kind,
                None if kind is EntryKind.AUTOMATIC else "bob",
                f"`step {seq}` by {{@carol}}: https://github.com/acme/shop/pull/{seq}",
                source_ref=f"m/{seq}" if kind is EntryKind.TAGGED else None,
                tagged_by=["carol", "bob"] if kind is EntryKind.TAGGED else [],
                edited_at=at if seq % 3 == 0 else None,
                removed_at=at if seq % 5 == 0 else None,
            )
        )
    return found


def values(timeline: list[TimelineEntry]) -> list[tuple[Any, ...]]:
    return [
        tuple(getattr(entry, field.name) for field in dataclasses.fields(TimelineEntry))
        for entry in timeline
    ]


def test_an_incident_found_for_export_drafts_as_one_loaded_whole(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        uow.incidents.add(varied("acme", 1))
        uow.commit()
    bot = bot_on(uow_factory)
    found = bot.find(1, "acme")
    with uow_factory() as uow:
        whole = uow.incidents.get("acme", 1)  # the ORM's own entries, as a change reads them
    assert whole is not None
    assert values(found.timeline) == values(whole.timeline)
    assert all(entry.occurred_at.tzinfo is UTC for entry in found.timeline)
    for template in bot.templates.names():
        for fmt in ("md", "html"):
            assert (
                bot.export(found, template, fmt, Names()).content  # type: ignore[arg-type]
                == bot.export(whole, template, fmt, Names()).content  # type: ignore[arg-type]
            ), (template, fmt)
    # A copy can be changed (a draft's plain twin in tests/drafts), and nothing else is.
    twin = copy.deepcopy(found)
    twin.timeline[0].text = "changed"
    assert found.timeline[0].text != "changed"
    with uow_factory() as uow:
        again = uow.incidents.get("acme", 1)
        assert again is not None and values(again.timeline) == values(whole.timeline)


def test_times_stored_as_other_text_read_as_the_same_moments(tmp_path: Path) -> None:
    """SQLite keeps a time as text. Written by another tool, it may be ISO text of
    another shape; each reads as the moment it says, in UTC."""
    url = f"sqlite:///{tmp_path}/bot.db"
    upgrade_database(url)
    factory = unit_of_work_factory(url)
    try:
        with factory() as uow:
            uow.incidents.add(incident("acme", 1))
            uow.commit()
        with sqlite3.connect(tmp_path / "bot.db") as raw:
            for seq, text in (
                (2, "2025-03-04 13:02:30"),
                (3, "2025-03-04T13:03:00.250000"),
                (4, "2025-03-04 15:04:00+02:00"),
                (5, "2025-03-04 13:05:00.000007"),
            ):
                raw.execute(
                    "UPDATE timeline_entries SET occurred_at = ? WHERE seq = ?", (text, seq)
                )
        raw.close()
        found = bot_on(factory).find(1, "acme")
    finally:
        factory.dispose()
    moments = [entry.occurred_at for entry in found.timeline[1:5]]
    assert moments == [
        datetime(2025, 3, 4, 13, 2, 30, tzinfo=UTC),
        datetime(2025, 3, 4, 13, 3, 0, 250000, tzinfo=UTC),
        datetime(2025, 3, 4, 13, 4, tzinfo=UTC),
        datetime(2025, 3, 4, 13, 5, 0, 7, tzinfo=UTC),
    ]
    assert all(moment.tzinfo is UTC for moment in moments)


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
