"""The one HTTP server: uvicorn serving a Starlette app on a background thread.

uvicorn because it is the ASGI server Starlette and Bolt document and most deployments
run, with HTTP/1.1 keep-alive, graceful shutdown and a bounded backlog; Starlette because
it is small, typed, and Bolt ships an adapter for it. The socket is bound here, before the
thread starts, so a busy port is reported at start-up rather than lost in a thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from adapters.config import ConfigError

log = logging.getLogger(__name__)


class PortBusy(ConfigError):
    """The address is taken; says which and how to choose another."""


class HttpServer:
    def __init__(self, *, app: ASGIApp, host: str, port: int, name: str = "http") -> None:
        self._app = app
        self._host = host
        self._port = port
        self._name = name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose when asked for 0)."""
        if self._socket is None:
            return self._port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError as problem:
            sock.close()
            raise PortBusy(
                f"cannot listen on {self._host}:{self._port} ({problem.strerror}); "
                "choose another with INCIDENT_BOT_HTTP_PORT"
            ) from None
        sock.listen(1024)  # Slack and alert bursts: never reset a connection for backlog
        sock.setblocking(False)
        self._socket = sock
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=10,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self._name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self._name} server did not start")
            time.sleep(0.01)
        log.info("%s server listening on %s", self._name, self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
