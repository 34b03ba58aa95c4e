"""Incident summaries on SQLite and PostgreSQL: the same figures as the whole incident
gives, read with a fixed handful of statements, none of which touches the timeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from test_storage_uow import at, declare, full_incident, store

from bot.domain import MilestoneKind, Role, Status
from bot.summary import IncidentSummary
from storage.uow import SqlAlchemyUnitOfWorkFactory as Factory


@contextmanager
def statements(factory: Factory) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(factory.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(factory.engine, "before_cursor_execute", record)


def stored_incidents(factory: Factory) -> list[IncidentSummary]:
    """Several incidents that differ in every field a summary holds."""
    closed = full_incident("acme", 1)  # commander handed over, one action done of two
    closed.set_milestone(MilestoneKind.STARTED, at(-50), by="alice", now=at(51))
    closed.set_milestone(MilestoneKind.MITIGATED, at(40), by="bob", now=at(52))
    closed.close(by="bob", at=at(60), now=at(60))
    fresh = declare("acme", 2)  # nothing but the declaration
    open_one = declare("globex", 1)
    open_one.assign_role(Role.COMMS, "erin", by="erin", at=at(1), now=at(1))  # no commander
    open_one.set_severity(1, by="erin", at=at(2), now=at(2))
    open_one.set_status(Status.MONITORING, by="erin", at=at(3), now=at(3))
    open_one.add_action("Page the vendor", owner="erin", by="erin", now=at(4))
    for seq in range(40):
        open_one.add_note(
            f"note {seq}", author="erin", at=at(5 + seq), now=at(5 + seq), source_ref=None
        )
    store(factory, closed, fresh, open_one)
    return [IncidentSummary.of(i) for i in (closed, fresh, open_one)]


def test_summaries_say_what_the_whole_incidents_say(uow_factory: Factory) -> None:
    expected = stored_incidents(uow_factory)

    with uow_factory() as uow:
        found = list(uow.incidents.summaries())
        acme = list(uow.incidents.summaries("acme"))

    assert found == expected
    assert acme == expected[:2]
    closed, fresh, open_one = found
    assert closed.commander == "bob"  # the holder after the handover
    assert (closed.actions_open, closed.actions_done) == (1, 1)
    assert closed.is_closed and closed.durations().impact == at(40) - at(-50)
    assert (fresh.commander, fresh.milestones, fresh.actions_open) == (None, {}, 0)
    assert open_one.status is Status.MONITORING and open_one.severity == 1
    assert open_one.milestone(MilestoneKind.MITIGATED) == at(3)  # set by the status


def test_summaries_read_no_timeline_entry(uow_factory: Factory) -> None:
    stored_incidents(uow_factory)

    with statements(uow_factory) as whole, uow_factory() as uow:
        uow.incidents.list()
    with statements(uow_factory) as summarised, uow_factory() as uow:
        uow.incidents.summaries()
        uow.incidents.summaries("globex")

    # The listener sees the queries: reading incidents whole reads their entries.
    assert any("timeline_entries" in sql for sql in whole)
    assert [sql for sql in summarised if "timeline_entries" in sql] == []
    selects = [sql for sql in summarised if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 8  # four per call, whatever the number of incidents


def test_no_incidents_is_one_query(uow_factory: Factory) -> None:
    with statements(uow_factory) as sent, uow_factory() as uow:
        assert list(uow.incidents.summaries()) == []
    assert len([sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]) == 1


def test_the_change_marker_moves_with_every_change_a_reader_sees(uow_factory: Factory) -> None:
    incident = declare("acme", 1)
    incident.tag_message(
        source_ref="m1", author="erin", text="first", posted_at=at(1), tagger="bob", now=at(1)
    )
    store(uow_factory, incident)

    def marker() -> object:
        with uow_factory() as uow:
            return uow.incidents.change_marker("acme", 1)

    changes = [
        lambda i: i.add_note("second", author="bob", at=at(2), now=at(2), source_ref=None),
        lambda i: i.edit_entry(3, "second, corrected", now=at(3)),
        lambda i: i.message_edited(source_ref="m1", text="first, edited", now=at(4)),
        lambda i: i.remove_entry(3, now=at(5)),
        lambda i: i.message_deleted(source_ref="m1", now=at(5.5)),
        lambda i: i.assign_role(Role.COMMANDER, "ann", by="ann", at=at(6), now=at(6)),
        lambda i: i.assign_role(Role.COMMANDER, "bob", by="ann", at=at(7), now=at(7)),
        lambda i: i.set_severity(2, by="ann", at=at(8), now=at(8)),
        lambda i: i.set_section("summary", "It broke.", by="ann", now=at(9)),
        lambda i: i.set_section("summary", "It broke badly.", by="ann", now=at(10)),
        lambda i: i.add_action("Fix it", owner=None, by="ann", now=at(11)),
        lambda i: i.complete_action(1, by="ann", now=at(12)),
        lambda i: i.set_milestone(MilestoneKind.STARTED, at(-5), by="ann", now=at(13)),
        lambda i: i.set_milestone(MilestoneKind.STARTED, at(-6), by="ann", now=at(14)),
        lambda i: i.clear_section("summary"),
    ]
    seen = [marker()]
    for change in changes:
        with uow_factory() as uow:
            loaded = uow.incidents.get_by_channel("console", "acme-C1")
            assert loaded is not None
            change(loaded)
            uow.commit()
        seen.append(marker())
    # Every change gave a marker never seen before; reading again changes nothing.
    repeated = [index for index, value in enumerate(seen[1:]) if value in seen[: index + 1]]
    assert repeated == [], [(i, seen[i + 1]) for i in repeated]
    assert marker() == seen[-1]
    with uow_factory() as uow:
        assert uow.incidents.change_marker("acme", 99) is None


def test_the_change_marker_loads_no_entry(uow_factory: Factory) -> None:
    stored_incidents(uow_factory)
    with statements(uow_factory) as sent, uow_factory() as uow:
        uow.incidents.change_marker("globex", 1)
    queries = [sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 1
    assert "timeline_entries.text" not in queries[0]
