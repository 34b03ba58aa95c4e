"""Starts the one HTTP server for `incident-bot run`: the web pages, /metrics and the
probes, plus what the chat platforms serve (Slack's /slack/events), beside whichever chat
platforms run, the console included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from starlette.routing import Router

from adapters.adapter import HttpMount
from adapters.bootstrap import build_bot
from adapters.config import Settings
from adapters.telemetry import PrometheusTelemetry
from adapters.web.app import build_app
from adapters.web.server import HttpServer, Listener
from adapters.web.settings import WebSettings, web_settings
from bot.clock import SystemClock
from bot.service import IncidentBot

log = logging.getLogger(__name__)

METRICS_PATHS = ("/metrics", "/healthz", "/readyz")


class ReadinessProblems:
    """The parts `/readyz` asks: the database, and each chat platform once it runs."""

    def __init__(self, bot: IncidentBot) -> None:
        self._bot = bot
        self._platforms: list[Callable[[], str | None]] = []
        self._notes: list[Callable[[], str | None]] = []

    def watch(
        self,
        checks: Sequence[Callable[[], str | None]],
        notes: Sequence[Callable[[], str | None]] = (),
    ) -> None:
        self._platforms = list(checks)
        self._notes = list(notes)

    def notes(self) -> list[str]:
        """Said beside "ready": a part that is ready but not at work (a standby)."""
        return [note for check in self._notes if (note := check())]

    def __call__(self) -> list[str]:
        problems = [self._bot.database_problem()]
        problems.extend(check() for check in self._platforms)
        return [problem for problem in problems if problem]


class WebFace:
    """The server and what it serves; `start` binds every listener or says which port
    is taken."""

    def __init__(
        self,
        *,
        settings: WebSettings,
        bot: IncidentBot,
        telemetry: PrometheusTelemetry,
        mounts: Sequence[HttpMount] = (),
    ) -> None:
        self.readiness = ReadinessProblems(bot)
        telemetry.watch(bot)
        app = build_app(
            bot=bot,
            settings=settings,
            readiness=self.readiness,
            readiness_notes=self.readiness.notes,
            metrics=telemetry.exposition,
            extra_routes=[route for mount in mounts for route in mount.routes],
        )
        self._pages: Listener | None = None
        listeners: list[Listener] = []
        if settings.enabled:
            self._pages = Listener(
                settings.host,
                settings.port,
                "INCIDENT_BOT_HTTP_PORT",
                # A default port someone else holds: chat matters more than the pages.
                optional=not settings.port_chosen,
            )
            listeners.append(self._pages)
            if settings.metrics_port is not None:
                listeners.append(
                    Listener(
                        settings.host,
                        settings.metrics_port,
                        "INCIDENT_BOT_METRICS_PORT",
                        only=METRICS_PATHS,
                        open=True,
                    )
                )
        for mount in mounts:
            if self._pages and (mount.host, mount.port) == (settings.host, settings.port):
                continue  # the platform's routes are on the pages' address already
            prefixes = tuple(getattr(route, "path", "/") for route in mount.routes)
            listeners.append(
                Listener(
                    mount.host,
                    mount.port,
                    mount.port_setting,
                    only=prefixes,
                    direct=Router(routes=list(mount.routes)),
                )
            )
        self._server = HttpServer(app=app, listeners=listeners, name="http")
        self._has_listeners = bool(listeners)

    @property
    def url(self) -> str | None:
        """Where the pages are served; None when they are not."""
        return self._server.url_of(self._pages) if self._pages else None

    def start(self) -> None:
        if self._has_listeners:
            self._server.start()

    def stop(self) -> None:
        self._server.stop()


def start_web_face(
    settings: Settings,
    environ: Mapping[str, str],
    telemetry: PrometheusTelemetry,
    mounts: Sequence[HttpMount] = (),
) -> WebFace:
    """The running server: the pages (unless switched off or their default port is
    taken) and every platform's mount."""
    face = WebFace(
        settings=web_settings(environ),
        bot=build_bot(settings, clock=SystemClock()),
        telemetry=telemetry,
        mounts=mounts,
    )
    face.start()
    if face.url:
        log.debug("web pages at %s", face.url)  # the CLI prints it once, plainly
    return face
