"""The inbox on SQLite and PostgreSQL: stored once per delivery key, taken up again only
when abandoned, by one sweeper at a time."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from bot.ports import StorageUnavailable
from storage.database import upgrade_database
from storage.group_commit import AsyncGroupCommit, GroupCommit
from storage.inbox import InboxSync, SqlAlchemyInbox, inbox_for

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def put(box: SqlAlchemyInbox, key: str, *, at: datetime = T0, claimant: str = "a") -> int | None:
    item = box.put(platform="slack", key=key, payload=f'{{"k":"{key}"}}', received_at=at,
                   claimant=claimant)
    return None if item is None else item.id


Put = Callable[[SqlAlchemyInbox, str], "int | None"]


@contextmanager
def puts(through: str) -> Iterator[Put]:
    """`put` from the calling thread ("threads", as Socket Mode's listeners), or with
    `put_async` awaited on an event loop of its own ("loop", as HTTP mode's)."""
    if through == "threads":
        yield lambda box, key: put(box, key)
        return
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()

    def put_on_loop(box: SqlAlchemyInbox, key: str) -> int | None:
        stored = box.put_async(platform="slack", key=key, payload=f'{{"k":"{key}"}}',
                               received_at=T0, claimant="a")
        item = asyncio.run_coroutine_threadsafe(stored, loop).result(timeout=30)
        return None if item is None else item.id

    try:
        yield put_on_loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=10)
        loop.close()


THROUGH = ["threads", "loop"]


@pytest.mark.parametrize("through", THROUGH)
def test_a_redelivery_is_stored_once_and_each_put_is_committed(
    migrated_url: str, through: str
) -> None:
    box = inbox_for(migrated_url)
    with puts(through) as put_one:
        first = put_one(box, "Ev1")
        assert first is not None
        assert put_one(box, "Ev1") is None  # Slack's retry of the same event
        assert put_one(box, "Ev2") not in (None, first)
    # Committed: another inbox on the same database sees the rows.
    assert inbox_for(migrated_url).pending() == 2


@pytest.mark.parametrize("through", THROUGH)
def test_concurrent_puts_are_grouped_and_each_answered(migrated_url: str, through: str) -> None:
    box = inbox_for(migrated_url)
    keys = [f"Ev{n}" for n in range(200)] + ["Ev7", "Ev8"]  # two redeliveries among them
    with puts(through) as put_one, ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(lambda key: put_one(box, key), keys))
    stored = [i for i in ids if i is not None]
    assert len(stored) == len(set(stored)) == 200
    assert box.pending() == 200


Answer = int | None | Exception


def _round_behind_a_held_key(
    url: str, keys: list[str], through: str
) -> tuple[SqlAlchemyInbox, list[tuple[str, Answer]]]:
    """Puts `keys` while the inbox's connection waits: its put of a key that another
    transaction has inserted and not committed waits for it (ON CONFLICT must know
    whether that row stays). When every one of `keys` has queued, the other transaction
    rolls back. What each put returned or raised, with its key."""
    box = inbox_for(url, ack_timeout=30)  # rounds, not deadlines: the held put must wait
    group: GroupCommit | AsyncGroupCommit = (
        box._group if through == "threads" else box._async_group
    )
    with puts(through) as put_one:
        return box, _held_round(url, keys, box, group, put_one)


