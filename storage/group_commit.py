"""Group commit for the inbox's acks: concurrent puts share one statement.

`GroupCommit` is for puts on threads (Socket Mode's listeners, on PostgreSQL);
`AsyncGroupCommit` makes the same rounds for puts awaited on an event loop (HTTP mode's
listeners, on PostgreSQL and on SQLite). For threads:

The first put to arrive while none is in progress leads: it inserts its own row at once
(one round trip, as alone). Puts arriving meanwhile queue; when the leader's statement
returns, the first of them leads the next round, which inserts all that queued (up to
MOST) in one statement and one commit. So a lone ack costs what it did, and a burst
costs one round trip and one commit per round rather than one per request, for the
acking process and for the server both. No thread of its own: the hand-over to one cost
the acks more than it saved (bench/slack_ack.py).

bench/slack_ack.py on PostgreSQL, side by side with one insert per ack on connections of
their own: the acking process spent 0.96 against 1.25 ms of CPU per request, and the
p99 ratio to a bare Bolt app went from 1.87 to 1.18 (medians over 6 runs; README,
"Slack ack latency").
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

_INSERT = (
    "INSERT INTO inbox (platform, delivery_key, payload, received_at, claimed_at,"
    " claimed_by, attempts) VALUES "
)
ROW_WIDTH = 7  # the values of one row
_ROW = "(" + ", ".join(["%s"] * ROW_WIDTH) + ")"
_SKIP_STORED = " ON CONFLICT (platform, delivery_key) DO NOTHING"
# One row: the ack's insert, prepared once per connection by the driver.
ONE = _INSERT + _ROW + _SKIP_STORED + " RETURNING id"
# At most this many rows in one statement; the rest wait for the next round.
MOST = 64


def _many(count: int) -> str:
    """The insert of `count` rows (a statement per count, each prepared by the driver
    once it recurs; arrays of the columns made the driver escape every string in Python,
    a tenth of the acking process's CPU)."""
    rows = ", ".join([_ROW] * count)
    return _INSERT + rows + _SKIP_STORED + " RETURNING id, platform, delivery_key"


_MANY = {count: _many(count) for count in range(2, MOST + 1)}


class Interrupted(Exception):
    """The round this put was in ended before its answer (its leader was interrupted)."""


class _Waiting:
    __slots__ = ("item_id", "lead", "problem", "row", "wake")

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.row = row
        # Held until this put has its answer, or is to lead the next round.
        self.wake = threading.Lock()
        self.wake.acquire()
        self.lead = False
        self.item_id: int | None = None
        # Until answered: nothing is known to be stored.
        self.problem: BaseException | None = Interrupted("the request was not stored")

    def answer(self) -> int | None:
        if self.problem is not None:
            raise self.problem
        return self.item_id


class GroupCommit:
    """`put(row)` returns the new row's id, or None when its key was stored already.
    `execute(statement, parameters)` runs one statement on the inbox's connection and
    returns its rows; it raises what the driver raised. When a round of several rows
    fails with a problem `row_at_fault` says may be one row's (a key too long, say), each
    row is tried again alone, so that one bad request does not fail those that arrived
    with it; otherwise (the database is away) every put of the round raises it."""

    def __init__(
        self,
        execute: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]],
        *,
        row_at_fault: Callable[[BaseException], bool] = lambda problem: True,
    ) -> None:
        self._execute = execute
        self._row_at_fault = row_at_fault
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False

    @property
    def waiting(self) -> int:
        """How many puts wait for the next round (for tests and checks)."""
        with self._lock:
            return len(self._queue)

    def put(self, row: tuple[Any, ...]) -> int | None:
        me = _Waiting(row)
        with self._lock:
            self._queue.append(me)
            lead = not self._leading
            self._leading = True
        if not lead:
            me.wake.acquire()
            if not me.lead:
                return me.answer()
        with self._lock:
            group, self._queue = self._queue[:MOST], self._queue[MOST:]
        try:
            self._insert(group)
        finally:  # even when interrupted: the next round is led, the others answered
            with self._lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].wake.release()
                else:
                    self._leading = False
            for other in group:
                if other is not me:
                    other.wake.release()
        return me.answer()

    def _insert(self, group: list[_Waiting]) -> None:
        """Sets each put's answer (its id, or its problem)."""
        if len(group) == 1:
            self._insert_one(group[0])
            return
        parameters = [value for one in group for value in one.row]
        try:
            found = self._execute(_MANY[len(group)], parameters)
        except Exception as problem:
            if self._row_at_fault(problem):
                for one in group:
                    self._insert_one(one)
            else:
                for one in group:
                    one.problem = problem
            return
        for one, item_id in zip(group, _ids_of([one.row for one in group], found), strict=True):
            one.item_id, one.problem = item_id, None

    def _insert_one(self, one: _Waiting) -> None:
        try:
            found = self._execute(ONE, one.row)
        except Exception as problem:
            one.problem = problem
            return
        one.item_id, one.problem = first_id(found), None


