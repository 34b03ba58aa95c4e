"""Where the core's work runs, away from Bolt's ack path.

Each channel's events go to one single-threaded lane, in the order they arrived (a 📌
and its removal must not swap); different channels run side by side.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class Lanes:
    def __init__(self, *, lanes: int = 4) -> None:
        self._lanes = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"slack-lane-{n}")
            for n in range(lanes)
        ]

    def submit(self, key: str, work: Callable[[], None]) -> Future[None]:
        lane = self._lanes[zlib.crc32(key.encode()) % len(self._lanes)]
        return lane.submit(self._logged, work)

    @staticmethod
    def _logged(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            log.exception("handling a Slack event failed")

    def shutdown(self) -> None:
        """Waits for the queued work to finish."""
        for lane in self._lanes:
            lane.shutdown(wait=True)


class RecentIds:
    """Event ids this process has received lately: a Slack retry of one of them is
    dropped without a database round trip (storage dedupes the rest)."""

    def __init__(self, *, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def add(self, event_id: str) -> bool:
        """False when the id was seen before."""
        with self._lock:
            if event_id in self._ids:
                return False
            self._ids[event_id] = None
            if len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return True