def _held_round(
    url: str, keys: list[str], box: SqlAlchemyInbox, group: GroupCommit | AsyncGroupCommit,
    put_one: Put,
) -> list[tuple[str, Answer]]:
    holder = psycopg.connect(url)  # a transaction of its own, left open
    holder.execute(
        "INSERT INTO inbox (platform, delivery_key, payload, received_at, claimed_at,"
        " claimed_by, attempts) VALUES ('slack', 'held', '{}', now(), now(), 'x', 1)"
    )
    answers: list[tuple[str, Answer]] = []

    def one(key: str) -> None:
        try:
            answers.append((key, put_one(box, key)))
        except Exception as problem:
            answers.append((key, problem))

    first = threading.Thread(target=one, args=("held",))
    first.start()
    others = [threading.Thread(target=one, args=(key,)) for key in keys]
    watcher = psycopg.connect(url, autocommit=True)
    try:
        deadline = time.monotonic() + 10
        waiting_for_a_lock = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
        while watcher.execute(waiting_for_a_lock).fetchone() != (1,):
            assert time.monotonic() < deadline, "the first put never waited"
            time.sleep(0.01)
        for thread in others:
            thread.start()
        # The next round must hold them all: they queue in the acking process, unseen by
        # the server, so the group commit says how many wait.
        while group.waiting < len(keys):
            assert time.monotonic() < deadline, group.waiting
            time.sleep(0.01)
    finally:
        holder.rollback()  # lets the first put go on, whatever happened
        holder.close()
        watcher.close()
    for thread in [first, *others]:
        thread.join(timeout=10)
        assert not thread.is_alive(), "a put never returned"
    return answers


def _transactions(url: str) -> dict[str, str]:
    """Each stored key's inserting transaction (xmin)."""
    with psycopg.connect(url) as reader:
        rows = reader.execute("SELECT delivery_key, xmin::text FROM inbox").fetchall()
    return {str(key): str(xmin) for key, xmin in rows}


@pytest.mark.parametrize("through", THROUGH)
def test_on_postgresql_acks_arriving_during_an_insert_share_the_next_commit(
    postgres_url: str, through: str
) -> None:
    upgrade_database(postgres_url)
    keys = [f"Ev{n}" for n in range(10)] + ["Ev3"]  # and a redelivery among them
    box, answers = _round_behind_a_held_key(postgres_url, keys, through)
    assert len(answers) == 12
    ids = [answer for _, answer in answers]
    # Each stored once: twelve puts, eleven keys, one redelivery told it was stored.
    assert ids.count(None) == 1 and [key for key, i in answers if i is None] == ["Ev3"]
    stored = [i for i in ids if i is not None]
    assert all(isinstance(i, int) for i in stored) and len(set(stored)) == 11, answers
    assert box.pending() == 11
    made_by = _transactions(postgres_url)
    # One statement, one commit, for the ten; the held key's insert was a round alone.
    assert len({made_by[f"Ev{n}"] for n in range(10)}) == 1, made_by
    assert made_by["held"] != made_by["Ev0"]


@pytest.mark.parametrize("through", THROUGH)
def test_on_postgresql_a_request_that_cannot_be_stored_fails_alone_in_its_round(
    postgres_url: str, through: str
) -> None:
    upgrade_database(postgres_url)
    too_long = "E" + "v" * 600  # the column holds 512 characters
    keys = ["Ev1", too_long, "Ev2", "Ev3"]
    box, found = _round_behind_a_held_key(postgres_url, keys, through)
    answers = dict(found)
    assert isinstance(answers[too_long], psycopg.errors.StringDataRightTruncation)
    assert all(isinstance(answers[key], int) for key in ("held", "Ev1", "Ev2", "Ev3")), found
    assert box.pending() == 4  # the three and the held key, stored once each
    # The bad request is not in the way of the next one either.
    with puts(through) as put_one:
        assert isinstance(put_one(box, "Ev4"), int)


