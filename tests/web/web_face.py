"""Helpers for the web tests: a real web face (uvicorn on a free loopback port) and a
small HTTP client that does not follow redirects."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field

from adapters.bootstrap import build_bot, prepare_database
from adapters.config import load_settings
from adapters.telemetry import PrometheusTelemetry
from adapters.web.runtime import WebFace
from adapters.web.settings import web_settings
from bot.clock import SystemClock

# A second incident with text meant to break pages: it must show up as typed.
HOSTILE_TRANSCRIPT = """\
[2025-03-10 09:00] eve: /incident start <script>alert("title")</script> {{ 7*7 }} & more
[09:01] eve: /incident severity 1
[09:02] eve: <img src=x onerror=alert(1)> "quoted" 'single' </textarea>
[09:02] eve: +:pushpin:
[09:03] eve: /incident note <b>bold?</b> javascript:alert(2)
"""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Client:
    base: str
    headers: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, *, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        request = urllib.request.Request(
            self.base + path, method=method, data=body, headers={**self.headers, **(headers or {})}
        )
        opener = urllib.request.build_opener(_NoRedirect())
        try:
            with opener.open(request, timeout=10) as answer:
                return Response(answer.status, _lower(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as answer:
            return Response(answer.code, _lower(answer.headers.items()), answer.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _lower(items: object) -> dict[str, str]:
    return {name.lower(): value for name, value in items}  # type: ignore[attr-defined]


def start_face(database_url: str, **environ: str) -> WebFace:
    settings = load_settings({"INCIDENT_BOT_DATABASE_URL": database_url})
    prepare_database(database_url)
    telemetry = PrometheusTelemetry()
    face = WebFace(
        settings=web_settings({"INCIDENT_BOT_HTTP_PORT": "0", **environ}),
        bot=build_bot(settings, clock=SystemClock(), telemetry=telemetry),
        telemetry=telemetry,
    )
    face.start()
    return face
