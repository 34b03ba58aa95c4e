"""Forgetting old processed event ids, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.drafts.templates import builtin_registry
from bot.service import CoreSettings, IncidentBot
from storage.orm import processed_events
from storage.uow import SqlAlchemyUnitOfWorkFactory

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def recorded(factory: SqlAlchemyUnitOfWorkFactory, days_ago: float, count: int, tag: str) -> None:
    with factory() as uow:
        for number in range(count):
            moment = NOW - timedelta(days=days_ago, seconds=number)
            assert uow.events.record("slack", f"{tag}-{number}", moment)
        uow.commit()


def stored(factory: SqlAlchemyUnitOfWorkFactory) -> int:
    with factory() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(processed_events)) or 0)


def test_event_ids_older_than_the_retention_are_forgotten_in_batches(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    recorded(uow_factory, 45, 25, "old")
    recorded(uow_factory, 29, 5, "recent")
    bot = IncidentBot(
        uow=uow_factory, clock=ManualClock(NOW), settings=CoreSettings(),
        templates=builtin_registry(),
    )

    # Batches of 10: three transactions forget the 25 old ones; the recent ones stay.
    assert bot.forget_processed_events(older_than=timedelta(days=30), batch=10) == 25
    assert stored(uow_factory) == 5
    assert bot.forget_processed_events(older_than=timedelta(days=30), batch=10) == 0

    with uow_factory() as uow:
        # A forgotten id counts as new again (no platform re-delivers one that old) …
        assert uow.events.record("slack", "old-3", NOW)
        # … and one still kept is still a duplicate.
        assert not uow.events.record("slack", "recent-2", NOW)


def test_one_batch_is_bounded(uow_factory: SqlAlchemyUnitOfWorkFactory) -> None:
    recorded(uow_factory, 60, 12, "old")
    with uow_factory() as uow:
        assert uow.events.prune(before=NOW - timedelta(days=30), limit=5) == 5
        uow.commit()
    assert stored(uow_factory) == 7