@pytest.mark.parametrize("through", THROUGH)
def test_on_postgresql_an_ack_the_server_cannot_store_in_time_is_refused_and_never_stored(
    postgres_url: str, through: str
) -> None:
    """A stalled server (here a lock another transaction holds) cancels the ack's insert
    after `ack_timeout`: the put raises StorageUnavailable in time for Slack's 3 seconds
    (a command is answered "not recorded", an event gets no 200), and the request is not
    stored afterwards, when the server moves again."""
    upgrade_database(postgres_url)
    box = inbox_for(postgres_url, ack_timeout=0.5)
    holder = psycopg.connect(postgres_url)
    holder.execute(
        "INSERT INTO inbox (platform, delivery_key, payload, received_at, claimed_at,"
        " claimed_by, attempts) VALUES ('slack', 'Ev1', '{}', now(), now(), 'x', 1)"
    )
    with puts(through) as put_one, ThreadPoolExecutor(max_workers=1) as waiting:
        try:
            started = time.monotonic()
            refused = waiting.submit(put_one, box, "Ev1")
            with pytest.raises(StorageUnavailable, match=r"within 0\.5 s"):
                refused.result(timeout=5)  # not a hang when the deadline is missing
            assert time.monotonic() - started < 2.5
            holder.rollback()  # the server moves again: the cancelled insert stays undone
            assert box.pending() == 0
            assert isinstance(put_one(box, "Ev1"), int)  # and the next ack is stored
        finally:
            holder.close()  # lets a put that was never cancelled go on, whatever failed


def test_on_postgresql_a_server_that_never_answers_is_given_up_on_in_time() -> None:
    """A network that drops everything: the server cannot even cancel. The loop's
    connection gives up after `ack_timeout` and its margin."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts the connection in the kernel; nobody ever answers
    port = silent.getsockname()[1]
    box = inbox_for(f"postgresql://postgres@127.0.0.1:{port}/none", ack_timeout=0.5)
    try:
        with puts("loop") as put_one:
            started = time.monotonic()
            with pytest.raises(StorageUnavailable, match=r"within 0\.5 s"):
                put_one(box, "Ev1")
            assert time.monotonic() - started < 2.5
    finally:
        silent.close()


def test_only_abandoned_items_are_taken_up_and_done_removes_them(migrated_url: str) -> None:
    box = inbox_for(migrated_url)
    old, fresh, held = put(box, "old"), put(box, "fresh", at=T0 + timedelta(minutes=5)), put(
        box, "held"
    )
    assert None not in (old, fresh, held)
    now = T0 + timedelta(minutes=5, seconds=10)
    box.renew([held], claimant="a", now=now)  # still in hand: not abandoned
    taken = box.claim_abandoned(platform="slack", claimant="b", now=now,
                                claimed_before=now - timedelta(seconds=30), limit=10)
    assert [item.id for item in taken] == [old]
    assert taken[0].attempts == 2 and taken[0].payload == '{"k":"old"}'
    # Taken: not taken again until it is abandoned once more.
    assert box.claim_abandoned(platform="slack", claimant="c", now=now,
                               claimed_before=now - timedelta(seconds=30), limit=10) == []
    box.done(old)  # type: ignore[arg-type]
    box.done(fresh)  # type: ignore[arg-type]
    put(box, "another")
    # The writer thread removes finished items with its next group, soon after.
    deadline = time.monotonic() + 10
    while box.pending() != 2:
        assert time.monotonic() < deadline, box.pending()
        time.sleep(0.05)


def test_two_sweepers_never_take_the_same_item(migrated_url: str) -> None:
    box = inbox_for(migrated_url)
    for n in range(300):
        put(box, f"Ev{n}")
    now = T0 + timedelta(hours=1)
    taken: list[int] = []
    lock = threading.Lock()

    def sweep(claimant: str) -> None:
        sweeper = inbox_for(migrated_url)  # its own connections, as another replica's
        while True:
            items = sweeper.claim_abandoned(platform="slack", claimant=claimant, now=now,
                                            claimed_before=now - timedelta(seconds=1), limit=7)
            if not items:
                return
            with lock:
                taken.extend(item.id for item in items)

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(sweep, ["r1", "r2", "r3"]))
    assert len(taken) == len(set(taken)) == 300


@pytest.mark.parametrize("through", THROUGH)
@pytest.mark.parametrize("sync", list(InboxSync))
def test_on_sqlite_a_stored_request_is_committed_when_put_returns_either_way(
    tmp_path: Path, sync: InboxSync, through: str
) -> None:
    """Both durabilities: what `put` returned is committed (another process's connection,
    here plain sqlite3, reads it at once), a redelivery stores nothing, and the durability
    asked for is the one in force on the inbox's connections."""
    url = f"sqlite:///{tmp_path}/bot.db"
    box = inbox_for(url, sync=sync)
    keys = [f"Ev{n}" for n in range(60)] + ["Ev3"]
    with puts(through) as put_one, ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda key: put_one(box, key), keys))
    # Ev3 twice: whichever of the two threads inserted first stored it (on a loaded
    # machine the redelivery, queued last, can get the lock first), the other nothing.
    assert [ids[3], ids[-1]].count(None) == 1, (ids[3], ids[-1])
    assert len({i for i in ids if i is not None}) == 60 and ids.count(None) == 1
    reader = sqlite3.connect(tmp_path / "bot.db-inbox")
    try:
        assert reader.execute("SELECT count(*) FROM inbox").fetchone() == (60,)
    finally:
        reader.close()
    with box.engine.connect() as connection:
        level = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    assert level == {InboxSync.NORMAL: 1, InboxSync.FULL: 2}[sync]


