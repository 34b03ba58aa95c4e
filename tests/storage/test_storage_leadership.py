"""Leases and sync positions (storage.leadership): on PostgreSQL one holder at a time,
taken over once the lease runs out, and a position saved only by the holder; on SQLite
(one process) the lease is always the asker's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.ports import Leadership, LeaseLost
from storage.database import upgrade_database
from storage.leadership import PostgresLeadership, leadership_for
from storage.orm import leases

NAME = "matrix-sync:@bot:example.org"


@pytest.fixture
def postgres_leadership(postgres_url: str) -> Iterator[PostgresLeadership]:
    upgrade_database(postgres_url)
    leadership = leadership_for(postgres_url)
    assert isinstance(leadership, PostgresLeadership)
    try:
        yield leadership
    finally:
        leadership.engine.dispose()


@pytest.mark.postgres
def test_one_holder_at_a_time_until_the_lease_runs_out(
    postgres_leadership: PostgresLeadership,
) -> None:
    leadership: Leadership = postgres_leadership
    assert leadership.take(NAME, holder="a", seconds=1.0)
    assert not leadership.take(NAME, holder="b", seconds=1.0)
    assert leadership.take(NAME, holder="a", seconds=1.0), "the holder renews"
    # Another lease name is another job.
    assert leadership.take("other", holder="b", seconds=1.0)
    time.sleep(1.2)
    assert leadership.take(NAME, holder="b", seconds=30.0), "taken over once run out"
    assert not leadership.take(NAME, holder="a", seconds=30.0), "the old holder is out"
    with postgres_leadership.engine.connect() as connection:
        holder = connection.execute(select(leases.c.holder).where(leases.c.name == NAME))
        assert holder.scalar() == "b"


@pytest.mark.postgres
def test_only_the_holder_saves_a_position(postgres_leadership: PostgresLeadership) -> None:
    leadership: Leadership = postgres_leadership
    assert leadership.position(NAME) is None
    with pytest.raises(LeaseLost):
        leadership.save_position(NAME, holder="a", position="s1")  # nobody holds it
    assert leadership.take(NAME, holder="a", seconds=1.0)
    leadership.save_position(NAME, holder="a", position="s1")
    assert leadership.position(NAME) == "s1"
    time.sleep(1.2)
    # Ran out: the old holder, paused past its lease, cannot write even before anyone
    # else took over ...
    with pytest.raises(LeaseLost):
        leadership.save_position(NAME, holder="a", position="s2")
    assert leadership.take(NAME, holder="b", seconds=30.0)
    # ... nor after; the new holder carries on from the saved position.
    with pytest.raises(LeaseLost):
        leadership.save_position(NAME, holder="a", position="s2")
    assert leadership.position(NAME) == "s1"
    leadership.save_position(NAME, holder="b", position="s3")
    assert leadership.position(NAME) == "s3"


@pytest.mark.postgres
def test_giving_up_lets_another_take_it_at_once(postgres_leadership: PostgresLeadership) -> None:
    leadership: Leadership = postgres_leadership
    assert leadership.take(NAME, holder="a", seconds=60.0)
    leadership.give_up(NAME, holder="b")  # not b's to give up
    assert not leadership.take(NAME, holder="b", seconds=60.0)
    leadership.give_up(NAME, holder="a")
    assert leadership.take(NAME, holder="b", seconds=60.0)


def test_on_sqlite_the_lease_is_always_the_askers(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    leadership = leadership_for(sqlite_url)
    assert leadership.take(NAME, holder="a", seconds=60.0)
    assert leadership.take(NAME, holder="b", seconds=60.0)
    leadership.save_position(NAME, holder="b", position="s1")
    assert leadership.position(NAME) == "s1"
    leadership.save_position(NAME, holder="b", position="s2")
    assert leadership.position(NAME) == "s2"
