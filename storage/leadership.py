"""Leases and sync positions (bot.ports.Leadership) on PostgreSQL and SQLite.

On PostgreSQL several replicas share the database: a lease row says which of them holds
a job and until when, on the server's clock (`clock_timestamp()`), so hosts whose clocks
differ still agree. Taking, renewing and taking over are one upsert each, decided under
the row's lock; saving a position locks the lease row first and checks the holder in the
same transaction.

SQLite is one process's database (one writer, one host): the lease is always held by
whoever asks, and positions are saved without a check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL

from bot.ports import Leadership, LeaseLost
from storage.database import make_engine
from storage.orm import leases, sync_positions

_TAKE = text(
    """
    INSERT INTO leases AS lease (name, holder, expires_at, taken_at)
    VALUES (:name, :holder, clock_timestamp() + make_interval(secs => :seconds),
            clock_timestamp())
    ON CONFLICT (name) DO UPDATE
    SET holder = excluded.holder,
        expires_at = excluded.expires_at,
        taken_at = CASE WHEN lease.holder = excluded.holder
                        THEN lease.taken_at ELSE excluded.taken_at END
    WHERE lease.holder = excluded.holder OR lease.expires_at <= clock_timestamp()
    RETURNING lease.holder
    """
)
_GIVE_UP = text(
    "UPDATE leases SET expires_at = clock_timestamp() WHERE name = :name AND holder = :holder"
)
_HOLDER = text(
    "SELECT holder, expires_at > clock_timestamp() AS live FROM leases WHERE name = :name "
    "FOR UPDATE"
)
_SAVE = text(
    """
    INSERT INTO sync_positions (name, position, saved_at)
    VALUES (:name, :position, clock_timestamp())
    ON CONFLICT (name) DO UPDATE SET position = excluded.position, saved_at = excluded.saved_at
    """
)


def leadership_for(url: str | URL) -> Leadership:
    """The leases of the bot's database at `url`, on an engine of their own: a renewal
    never waits behind the core's work for a pooled connection."""
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        return PostgresLeadership(engine)
    if engine.dialect.name == "sqlite":
        return SqliteLeadership(engine)
    raise NotImplementedError(
        f"incident-bot stores its data in SQLite or PostgreSQL, not {engine.dialect.name}"
    )


class _StoredLeadership(Leadership):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def position(self, name: str) -> str | None:
        with self.engine.connect() as connection:
            value = connection.execute(
                sync_positions.select()
                .with_only_columns(sync_positions.c.position)
                .where(sync_positions.c.name == name)
            ).scalar()
        return str(value) if value is not None else None


class PostgresLeadership(_StoredLeadership):
    def take(self, name: str, *, holder: str, seconds: float) -> bool:
        with self.engine.begin() as connection:
            row = connection.execute(
                _TAKE, {"name": name, "holder": holder, "seconds": float(seconds)}
            ).first()
        return row is not None

    def give_up(self, name: str, *, holder: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(_GIVE_UP, {"name": name, "holder": holder})

    def save_position(self, name: str, *, holder: str, position: str) -> None:
        with self.engine.begin() as connection:
            # The lease row stays locked until the commit: a takeover waits for this
            # save, and a save after a takeover sees the new holder.
            row = connection.execute(_HOLDER, {"name": name}).first()
            if row is None or row.holder != holder or not row.live:
                raise LeaseLost(
                    f"the lease {name} is held by {row.holder if row else 'nobody'}"
                    if row is None or row.holder != holder
                    else f"the lease {name} ran out before it was renewed"
                )
            connection.execute(_SAVE, {"name": name, "position": position})


class SqliteLeadership(_StoredLeadership):
    """One process per SQLite database: the lease goes to whoever asks, and is kept as a
    row only so that the tables read alike on both backends."""

    def take(self, name: str, *, holder: str, seconds: float) -> bool:
        now = datetime.now(UTC)
        values = {
            "name": name,
            "holder": holder,
            "expires_at": now + timedelta(seconds=seconds),
            "taken_at": now,
        }
        insert = sqlite.insert(leases).values(values)
        with self.engine.begin() as connection:
            connection.execute(
                insert.on_conflict_do_update(
                    index_elements=[leases.c.name],
                    set_={"holder": holder, "expires_at": values["expires_at"]},
                )
            )
        return True

    def give_up(self, name: str, *, holder: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=datetime.now(UTC))
            )

    def save_position(self, name: str, *, holder: str, position: str) -> None:
        insert = sqlite.insert(sync_positions).values(
            name=name, position=position, saved_at=datetime.now(UTC)
        )
        with self.engine.begin() as connection:
            connection.execute(
                insert.on_conflict_do_update(
                    index_elements=[sync_positions.c.name],
                    set_={"position": position, "saved_at": insert.excluded.saved_at},
                )
            )