def test_on_sqlite_an_ack_waiting_for_another_writer_leaves_the_event_loop_free(
    tmp_path: Path,
) -> None:
    """Another process holds the inbox file's write lock: `put_async` waits for it (the
    request is stored, not refused), and meanwhile the loop goes on with its other work
    (the pages, the probes, the other acks)."""
    box = inbox_for(f"sqlite:///{tmp_path}/bot.db", sync=InboxSync.NORMAL)
    put(box, "Ev0")  # creates the inbox file
    holder = sqlite3.connect(tmp_path / "bot.db-inbox", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # SQLite's write lock, as a sweep holds it
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        stored = asyncio.run_coroutine_threadsafe(
            box.put_async(platform="slack", key="Ev1", payload="{}", received_at=T0,
                          claimant="a"), loop)
        time.sleep(0.3)
        assert not stored.done(), stored  # waiting for the lock, not failed
        ticked = asyncio.run_coroutine_threadsafe(asyncio.sleep(0, result="tick"), loop)
        assert ticked.result(timeout=1) == "tick"  # the loop is not held by the wait
        holder.execute("ROLLBACK")
        item = stored.result(timeout=10)
        assert item is not None and item.key == "Ev1"
    finally:
        holder.close()
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=10)
        loop.close()
    assert box.pending() == 2


def test_with_normal_durability_the_wal_is_checkpointed_soon_after_a_put(tmp_path: Path) -> None:
    """`normal` defers the fsync to a checkpoint, which copies the WAL into the inbox file:
    it comes within about a second of the last request stored, so a power loss can only
    take the newest ones. Seen here as the inbox file alone (no WAL) holding the row."""
    box = inbox_for(f"sqlite:///{tmp_path}/bot.db", sync=InboxSync.NORMAL)
    put(box, "Ev1")
    alone = tmp_path / "alone" / "inbox.db"
    alone.parent.mkdir()

    def in_the_file_alone() -> int:
        shutil.copyfile(tmp_path / "bot.db-inbox", alone)  # without bot.db-inbox-wal
        reader = sqlite3.connect(alone)
        try:
            return int(reader.execute("SELECT count(*) FROM inbox").fetchone()[0])
        except sqlite3.OperationalError:  # no such table: even its creation is in the WAL
            return 0
        finally:
            reader.close()
            alone.unlink()

    assert in_the_file_alone() == 0  # only in the WAL, right after the put
    deadline = time.monotonic() + 10
    while in_the_file_alone() != 1:
        assert time.monotonic() < deadline, "no checkpoint within 10 s"
        time.sleep(0.1)
