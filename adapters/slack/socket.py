"""Socket Mode with the ack timed: from the envelope's arrival on the websocket to our
ack sent back, the time Slack waits (the same `slack_acked` telemetry as HTTP mode)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.telemetry import Telemetry

_ENVELOPE_ID = re.compile(r'"envelope_id"\s*:\s*"([^"]+)"')
# Arrivals never acked (a listener that could not store its event sends no ack, and
# Slack sends it again) are forgotten past this many.
_MAX_WAITING = 10_000


class TimedSocketModeHandler(SocketModeHandler):
    def __init__(self, app: App, *, telemetry: Telemetry, **options: Any) -> None:
        super().__init__(app, **options)
        self._telemetry = telemetry
        self._arrived: dict[str, float] = {}
        self._lock = threading.Lock()
        self.client.on_message_listeners.append(self._on_arrival)
        send = self.client.send_socket_mode_response

        def send_timed(response: dict[str, Any] | SocketModeResponse) -> None:
            send(response)
            envelope_id = (
                response.envelope_id
                if isinstance(response, SocketModeResponse)
                else response.get("envelope_id")
            )
            with self._lock:
                arrived = self._arrived.pop(str(envelope_id), None)
            if arrived is not None:
                self._telemetry.slack_acked(seconds=time.perf_counter() - arrived)

        self.client.send_socket_mode_response = send_timed  # type: ignore[method-assign]

    def _on_arrival(self, message: str) -> None:
        # On the websocket's reading thread: a search, not a JSON parse (the client
        # parses each message once, later, on its own worker).
        found = _ENVELOPE_ID.search(message)
        if found is None:
            return  # hello, disconnect: nothing to ack
        with self._lock:
            if len(self._arrived) >= _MAX_WAITING:
                self._arrived.clear()
            # Sent again before our ack: timed from its first arrival.
            self._arrived.setdefault(found.group(1), time.perf_counter())
