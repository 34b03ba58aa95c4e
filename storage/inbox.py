"""The inbox (bot.ports.Inbox) on SQLite and PostgreSQL, with SQLAlchemy Core.

`put` returns once its row is committed: what an adapter acknowledges is on disk.
Where a commit waits for the disk (PostgreSQL, and SQLite with `synchronous=FULL`),
requests arriving together are committed together (group commit), so a burst costs one
commit per round rather than one per request. On PostgreSQL the
acking threads take turns on one connection: whichever is inserting when others arrive
leaves them queued, and the first of them inserts all the queued rows in one statement
(storage/group_commit.py). `put_async` (Slack's HTTP acks, on the server's event loop)
makes the same rounds on both databases, without holding the loop. On SQLite with
`synchronous=FULL` one writer thread takes every `put` waiting at that moment and
inserts them in one transaction.

On PostgreSQL the inbox is a table of the bot's database (migration 0003_inbox).
SQLite has one writer at a time per file and the core holds that lock while it handles
an event, so an ack would wait for it: there the inbox lives in a file of its own
beside the database (`incident-bot.db` -> `incident-bot.db-inbox`), created on first
use.

How durable a stored request is on SQLite is a setting (`INCIDENT_BOT_INBOX_SYNC`):

- `normal` (the default): WAL with `synchronous=NORMAL`. A commit is written to the
  WAL file without waiting for the disk (fsync happens at checkpoints), so it survives
  the process being killed (`kill -9`, a crash, an OOM kill): the write is in the
  operating system's page cache. A power loss or kernel crash in the second or so before
  the next checkpoint can lose the newest requests. The commit costs tens of
  microseconds, so each request is inserted on the thread answering Slack, in one
  statement, without a round trip to a writer thread; checkpoints (the fsyncs) run on
  the writer thread, off the ack's path and outside its lock.
- `full`: `synchronous=FULL`, an fsync per commit, so an ack survives a power loss
  too; requests arriving together share one (group commit). Slower acks under load.

On PostgreSQL durability is the server's (`synchronous_commit`); the setting is not used.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from sqlalchemy import Engine, delete, event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Row

from bot.ports import Inbox, InboxItem, StorageUnavailable
from storage.database import make_engine, normalise_url, unavailable_driver_error
from storage.group_commit import ONE, ROW_WIDTH, AsyncGroupCommit, GroupCommit, first_id
from storage.orm import inbox

log = logging.getLogger(__name__)

SQLITE_SUFFIX = "-inbox"
# At most this many rows in one group commit.
MAX_GROUP = 500
# With `synchronous=NORMAL`, the writer thread checkpoints the WAL (the fsync that
# makes stored requests survive a power loss) once this many requests were stored or
# finished since the last checkpoint, and at most this long after one was. SQLite's own
# automatic checkpoint (at 1,000 pages) would run inside some ack's commit.
CHECKPOINT_EVERY = 200
CHECKPOINT_AFTER_SECONDS = 1.0
# PostgreSQL: the longest one of the acks' statements may take before the server cancels
# it (statement_timeout), so that nothing is stored after its request was answered "not
# recorded". A request may wait for the round in flight and then its own: twice this,
# with the client's margin (ACK_MARGIN) on each, stays within Slack's 3 seconds, so a
# stalled server gets "not recorded, try again" (a command) or no 200 (an event, which
# Slack sends again) rather than Slack's own timeout and a note stored afterwards.
ACK_TIMEOUT = 1.0
ACK_MARGIN = 0.3  # beyond it the asynchronous connection gives up on the server


class InboxSync(StrEnum):
    """How durable a stored request is on SQLite (see the module's docstring)."""

    NORMAL = "normal"  # survives kill -9 of the bot; not a power loss just after
    FULL = "full"  # survives a power loss; an fsync per (group) commit


def inbox_for(
    url: str | URL, *, sync: InboxSync = InboxSync.NORMAL, ack_timeout: float = ACK_TIMEOUT
) -> SqlAlchemyInbox:
    """The inbox of the bot's database at `url` (see the module's docstring)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return SqlAlchemyInbox(make_engine(parsed), ack_timeout=ack_timeout)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        parsed = parsed.set(database=database + SQLITE_SUFFIX)
    engine = make_engine(parsed)
    _synchronous(engine, sync)
    inbox.create(engine, checkfirst=True)  # with its index
    return SqlAlchemyInbox(engine, sync=sync)


def _synchronous(engine: Engine, sync: InboxSync) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA synchronous = {sync.value.upper()}")
            if sync is InboxSync.NORMAL:
                # The writer thread checkpoints (CHECKPOINT_EVERY), not an ack's commit.
                cursor.execute("PRAGMA wal_autocheckpoint = 0")
        finally:
            cursor.close()


@dataclass
class _Put:
    values: dict[str, Any]
    result: Future[int | None] = field(default_factory=Future)


# The ack's insert on SQLite with `synchronous=NORMAL`: one statement, in autocommit, so
# it is committed when it returns; prepared once and cached by the sqlite3 module.
_SQLITE_PUT = ONE.replace("%s", "?")
# SQLite with synchronous=NORMAL: handled requests are deleted in batches of at most
# DONE_BATCH, at most DONE_DELAY seconds after the first of them was handled.
DONE_BATCH = 32
DONE_DELAY = 0.02


class SqlAlchemyInbox(Inbox):
    def __init__(
        self, engine: Engine, *, sync: InboxSync = InboxSync.FULL, ack_timeout: float = ACK_TIMEOUT
    ) -> None:
        """`ack_timeout` (PostgreSQL): the longest one of the acks' statements may take."""
        self.engine = engine
        self._ack_timeout = ack_timeout
        # SQLite lets one writer in at a time and makes the others poll, sleeping up to
        # 100 ms between tries; this process's own writers queue on a lock instead.
        self._writing: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        dialect = engine.dialect.name
        insert: Any
        if dialect == "postgresql":
            insert = postgresql.insert(inbox)
        elif dialect == "sqlite":
            insert = sqlite.insert(inbox)
        else:
            raise NotImplementedError(
                f"incident-bot stores its data in SQLite or PostgreSQL, not {dialect}"
            )
        # A redelivery of a stored request inserts nothing (and raises nothing).
        self._insert_one = insert.on_conflict_do_nothing().returning(
            inbox.c.id, inbox.c.platform, inbox.c.delivery_key
        )
        self._puts: queue.SimpleQueue[_Put] = queue.SimpleQueue()
        self._finished: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        # SQLite with synchronous=NORMAL: the ack inserts on its own thread through one
        # DB-API connection kept for it (a commit costs no fsync, so grouping gains
        # nothing, and the hand-over to a writer thread would cost the ack the
        # interpreter lock twice more).
        self._direct = dialect == "sqlite" and sync is InboxSync.NORMAL
        self._ack_connection: Any = None
        self._pending_done: list[int] = []
        self._pending_lock = threading.Lock()
        # PostgreSQL: the acking threads insert in turns on one connection of the
        # inbox's own, in autocommit, those arriving together in one statement
        # (storage/group_commit.py), without SQLAlchemy's transaction or a hand-over to
        # the writer thread.
        self._postgres_direct = dialect == "postgresql"
        self._group = GroupCommit(
            self._execute_postgres,
            row_at_fault=lambda problem: not isinstance(problem, StorageUnavailable),
        )
        self._ack_postgres: Any = None  # its connection (only the round's leader uses it)
        # `put_async`'s rounds, and what they run on (see put_async).
        self._async_group = AsyncGroupCommit(
            self._execute_postgres_async,
            row_at_fault=lambda problem: not isinstance(problem, StorageUnavailable),
        )
        self._ack_postgres_async: Any = None
        self._sqlite_group = AsyncGroupCommit(
            self._execute_sqlite_async, marks="?", row_at_fault=lambda problem: not _busy(problem)
        )
        self._ack_thread: ThreadPoolExecutor | None = None
        self._stamp = inbox.c.received_at.type.bind_processor(engine.dialect)
        self._since_checkpoint = 0
        self._checkpointed_at = time.monotonic()

    # -- the port ------------------------------------------------------------------------

    def put(
        self, *, platform: str, key: str, payload: str, received_at: datetime, claimant: str
    ) -> InboxItem | None:
        values = _values(platform, key, payload, received_at, claimant)
        if self._direct:
            item_id = self._put_now(values)
        elif self._postgres_direct:
            item_id = self._group.put(self._row(values))
        else:
            item_id = self._to_writer(values).result()  # raises what the commit raised
        return _stored(item_id, values)

    async def put_async(
        self, *, platform: str, key: str, payload: str, received_at: datetime, claimant: str
    ) -> InboxItem | None:
        """`put` on an event loop (Slack's HTTP acks), which it never holds. Requests
        arriving together are inserted together (AsyncGroupCommit): on PostgreSQL on an
        asynchronous connection of its own, so the wait for the server costs no thread
        and no hand-over of the interpreter lock; on SQLite on a thread kept for it,
        where sqlite3 lets go of the interpreter lock while it writes and the loop goes
        on parsing the next requests, and where a wait for SQLite's lock (another
        process writing) never stalls the loop, which also serves the pages and the
        probes. Measured in bench/slack_ack.py, SQLite: the insert on the loop itself
        1.17 times the bare app's p99 and one thread hop per request 1.12, against 1.01
        in rounds (sets of 10 runs)."""
        values = _values(platform, key, payload, received_at, claimant)
        item_id: int | None
        if self._postgres_direct:
            item_id = await self._async_group.put(self._row(values))
        elif self._direct:
            item_id = await self._sqlite_group.put(self._row(values))
        else:
            item_id = await asyncio.wrap_future(self._to_writer(values))
        return _stored(item_id, values)

    def claim_abandoned(
        self, *, platform: str, claimant: str, now: datetime, claimed_before: datetime, limit: int
    ) -> list[InboxItem]:
        # PostgreSQL: SKIP LOCKED lets two sweeping replicas pass each other's rows by.
        # SQLite renders no FOR UPDATE; its BEGIN IMMEDIATE makes sweeps take turns.
        with self._writing, self.engine.begin() as connection:
            rows = connection.execute(
                select(inbox)
                .where(inbox.c.platform == platform, inbox.c.claimed_at < claimed_before)
                .order_by(inbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                connection.execute(
                    update(inbox)
                    .where(inbox.c.id.in_([row.id for row in rows]))
                    .values(
                        claimed_at=now, claimed_by=claimant, attempts=inbox.c.attempts + 1
                    )
                )
        return [_item(row, attempts=row.attempts + 1) for row in rows]

    def renew(self, item_ids: Collection[int], *, claimant: str, now: datetime) -> None:
        if not item_ids:
            return
        with self._writing, self.engine.begin() as connection:
            connection.execute(
                update(inbox)
                .where(inbox.c.id.in_(list(item_ids)), inbox.c.claimed_by == claimant)
                .values(claimed_at=now)
            )

    def done(self, item_id: int) -> None:
        # A deletion lost to a crash only means the request is handled again, which the
        # core's processed events make a no-op.
        if self._direct:
            # Deleted in batches, one statement in autocommit each, as the ack inserts: a
            # transaction on the writer thread per deletion, through SQLAlchemy, held
            # the acks' lock ten times longer. The first of a batch waits at most
            # DONE_DELAY (the writer thread deletes it), DONE_BATCH of them not at all.
            with self._pending_lock:
                self._pending_done.append(item_id)
                waiting = len(self._pending_done)
            if waiting >= DONE_BATCH:
                self._delete_pending()
            elif waiting == 1:
                self._ensure_writer()
                self._puts.put(_Put({}))  # wakes the writer
            return
        # Deleted with the next group commit.
        self._ensure_writer()
        self._finished.put(item_id)
        self._puts.put(_Put({}))  # wakes the writer

    def pending(self) -> int:
        """How many requests are stored and not yet handled (for tests and checks)."""
        self._delete_pending()  # handled, waiting for their batch: not pending
        with self.engine.connect() as connection:
            return len(connection.execute(select(inbox.c.id)).all())

    def _row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The insert's parameters, in the order of _SQLITE_PUT and group_commit's."""
        stamp = self._stamp
        return (
            values["platform"],
            values["delivery_key"],
            values["payload"],
            stamp(values["received_at"]) if stamp else values["received_at"],
            stamp(values["claimed_at"]) if stamp else values["claimed_at"],
            values["claimed_by"],
            values["attempts"],
        )

    def _to_writer(self, values: dict[str, Any]) -> Future[int | None]:
        request = _Put(values)
        self._ensure_writer()
        self._puts.put(request)
        return request.result

    def _put_now(self, values: dict[str, Any]) -> int | None:
        """SQLite's insert of one request, on the calling thread."""
        return first_id(self._execute_sqlite(_SQLITE_PUT, self._row(values)))

    async def _execute_sqlite_async(
        self, statement: str, parameters: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """One of `put_async`'s statements, on the thread kept for them."""
        if self._ack_thread is None:
            self._ack_thread = ThreadPoolExecutor(1, thread_name_prefix="inbox-ack")
        return await asyncio.get_running_loop().run_in_executor(
            self._ack_thread, self._execute_sqlite, statement, parameters
        )

    def _execute_sqlite(
        self, statement: str, parameters: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """An insert of the ack's, committed when it returns: in autocommit (the engine's
        connections leave transactions to us). A redelivery of a stored request changes
        no row and returns none."""
        with self._writing:
            if self._ack_connection is None:
                self._ack_connection = self.engine.raw_connection()
            rows = list(self._ack_connection.execute(statement, parameters).fetchall())
            self._since_checkpoint += len(parameters) // ROW_WIDTH
            if self._since_checkpoint >= CHECKPOINT_EVERY:
                self._puts.put(_Put({}))  # wakes the writer, which checkpoints
        self._ensure_writer()  # checkpoints within CHECKPOINT_AFTER_SECONDS
        return rows

    def _execute_postgres(
        self, statement: str, parameters: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """One of the group commit's statements, committed when it returns."""
        try:
            if self._ack_postgres is None:
                self._ack_postgres = self.engine.raw_connection()
                driver = self._ack_postgres.driver_connection
                assert driver is not None
                driver.autocommit = True
                driver.execute(self._statement_timeout())
            cursor = self._ack_postgres.cursor()
            try:
                cursor.execute(statement, parameters)
                return list(cursor.fetchall())
            finally:
                cursor.close()
        except Exception as problem:
            if self._ack_postgres is not None:
                self._ack_postgres.invalidate()  # broken or in doubt: never reused
                self._ack_postgres = None
            raise self._ack_problem(problem) from None

    async def _execute_postgres_async(
        self, statement: str, parameters: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """One of `put_async`'s statements, committed when it returns."""
        try:
            # The server cancels a statement after ACK_TIMEOUT; this gives up on a server
            # that does not answer at all (a network that drops everything).
            return await asyncio.wait_for(
                self._round_trip(statement, parameters), self._ack_timeout + ACK_MARGIN
            )
        except Exception as problem:
            if self._ack_postgres_async is not None:
                broken, self._ack_postgres_async = self._ack_postgres_async, None
                await broken.close()  # broken or in doubt: never reused
            raise self._ack_problem(problem) from None

    async def _round_trip(
        self, statement: str, parameters: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        if self._ack_postgres_async is None:
            conninfo = self.engine.url.set(drivername="postgresql")
            connection = await psycopg.AsyncConnection.connect(
                conninfo.render_as_string(hide_password=False), autocommit=True
            )
            await connection.execute(self._statement_timeout())
            self._ack_postgres_async = connection
        async with self._ack_postgres_async.cursor() as cursor:
            await cursor.execute(statement, parameters)
            return list(await cursor.fetchall())

    def _statement_timeout(self) -> str:
        return f"SET statement_timeout = {round(self._ack_timeout * 1000)}"

    def _ack_problem(self, problem: Exception) -> Exception:
        """What to raise for an ack's failed statement: StorageUnavailable when the
        database is away or too slow (nothing was stored, for any row of the round)."""
        if isinstance(problem, psycopg.errors.QueryCanceled | TimeoutError):
            return StorageUnavailable(
                f"the database did not store the request within {self._ack_timeout:g} s"
            )
        return unavailable_driver_error(problem) or problem

    def _delete_pending(self) -> None:
        with self._pending_lock:
            item_ids, self._pending_done = self._pending_done, []
        if not item_ids:
            return
        marks = ",".join("?" * len(item_ids))
        with self._writing:
            if self._ack_connection is None:
                self._ack_connection = self.engine.raw_connection()
            self._ack_connection.execute(f"DELETE FROM inbox WHERE id IN ({marks})", item_ids)
            self._since_checkpoint += len(item_ids)
            checkpoint_due = self._since_checkpoint >= CHECKPOINT_EVERY
        if checkpoint_due:
            self._puts.put(_Put({}))  # wakes the writer, which checkpoints

    # -- the writer ------------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        if self._writer is not None:
            return
        with self._writer_lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, name="inbox-writer", daemon=True
                )
                self._writer.start()

    def _write_forever(self) -> None:
        while True:
            try:
                group = [self._puts.get(timeout=CHECKPOINT_AFTER_SECONDS)]
            except queue.Empty:
                self._checkpoint_if_due()
                continue
            while len(group) < MAX_GROUP:
                try:
                    group.append(self._puts.get_nowait())
                except queue.Empty:
                    break
            finished: list[int] = []
            while True:
                try:
                    finished.append(self._finished.get_nowait())
                except queue.Empty:
                    break
            if self._pending_done:
                time.sleep(DONE_DELAY)  # the rest of a burst's deletions join them
                try:
                    self._delete_pending()
                except Exception:
                    # Left in the inbox: handled again later, which the core makes a
                    # no-op. The writer thread goes on (it also checkpoints).
                    log.exception("could not delete handled requests from the inbox")
            inserts = [put for put in group if put.values]
            if not inserts and not finished:
                self._checkpoint_if_due()
                continue
            try:
                with self._writing, self.engine.begin() as connection:
                    ids = self._insert(connection, inserts)
                    if finished:
                        connection.execute(delete(inbox).where(inbox.c.id.in_(finished)))
            except Exception as problem:
                for put in inserts:
                    put.result.set_exception(problem)
                # Deletions are tried again with the next group.
                for item_id in finished:
                    self._finished.put(item_id)
                continue
            with self._writing:
                self._since_checkpoint += len(finished)
            self._checkpoint_if_due()
            answered: set[tuple[str, str]] = set()
            for put in inserts:
                key = (put.values["platform"], put.values["delivery_key"])
                # The same request twice in one group: the first one is stored.
                put.result.set_result(None if key in answered else ids.get(key))
                answered.add(key)

    def _checkpoint_if_due(self) -> None:
        """Copies the WAL into the inbox file (and fsyncs both), outside the writers'
        lock: a PASSIVE checkpoint lets writers go on meanwhile."""
        if not self._direct or not self._since_checkpoint:
            return
        waited = time.monotonic() - self._checkpointed_at
        if self._since_checkpoint < CHECKPOINT_EVERY and waited < CHECKPOINT_AFTER_SECONDS:
            return
        with self._writing:
            self._since_checkpoint = 0
        self._checkpointed_at = time.monotonic()
        try:
            # A DB-API connection in autocommit: a checkpoint inside a transaction (the
            # engine begins one on every connection) would do nothing.
            connection = self.engine.raw_connection()
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                connection.close()
        except Exception:
            log.warning("checkpointing the inbox failed; tried again later", exc_info=True)

    def _insert(
        self, connection: Connection, puts: Sequence[_Put]
    ) -> dict[tuple[str, str], int]:
        """Inserts the rows that are new; their ids by (platform, delivery key)."""
        ids: dict[tuple[str, str], int] = {}
        for put in puts:
            # One statement, compiled once (a multi-row VALUES would be compiled anew
            # for every group size, on the threads' shared interpreter lock).
            row = connection.execute(self._insert_one, put.values).first()
            if row is not None:
                ids[(row.platform, row.delivery_key)] = row.id
        return ids


def _busy(problem: BaseException) -> bool:
    """SQLite's lock was held past the busy timeout: every row of a round would wait
    that long again."""
    return getattr(problem, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY


def _values(
    platform: str, key: str, payload: str, received_at: datetime, claimant: str
) -> dict[str, Any]:
    return {
        "platform": platform,
        "delivery_key": key,
        "payload": payload,
        "received_at": received_at,
        "claimed_at": received_at,
        "claimed_by": claimant,
        "attempts": 1,
    }


def _stored(item_id: int | None, values: dict[str, Any]) -> InboxItem | None:
    """The item `put` stored, or None when its key was stored already."""
    if item_id is None:
        return None
    return InboxItem(
        id=item_id,
        platform=values["platform"],
        key=values["delivery_key"],
        payload=values["payload"],
        received_at=values["received_at"],
        attempts=1,
    )


def _item(row: Row[Any], *, attempts: int) -> InboxItem:
    return InboxItem(
        id=row.id,
        platform=row.platform,
        key=row.delivery_key,
        payload=row.payload,
        received_at=row.received_at,
        attempts=attempts,
    )
