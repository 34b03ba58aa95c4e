"""Starts the web face for `incident-bot run`: the one HTTP server, beside whichever
chat platforms run (the console included), with the metrics every part reports to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from adapters.bootstrap import build_bot
from adapters.config import Settings
from adapters.telemetry import PrometheusTelemetry
from adapters.web.app import build_app, build_metrics_app
from adapters.web.server import HttpServer, PortBusy
from adapters.web.settings import WebSettings, web_settings
from bot.clock import SystemClock
from bot.service import IncidentBot

log = logging.getLogger(__name__)


class ReadinessProblems:
    """The parts `/readyz` asks: the database, and each chat platform once it runs."""

    def __init__(self, bot: IncidentBot) -> None:
        self._bot = bot
        self._platforms: list[Callable[[], str | None]] = []

    def watch(self, checks: Sequence[Callable[[], str | None]]) -> None:
        self._platforms = list(checks)

    def __call__(self) -> list[str]:
        problems = [self._bot.database_problem()]
        problems.extend(check() for check in self._platforms)
        return [problem for problem in problems if problem]


class WebFace:
    def __init__(
        self, *, settings: WebSettings, bot: IncidentBot, telemetry: PrometheusTelemetry
    ) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self.readiness = ReadinessProblems(bot)
        telemetry.watch(bot)
        metrics = telemetry.exposition
        app = build_app(
            bot=bot,
            settings=settings,
            readiness=self.readiness,
            metrics=None if settings.metrics_port is not None else metrics,
        )
        self._servers = [HttpServer(app=app, host=settings.host, port=settings.port, name="web")]
        if settings.metrics_port is not None:
            # On a port of its own /metrics is open (for a scraper on another network),
            # and nothing else is served there.
            metrics_app = build_metrics_app(readiness=self.readiness, metrics=metrics)
            self._servers.append(
                HttpServer(
                    app=metrics_app, host=settings.host, port=settings.metrics_port, name="metrics"
                )
            )

    @property
    def url(self) -> str:
        return self._servers[0].url

    def start(self) -> None:
        for server in self._servers:
            server.start()

    def stop(self) -> None:
        for server in reversed(self._servers):
            server.stop()


def start_web_face(
    settings: Settings, environ: Mapping[str, str], telemetry: PrometheusTelemetry
) -> WebFace | None:
    """The running web face; None when it is switched off, or when the default port is
    taken (another bot on this machine): chat matters more than the pages then."""
    web = web_settings(environ)
    if not web.enabled:
        return None
    face = WebFace(settings=web, bot=build_bot(settings, clock=SystemClock()), telemetry=telemetry)
    try:
        face.start()
    except PortBusy as problem:
        if web.port_chosen:
            raise
        log.warning("web pages not served: %s", problem)
        return None
    log.info("web pages at %s", face.url)
    return face
