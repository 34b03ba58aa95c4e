"""Handles the stored alert notifications on a thread of its own, in the order they
arrived, and posts what the core says through each platform's outlet.

Whatever was stored and not finished (a crash, a database outage) is taken up again
after `retry_after` by the sweep, here or in another replica; the core applies each
notification once. The same sweep posts the summaries the once-a-minute rule held back.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Protocol

from adapters.alerts.payloads import PayloadError, alertmanager_notification, grafana_notification
from bot.alert_intake import AlertIntake
from bot.alerts import AlertNotification
from bot.ports import ChatPlatform, Clock, Inbox, InboxItem
from bot.replies import Reply

log = logging.getLogger(__name__)

READERS: Mapping[str, Callable[[bytes], AlertNotification]] = {
    "alertmanager": alertmanager_notification,
    "grafana": grafana_notification,
}


class AlertOutlet(Protocol):
    """A running chat platform as the alerts use it: to open channels, and to post."""

    @property
    def platform(self) -> ChatPlatform: ...

    def deliver(self, replies: Sequence[Reply]) -> None: ...

    def standing_by(self) -> bool:
        """True on a replica that waits while another syncs the platform (Matrix): it
        must leave the platform's alerts to that one, which can open rooms and post."""
        ...


class AlertWorker:
    def __init__(
        self,
        *,
        intake: AlertIntake,
        inbox: Inbox,
        outlets: Mapping[str, AlertOutlet],
        clock: Clock,
        claimant: str,
        retry_after: timedelta,
        sweep_every: float = 5.0,
    ) -> None:
        self._intake = intake
        self._inbox = inbox
        self._outlets = dict(outlets)
        self._platforms = {name: outlet.platform for name, outlet in outlets.items()}
        self._clock = clock
        self._claimant = claimant
        self._retry_after = retry_after
        self._sweep_every = sweep_every
        self._queue: queue.SimpleQueue[InboxItem | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._in_hand = 0

    def accept(self, item: InboxItem) -> None:
        with self._idle:
            self._in_hand += 1
        self._queue.put(item)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="alert-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wait_idle(self, timeout: float) -> bool:
        """True once every accepted notification is handled (for tests)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_hand == 0, timeout=timeout)

    # -- the thread ------------------------------------------------------------------------

    def _work(self) -> None:
        self.sweep()
        while not self._stopping.is_set():
            try:
                item = self._queue.get(timeout=self._sweep_every)
            except queue.Empty:
                self.sweep()
                continue
            if item is None:
                return
            try:
                self.handle(item)
            except Exception:  # the thread goes on; the item stays for the next sweep
                log.exception("alert notification %s could not be handled", item.id)
            finally:
                with self._idle:
                    self._in_hand -= 1
                    self._idle.notify_all()

    def handle(self, item: InboxItem) -> None:
        try:
            notification = READERS[item.platform](item.payload.encode("utf-8"))
        except (KeyError, PayloadError) as problem:  # checked before it was stored
            log.error("stored alert notification %s cannot be read: %s", item.id, problem)
            self._inbox.done(item.id)
            return
        routed_to = self._intake.platform_for(notification)
        if routed_to in self._outlets and self._outlets[routed_to].standing_by():
            # Left claimed in the inbox: the replica that syncs takes it up with its
            # sweep once the claim is `retry_after` old.
            log.info("%s notification %s is for %s, which another replica runs; left to it",
                     item.platform, item.key[-12:], routed_to)  # fmt: skip
            return
        try:
            outcome = self._intake.receive(notification, item.key, self._platforms)
        except Exception:
            # Left in the inbox: the sweep takes it up again after `retry_after`.
            log.exception("alert notification %s failed; it will be tried again", item.id)
            return
        self._inbox.done(item.id)
        if outcome.incident is not None:
            workspace, number = outcome.incident
            log.info(
                "%s notification %s: %s incident %s/%s",
                item.platform, item.key[-12:],
                "declared" if outcome.declared else "added to", workspace, number,
            )  # fmt: skip
        platform = self._intake.platform_for(notification)
        if outcome.replies and platform is not None:
            self._deliver(platform, outcome.replies)

    def _deliver(self, platform: str, replies: Sequence[Reply]) -> None:
        # One by one: the announcement refused (the bot is not in that channel) leaves
        # the incident channel's messages to go out all the same.
        for reply in replies:
            try:
                self._outlets[platform].deliver([reply])
            except Exception:
                # The timeline has it all; only this message is missing.
                log.exception("posting an alert message on %s failed", platform)

    def sweep(self) -> None:
        """Takes up abandoned notifications and posts the summaries now due."""
        now = self._clock.now()
        try:
            if self._outlets and all(o.standing_by() for o in self._outlets.values()):
                return  # nothing to take up here: a standby would only hold it back
            for source in READERS:
                for item in self._inbox.claim_abandoned(
                    platform=source,
                    claimant=self._claimant,
                    now=now,
                    claimed_before=now - self._retry_after,
                    limit=100,
                ):
                    self.accept(item)
            for platform, reply in self._intake.summaries_due(self._platforms):
                self._deliver(platform, [reply])
        except Exception:
            log.exception("the alert sweep failed; it runs again in %.0f s", self._sweep_every)
