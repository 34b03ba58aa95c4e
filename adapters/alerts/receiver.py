"""`POST /hooks/alertmanager` and `POST /hooks/grafana` on the bot's one HTTP server.

A request is checked (credentials, size, payload) and stored in the inbox before the
answer, so what the sender was told it delivered survives a crash; the work (declaring,
entries, summaries) is done by `AlertWorker` afterwards, so a storm of alerts is
answered well within Alertmanager's timeout. A replay (the same body again) is stored
once and applied once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.alerts.payloads import (
    PayloadError,
    alertmanager_notification,
    grafana_notification,
)
from adapters.config import ConfigError, secret_from
from bot.alerts import AlertNotification
from bot.ports import Clock, Inbox, InboxItem

log = logging.getLogger(__name__)

ENV = "INCIDENT_BOT_"


@dataclass(frozen=True)
class ReceiverSettings:
    """Who may send alerts. Secrets come from the environment or `…_FILE`; none is
    ever logged or shown."""

    alertmanager_token: str | None = None
    grafana_token: str | None = None
    grafana_header: str = "Authorization"  # where Grafana sends the token
    grafana_user: str | None = None
    grafana_password: str | None = None
    max_body: int = 1024 * 1024

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], max_body: int) -> ReceiverSettings:
        user = secret_from(environ, f"{ENV}GRAFANA_USER")
        password = secret_from(environ, f"{ENV}GRAFANA_PASSWORD")
        if bool(user) != bool(password):
            raise ConfigError(
                f"{ENV}GRAFANA_USER and {ENV}GRAFANA_PASSWORD go together: set both for "
                "Grafana's basic auth, or neither"
            )
        return cls(
            alertmanager_token=secret_from(environ, f"{ENV}ALERTMANAGER_TOKEN"),
            grafana_token=secret_from(environ, f"{ENV}GRAFANA_TOKEN"),
            grafana_header=environ.get(f"{ENV}GRAFANA_HEADER", "").strip() or "Authorization",
            grafana_user=user,
            grafana_password=password,
            max_body=max_body,
        )

    @property
    def grafana_enabled(self) -> bool:
        return bool(self.grafana_token or self.grafana_user)


@dataclass(frozen=True)
class Source:
    name: str  # the inbox's platform name for its requests
    read: Callable[[bytes], AlertNotification]
    authorised: Callable[[Request], bool]


class AlertReceiver:
    """The two routes; `accepted` is called with each newly stored item (the worker)."""

    def __init__(
        self,
        *,
        settings: ReceiverSettings,
        inbox: Inbox,
        clock: Clock,
        claimant: str,
        accepted: Callable[[InboxItem], None],
    ) -> None:
        self._settings = settings
        self._inbox = inbox
        self._clock = clock
        self._claimant = claimant
        self._accepted = accepted

    def routes(self) -> list[Route]:
        routes = []
        if self._settings.alertmanager_token:
            source = Source("alertmanager", alertmanager_notification, self._alertmanager_auth)
            routes.append(Route("/hooks/alertmanager", self._endpoint(source), methods=["POST"]))
        if self._settings.grafana_enabled:
            source = Source("grafana", grafana_notification, self._grafana_auth)
            routes.append(Route("/hooks/grafana", self._endpoint(source), methods=["POST"]))
        return routes

    # -- authentication ----------------------------------------------------------------

    def _alertmanager_auth(self, request: Request) -> bool:
        token = self._settings.alertmanager_token
        return token is not None and _bearer_is(request.headers.get("authorization", ""), token)

    def _grafana_auth(self, request: Request) -> bool:
        settings = self._settings
        if settings.grafana_token:
            sent = request.headers.get(settings.grafana_header, "")
            if settings.grafana_header.lower() == "authorization":
                if _bearer_is(sent, settings.grafana_token):
                    return True
            elif _same(sent.strip(), settings.grafana_token):
                return True
        if settings.grafana_user and settings.grafana_password:
            return _basic_is(
                request.headers.get("authorization", ""),
                settings.grafana_user,
                settings.grafana_password,
            )
        return False

    # -- the endpoint ------------------------------------------------------------------

    def _endpoint(self, source: Source) -> Callable[[Request], object]:
        async def handle(request: Request) -> Response:
            arrived = time.perf_counter()
            if not source.authorised(request):
                return _problem(
                    401,
                    f"wrong or missing credentials for /hooks/{source.name}",
                    {"www-authenticate": "Bearer"},
                )
            limit = self._settings.max_body
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return _too_large(limit)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return _too_large(limit)
            try:
                notification = source.read(bytes(body))
            except PayloadError as problem:
                return _problem(400, f"not recorded: {problem}")
            key = f"{source.name}:{hashlib.sha256(body).hexdigest()}"
            item = await run_in_threadpool(
                self._inbox.put,
                platform=source.name,
                key=key,
                payload=bytes(body).decode("utf-8"),
                received_at=self._clock.now(),
                claimant=self._claimant,
            )
            if item is not None:
                self._accepted(item)
            log.info(
                "%s notification %s: %d alert(s), stored in %.1f ms%s",
                source.name, key[-12:], len(notification.alerts),
                (time.perf_counter() - arrived) * 1000, "" if item else " (a replay)",
            )  # fmt: skip
            return JSONResponse(
                {"status": "accepted", "alerts": len(notification.alerts), "replay": item is None}
            )

        return handle


def _bearer_is(header: str, token: str) -> bool:
    scheme, _, sent = header.strip().partition(" ")
    return scheme.lower() == "bearer" and _same(sent.strip(), token)


def _basic_is(header: str, user: str, password: str) -> bool:
    scheme, _, sent = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(sent.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    sent_user, _, sent_password = decoded.partition(":")
    return _same(sent_user, user) & _same(sent_password, password)


def _same(sent: str, expected: str) -> bool:
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def _problem(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(
        {"status": "error", "error": message}, status_code=status, headers=dict(headers or {})
    )


def _too_large(limit: int) -> Response:
    return _problem(
        413,
        f"the body is over {limit:,} bytes (alerts_max_body); group fewer alerts per "
        "notification (Alertmanager's max_alerts) or raise alerts_max_body",
    )
