"""The one HTTP server: uvicorn serving a Starlette app on a background thread, on one or
more listening sockets (the pages' address, Slack's Request URL, a metrics port).

uvicorn because it is the ASGI server Starlette and Bolt document and most deployments
run, with HTTP/1.1 keep-alive, graceful shutdown and a bounded backlog; Starlette because
it is small, typed, and Bolt ships conversions for it. Sockets are bound here, before the
thread starts, so a busy port is reported at start-up rather than lost in a thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.config import ConfigError

log = logging.getLogger(__name__)


class PortBusy(ConfigError):
    """The address is taken; says which and how to choose another."""


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    port_setting: str  # the setting to name when the port is taken
    optional: bool = False  # taken: served without it, with a warning
    only: tuple[str, ...] = ()  # path prefixes served there; empty: everything
    open: bool = False  # no login there (a metrics port for a scraper)
    # What serves this listener alone, below the pages' middleware (Slack's own port:
    # its requests carry their own signature, and every ack pays for each layer).
    direct: ASGIApp | None = None


class ListenerRules:
    """ASGI middleware: what each socket may serve, decided by the local port a request
    came in on (Slack's port serves /slack/ alone; a metrics port /metrics and probes)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._rules: dict[int, Listener] = {}

    def apply(self, port: int, listener: Listener) -> None:
        self._rules[port] = listener

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            rule = self._rules.get(server[1]) if server else None
            if rule is not None:
                if rule.only and not scope["path"].startswith(rule.only):
                    await _not_here(send)
                    return
                if rule.direct is not None:
                    await rule.direct(scope, receive, send)
                    return
                if rule.open:
                    scope.setdefault("state", {})["open_listener"] = True
        await self._app(scope, receive, send)


async def _not_here(send: Send) -> None:
    body = b"Not found.\n"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HttpServer:
    def __init__(self, *, app: ASGIApp, listeners: Sequence[Listener], name: str = "http") -> None:
        self._rules = ListenerRules(app)
        self._listeners = list(listeners)
        self._name = name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[tuple[Listener, socket.socket]] = []

    def url_of(self, listener: Listener) -> str | None:
        """Where a listener is served, or None when it is not (an optional busy port)."""
        for bound, sock in self._sockets:
            if bound == listener:
                host = f"[{listener.host}]" if ":" in listener.host else listener.host
                return f"http://{host}:{sock.getsockname()[1]}"
        return None

    def start(self) -> None:
        for listener in self._listeners:
            sock = _bind(listener)
            if sock is None:
                continue
            self._sockets.append((listener, sock))
            if listener.only or listener.open:
                self._rules.apply(sock.getsockname()[1], listener)
        if not self._sockets:
            return
        config = uvicorn.Config(
            self._rules,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=10,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock for _, sock in self._sockets]},
            name=self._name,
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self._name} server did not start")
            time.sleep(0.01)
        for listener, _ in self._sockets:
            log.debug("%s server listening on %s", self._name, self.url_of(listener))

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        for _, sock in self._sockets:
            sock.close()
        self._server = self._thread = None
        self._sockets = []


def _bind(listener: Listener) -> socket.socket | None:
    family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listener.host, listener.port))
    except OSError as problem:
        sock.close()
        message = (
            f"cannot listen on {listener.host}:{listener.port} ({problem.strerror}); "
            f"choose another with {listener.port_setting}"
        )
        if listener.optional:
            log.warning("not served: %s", message)
            return None
        raise PortBusy(message) from None
    sock.listen(1024)  # Slack and alert bursts: never reset a connection for backlog
    sock.setblocking(False)
    return sock