def first_id(found: list[tuple[Any, ...]]) -> int | None:
    """The id a one-row insert (`RETURNING id`) returned, or None: stored already."""
    return int(found[0][0]) if found else None


def _ids_of(rows: Sequence[tuple[Any, ...]], found: list[tuple[Any, ...]]) -> list[int | None]:
    """Each row's new id from a round's `RETURNING id, platform, delivery_key`, or None
    where it was stored already. The same request twice in one round: the first is stored."""
    ids = {(platform, key): int(item_id) for item_id, platform, key in found}
    return [ids.pop((row[0], row[1]), None) for row in rows]


_Pending = tuple[tuple[Any, ...], "asyncio.Future[int | None]"]  # a row and its answer


class AsyncGroupCommit:
    """The same rounds for puts awaited on one event loop (Slack's HTTP acks): `await
    put(row)`. A put arriving while no round runs starts one with its row alone; those
    arriving during a round go together in the next, up to MOST. `execute` is awaited
    for each statement. Not thread-safe: only the loop that awaits `put` may call it."""

    def __init__(
        self,
        execute: Callable[[str, Sequence[Any]], Awaitable[list[tuple[Any, ...]]]],
        *,
        row_at_fault: Callable[[BaseException], bool] = lambda problem: True,
        marks: str = "%s",
    ) -> None:
        self._execute = execute
        self._row_at_fault = row_at_fault
        self._one = ONE.replace("%s", marks)
        self._many = {count: text.replace("%s", marks) for count, text in _MANY.items()}
        self._queue: list[_Pending] = []
        self._rounds: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """How many puts wait for the next round (for tests and checks)."""
        return len(self._queue)

    async def put(self, row: tuple[Any, ...]) -> int | None:
        answer: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append((row, answer))
        if self._rounds is None:
            self._rounds = asyncio.create_task(self._run_rounds())
        # Shielded: a request given up on (its client went away) leaves the round alone.
        return await asyncio.shield(answer)

    async def _run_rounds(self) -> None:
        group: list[_Pending] = []
        try:
            while self._queue:
                group, self._queue = self._queue[:MOST], self._queue[MOST:]
                await self._insert(group)
        finally:
            self._rounds = None
            # Interrupted (the loop is closing): nothing unanswered is known to be stored.
            for _, answer in group + self._queue:
                if not answer.done():
                    answer.set_exception(Interrupted("the request was not stored"))

    async def _insert(self, group: list[_Pending]) -> None:
        if len(group) > 1:
            rows = [row for row, _ in group]
            try:
                parameters = [value for row in rows for value in row]
                found = await self._execute(self._many[len(group)], parameters)
            except Exception as problem:
                if not self._row_at_fault(problem):
                    for _, answer in group:
                        answer.set_exception(problem)
                    return
            else:
                for (_, answer), item_id in zip(group, _ids_of(rows, found), strict=True):
                    answer.set_result(item_id)
                return
        for row, answer in group:  # alone, or again alone after a row's fault
            try:
                found = await self._execute(self._one, row)
            except Exception as problem:
                answer.set_exception(problem)
            else:
                answer.set_result(first_id(found))
