"""Milestones stored and read back on SQLite and PostgreSQL: set, moved, cleared and set
again in one unit of work, read without the timeline, and the revision that adds them
filling them in for incidents recorded before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import select, text
from test_storage_uow import at, declare, full_incident, load, store
from test_storage_uow import snapshot as full_snapshot

from bot.domain import Incident, MilestoneKind, Status
from storage.database import alembic_config, make_engine
from storage.orm import milestones
from storage.uow import SqlAlchemyUnitOfWorkFactory as Factory

STARTED, DETECTED = MilestoneKind.STARTED, MilestoneKind.DETECTED
MITIGATED = MilestoneKind.MITIGATED
IDENTIFIED, RESOLVED = MilestoneKind.IDENTIFIED, MilestoneKind.RESOLVED


def snapshot(incident: Incident) -> dict[str, Any]:
    """Everything the incident holds; its milestones come back in time order."""
    values = full_snapshot(incident)
    values["milestones"] = sorted(values["milestones"], key=lambda m: m["at"])
    return values


def test_milestones_round_trip_with_the_incident(uow_factory: Factory) -> None:
    incident = full_incident()  # `status identified` and `resolve` set theirs
    incident.set_milestone(STARTED, at(-50), by="alice", now=at(51))
    incident.set_milestone(DETECTED, at(-10), by="bob", now=at(52))
    expected = snapshot(incident)
    store(uow_factory, incident)

    loaded = load(uow_factory)

    assert snapshot(loaded) == expected
    assert {(m.kind, m.at, m.set_by) for m in loaded.milestones} == {
        (STARTED, at(-50), "alice"),
        (DETECTED, at(-10), "bob"),
        (IDENTIFIED, at(30), "bob"),
        (RESOLVED, at(45), "bob"),
    }
    assert all(m.kind is type(m.kind)(m.kind.value) for m in loaded.milestones)
    assert loaded.durations().impact == timedelta(minutes=95)
    assert loaded.durations().to_detect == timedelta(minutes=40)


def test_moving_clearing_and_setting_again_persist(uow_factory: Factory) -> None:
    store(uow_factory, full_incident())
    with uow_factory() as uow:
        incident = uow.incidents.get("acme", 1)
        assert incident is not None
        incident.set_milestone(STARTED, at(-50), by="alice", now=at(60))
        incident.set_milestone(STARTED, at(-55), by="carol", now=at(61))  # moved
        # Reopen drops `resolved`; resolving again brings it back in the same flush:
        # one row per (incident, kind), updated rather than deleted and inserted.
        incident.reopen(by="bob", at=at(62), now=at(62))
        incident.set_status(Status.MONITORING, by="bob", at=at(63), now=at(63))
        incident.resolve(by="bob", at=at(64), now=at(64))
        incident.clear_milestone(IDENTIFIED)
        expected = snapshot(incident)
        uow.commit()

    loaded = load(uow_factory)

    assert snapshot(loaded) == expected
    assert {m.kind: (m.at, m.set_by) for m in loaded.milestones} == {
        STARTED: (at(-55), "carol"),
        MITIGATED: (at(63), "bob"),
        RESOLVED: (at(64), "bob"),
    }


def test_milestones_are_read_from_their_own_table(uow_factory: Factory) -> None:
    incident = declare()
    incident.set_milestone(STARTED, at(-5), by="alice", now=at(1))
    store(uow_factory, incident)
    with uow_factory() as uow:
        rows = uow.session.execute(select(milestones.c.kind, milestones.c.at)).all()
    assert [(row.kind, row.at) for row in rows] == [(STARTED, at(-5))]


def test_the_revision_fills_in_milestones_from_recorded_status_changes(
    uow_factory: Factory, migrated_url: str
) -> None:
    # Two incidents as the bot recorded them before milestones existed.
    earlier = full_incident("acme", 1)  # identified at 30, resolved at 45
    other = declare("acme", 2)
    other.set_status(Status.MONITORING, by="alice", at=at(8), now=at(8))
    other.set_status(Status.INVESTIGATING, by="alice", at=at(9), now=at(9))
    other.set_status(Status.MONITORING, by="alice", at=at(12), now=at(12))
    for incident in (earlier, other):
        incident.milestones = []
    store(uow_factory, earlier, other)
    config = alembic_config(migrated_url)
    command.downgrade(config, "0003_people")
    command.upgrade(config, "head")

    first, second = load(uow_factory, number=1), load(uow_factory, number=2)

    assert {m.kind: m.at for m in first.milestones} == {IDENTIFIED: at(30), RESOLVED: at(45)}
    # The first mitigation, not the last; an unresolved incident has no resolution.
    assert {m.kind: m.at for m in second.milestones} == {MITIGATED: at(8)}
    assert all(m.set_by is None for m in first.milestones + second.milestones)
    assert all(m.at.tzinfo is UTC for m in first.milestones + second.milestones)


def test_deleting_an_incident_deletes_its_milestones(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    factory = Factory(engine)
    try:
        incident: Incident = declare()
        incident.set_milestone(STARTED, datetime(2025, 3, 4, 12, 0, tzinfo=UTC), by="a", now=at(1))
        store(factory, incident)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM incidents"))
            assert connection.execute(text("SELECT COUNT(*) FROM milestones")).scalar() == 0
    finally:
        engine.dispose()
