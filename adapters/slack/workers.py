"""Where the core's work runs, away from Bolt's ack path, and the inbox sweep that
takes up what was stored and not finished.

Each channel's events go to one single-threaded lane, in the order they arrived (a 📌
and its removal must not swap); different channels run side by side.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from bot.ports import Inbox, InboxItem

log = logging.getLogger(__name__)

SWEEP_BATCH = 100


# While acks are in flight, a lane waits at most this long before its next event.
GIVE_WAY_AT_MOST = 0.1


class AckFirst:
    """Handling gives way to acks: a lane starts its next event only when no ack is in
    flight, or after waiting GIVE_WAY_AT_MOST. The ack and the handling share the
    interpreter lock (and, on a busy machine, the CPUs); without this, a burst of
    requests is acked while the events before it are handled, and every ack waits its
    turn behind ORM work. Slack's 3 s limit is on the ack; the handling can wait.

    Counted in HTTP mode (SlackEndpoint). In Socket Mode bench/slack_ack.py showed no
    gain (the median ack got slower), so there the lanes do not wait."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._quiet = threading.Condition()

    @contextmanager
    def acking(self) -> Iterator[None]:
        self.started()
        try:
            yield
        finally:
            self.finished()

    def started(self) -> None:
        with self._quiet:
            self._in_flight += 1

    def finished(self) -> None:
        with self._quiet:
            self._in_flight -= 1
            if self._in_flight <= 0:
                self._in_flight = 0
                self._quiet.notify_all()

    def give_way(self, at_most: float = GIVE_WAY_AT_MOST) -> None:
        with self._quiet:
            self._quiet.wait_for(lambda: self._in_flight == 0, timeout=at_most)


class Lanes:
    def __init__(self, *, lanes: int = 4, ack_first: AckFirst | None = None) -> None:
        self._ack_first = ack_first
        self._lanes = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"slack-lane-{n}")
            for n in range(lanes)
        ]

    def submit(self, key: str, work: Callable[[], None]) -> Future[None]:
        lane = self._lanes[zlib.crc32(key.encode()) % len(self._lanes)]
        return lane.submit(self._logged, work)

    def _logged(self, work: Callable[[], None]) -> None:
        try:
            if self._ack_first is not None:
                self._ack_first.give_way()
            work()
        except Exception:
            log.exception("handling a Slack event failed")

    def shutdown(self) -> None:
        """Waits for the work in progress to finish; work not yet started is dropped (it
        is stored in the inbox, and taken up by the next process)."""
        for lane in self._lanes:
            lane.shutdown(wait=True, cancel_futures=True)


class InboxSweeper:
    """Every `interval`, takes up the inbox's abandoned requests: claimed longer than
    `retry_after` ago and not finished (their process died, or their handling failed
    and waits for another attempt). Also once at start, for what a previous run of this
    process left behind."""

    def __init__(
        self,
        *,
        inbox: Inbox,
        platform: str,
        claimant: str,
        retry_after: timedelta,
        take_up: Callable[[InboxItem], None],
        in_hand: Callable[[], set[int]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._inbox = inbox
        self._platform = platform
        self._claimant = claimant
        self._retry_after = retry_after
        self._take_up = take_up
        self._in_hand = in_hand
        self._clock = clock
        # Often enough that a request waits little more than retry_after; at most 5 s.
        self._interval = min(max(retry_after.total_seconds() / 4, 0.2), 5.0)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inbox-sweep", daemon=True)
        self._failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.sweep_once()
            self._stopping.wait(self._interval)

    def sweep_once(self) -> int:
        now = self._clock()
        try:
            # What this process holds is not abandoned, however long its queue is.
            self._inbox.renew(self._in_hand(), claimant=self._claimant, now=now)
            items = self._inbox.claim_abandoned(
                platform=self._platform,
                claimant=self._claimant,
                now=now,
                claimed_before=now - self._retry_after,
                limit=SWEEP_BATCH,
            )
        except Exception as problem:
            # The database is away: said once, not every interval, until it is back.
            if not self._failing:
                reason = str(problem).strip().splitlines()[0] if str(problem).strip() else ""
                log.warning(
                    "cannot look at the inbox (%s: %s); trying again",
                    type(problem).__name__,
                    reason,
                )
            self._failing = True
            return 0
        if self._failing:
            log.warning("the inbox can be read again")
        self._failing = False
        for item in items:
            self._take_up(item)
        if items:
            log.info("took up %d unfinished request(s) from the inbox", len(items))
        return len(items)
