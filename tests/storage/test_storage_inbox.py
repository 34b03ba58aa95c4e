"""The inbox on SQLite and PostgreSQL: stored once per delivery key, taken up again only
when abandoned, by one sweeper at a time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from storage.inbox import SqlAlchemyInbox, inbox_for

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
    put(box, "wake")  # the writer removes them with its next group
    assert box.pending() == 2


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
