"""The inbox on SQLite and PostgreSQL: stored once per delivery key, taken up again only
when abandoned, by one sweeper at a time."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.inbox import InboxSync, SqlAlchemyInbox, inbox_for

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def put(box: SqlAlchemyInbox, key: str, *, at: datetime = T0, claimant: str = "a") -> int | None:
    item = box.put(platform="slack", key=key, payload=f'{{"k":"{key}"}}', received_at=at,
                   claimant=claimant)
    return None if item is None else item.id


def test_a_redelivery_is_stored_once_and_each_put_is_committed(migrated_url: str) -> None:
    box = inbox_for(migrated_url)
    first = put(box, "Ev1")
    assert first is not None
    assert put(box, "Ev1") is None  # Slack's retry of the same event
    assert put(box, "Ev2") not in (None, first)
    # Committed: another inbox on the same database sees the rows.
    assert inbox_for(migrated_url).pending() == 2


def test_concurrent_puts_are_grouped_and_each_answered(migrated_url: str) -> None:
    box = inbox_for(migrated_url)
    keys = [f"Ev{n}" for n in range(200)] + ["Ev7", "Ev8"]  # two redeliveries among them
    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(lambda key: put(box, key), keys))
    stored = [i for i in ids if i is not None]
    assert len(stored) == len(set(stored)) == 200
    assert box.pending() == 200


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


@pytest.mark.parametrize("sync", list(InboxSync))
def test_on_sqlite_a_stored_request_is_committed_when_put_returns_either_way(
    tmp_path: Path, sync: InboxSync
) -> None:
    """Both durabilities: what `put` returned is committed (another process's connection,
    here plain sqlite3, reads it at once), a redelivery stores nothing, and the durability
    asked for is the one in force on the inbox's connections."""
    url = f"sqlite:///{tmp_path}/bot.db"
    box = inbox_for(url, sync=sync)
    keys = [f"Ev{n}" for n in range(60)] + ["Ev3"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda key: put(box, key), keys))
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
