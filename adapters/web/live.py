"""One poller per open incident, however many pages follow it.

Each page of an open incident holds a server-sent-events stream. Rather than each
stream asking the database every few seconds, the streams of one incident share a
watch: it reads the incident's change marker (one cheap query, `IncidentBot.
change_marker`) every `interval` seconds while at least one page follows it, and wakes
every follower when the marker moved. The page then fetches itself again; nothing is
rendered for a poll that found no change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Hashable

from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

Marker = Callable[[str, int], Hashable | None]


class _Watch:
    def __init__(self, marker: Callable[[], Hashable | None], interval: float) -> None:
        self._marker = marker
        self._interval = interval
        self.followers = 0
        self.version = 0  # goes up by one each time the marker moves
        self._moved = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def next_version(self, seen: int, timeout: float) -> int:
        """The version once it differs from `seen`, or as it is after `timeout`."""
        if self.version == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), timeout)
        return self.version

    async def _poll(self) -> None:
        last = await self._read(None)
        while True:
            await asyncio.sleep(self._interval)
            now = await self._read(last)
            if now != last:
                last = now
                self.version += 1
                moved, self._moved = self._moved, asyncio.Event()
                moved.set()

    async def _read(self, previous: Hashable | None) -> Hashable | None:
        try:
            return await run_in_threadpool(self._marker)
        except Exception as problem:  # the database away: no news, ask again later
            log.debug("live page poll failed: %s", problem)
            return previous


class IncidentWatches:
    """The watches of the incidents that pages follow right now, by incident."""

    def __init__(self, marker: Marker, *, interval: float = 2.0) -> None:
        self._marker = marker
        self.interval = interval
        self._watches: dict[tuple[str, int], _Watch] = {}

    @property
    def watched(self) -> int:
        """How many incidents are polled now (one poll each, whatever the pages)."""
        return len(self._watches)

    @contextlib.asynccontextmanager
    async def follow(self, workspace: str, number: int) -> AsyncIterator[_Watch]:
        key = (workspace, number)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch(
                lambda: self._marker(workspace, number), self.interval
            )
            watch.start()
        watch.followers += 1
        try:
            yield watch
        finally:
            watch.followers -= 1
            if watch.followers == 0:
                watch.stop()
                del self._watches[key]
