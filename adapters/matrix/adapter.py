"""`incident-bot run` on Matrix: the session's asyncio loop on a background thread.

Configured by MATRIX_HOMESERVER, MATRIX_USER_ID, MATRIX_ACCESS_TOKEN or
MATRIX_PASSWORD (+ MATRIX_DEVICE_ID), INCIDENT_BOT_MATRIX_STORE,
INCIDENT_BOT_MATRIX_ENCRYPT_ROOMS, INCIDENT_BOT_MATRIX_ALLOWED_INVITERS and
INCIDENT_BOT_MATRIX_LEASE. Replicas sharing one account (and one store directory) sync
one at a time: the others are standbys (adapters.matrix.lease).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence

from adapters.adapter import Adapter, HttpMount
from adapters.config import Settings
from adapters.matrix.lease import SyncLease
from adapters.matrix.platform import MatrixPlatform
from adapters.matrix.render import COMMAND_PREFIX
from adapters.matrix.session import MatrixSession
from adapters.matrix.settings import MatrixSettings, matrix_settings
from bot.ports import Inbox, Leadership
from bot.replies import Reply
from bot.service import IncidentBot

log = logging.getLogger("adapters.matrix")

# How long `start` waits for the first login and sync before it returns; after a failed
# attempt it returns at once and the background thread keeps trying (a homeserver that
# is down or a refused login is logged, and no reason to exit into a restart loop).
CONNECT_WAIT = 30.0
DELIVER_TIMEOUT = 120.0


class MatrixUnavailable(Exception):
    """The homeserver cannot be reached right now; try again later."""


class MatrixAdapter:
    platform = "matrix"
    command_prefix = COMMAND_PREFIX

    def __init__(
        self, *, bot: IncidentBot, settings: MatrixSettings, leadership: Leadership
    ) -> None:
        self._settings = settings
        lease = SyncLease(leadership, user_id=settings.user_id, seconds=settings.lease_seconds)
        self._session = MatrixSession(bot=bot, settings=settings, lease=lease)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._first_attempt = threading.Event()

    def start(self) -> None:
        loop_ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            loop_ready.set()
            try:
                loop.run_until_complete(self._session.run(on_state=self._on_state))
            finally:
                loop.run_until_complete(self._session.close())
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

        self._thread = threading.Thread(target=main, name="matrix", daemon=True)
        self._thread.start()
        loop_ready.wait()
        self._first_attempt.wait(timeout=CONNECT_WAIT)
        if not self._connected.is_set() and not self._session.standby:
            log.warning(
                "Matrix: not connected to %s yet; still trying in the background",
                self._settings.homeserver,
            )

    def _on_state(self, connected: bool) -> None:
        self._first_attempt.set()
        if connected:
            self._connected.set()
        else:
            self._connected.clear()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._session.request_stop)
        thread.join(timeout=60)
        if thread.is_alive():
            log.error("Matrix: the adapter did not stop within 60 s")

    def http_mount(self) -> HttpMount | None:
        return None  # Matrix is reached by syncing, not by requests to the bot

    def readiness_problem(self) -> str | None:
        if self._connected.is_set() or self._session.standby:
            return None  # a standby is ready: it takes over when the syncing replica dies
        return f"matrix: not connected to {self._settings.homeserver}"

    def standing_by(self) -> bool:
        # Also while taking over, until the first sync: a reminder sweep that ran then
        # claimed a due Matrix reminder, could not post it (not connected yet) and put
        # it off by its retry backoff; the next sweep after the first sync posts it.
        return self._session.standby or self._session.taking_over

    def mention(self, user: str) -> str:
        return self._session.platform.mention(user)

    def alert_outlet(self) -> MatrixAlertOutlet:
        return MatrixAlertOutlet(self, self._session.platform)

    def deliver(self, replies: Sequence[Reply]) -> None:
        loop = self._loop
        if loop is None or not self._connected.is_set():
            raise MatrixUnavailable(
                f"the Matrix homeserver {self._settings.homeserver} is not connected"
            )
        future = asyncio.run_coroutine_threadsafe(self._session.deliver(replies), loop)
        future.result(timeout=DELIVER_TIMEOUT)


class MatrixAlertOutlet:
    """Matrix as the alerts use it: the session's platform (it opens rooms from any
    thread) and delivery."""

    def __init__(self, adapter: MatrixAdapter, platform: MatrixPlatform) -> None:
        self.platform = platform
        self._adapter = adapter

    def deliver(self, replies: Sequence[Reply]) -> None:
        self._adapter.deliver(replies)

    def standing_by(self) -> bool:
        return self._adapter.standing_by()


def from_environment(
    *,
    bot: IncidentBot,
    settings: Settings,
    environ: Mapping[str, str],
    inbox: Inbox,
    leadership: Leadership,
) -> Adapter | None:
    """The adapter when MATRIX_HOMESERVER is set; a clear ConfigError when it is half set."""
    matrix = matrix_settings(environ)
    if matrix is None:
        return None
    # nio logs every decrypted event at INFO; its warnings (e.g. rate limits) stay.
    logging.getLogger("nio").setLevel(logging.WARNING)
    log.info("Matrix: %s as %s, store %s", matrix.homeserver, matrix.user_id, matrix.store)
    return MatrixAdapter(bot=bot, settings=matrix, leadership=leadership)
