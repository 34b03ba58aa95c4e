"""Helpers for the alert tests: the receivers on a real HTTP server (uvicorn on a free
loopback port, the web face's own server and access rules), over SQLite, with a clock
the test moves and an outlet that records what the channel would get."""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.adapter import HttpMount
from adapters.alerts.receiver import AlertReceiver, ReceiverSettings
from adapters.alerts.worker import AlertWorker
from adapters.bootstrap import build_bot, build_inbox, prepare_database
from adapters.config import Settings, load_settings
from adapters.console.app import ConsolePlatform
from adapters.offline import OfflinePlatform
from adapters.telemetry import PrometheusTelemetry
from adapters.web.runtime import WebFace
from adapters.web.settings import web_settings
from bot.alert_intake import AlertIntake
from bot.clock import ManualClock
from bot.domain import Incident
from bot.replies import Message, Reply
from bot.service import IncidentBot
from storage.uow import unit_of_work_factory

TOKEN = "am-secret-token-1234"
GRAFANA_TOKEN = "grafana-secret-5678"
START = datetime(2025, 3, 4, 14, 5, tzinfo=UTC)

ROUTES = """\
[[alerts.routes]]
name = "critical"
match = ['severity="critical"']
platform = "console"
workspace = "console"
announce = "general"
"""


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    seconds: float = 0.0


@dataclass
class RecordingOutlet:
    platform: ConsolePlatform = field(default_factory=ConsolePlatform)
    posted: list[Message] = field(default_factory=list)
    standby: bool = False  # as a Matrix replica while another one syncs

    def standing_by(self) -> bool:
        return self.standby

    def deliver(self, replies: Sequence[Reply]) -> None:
        self.posted.extend(reply for reply in replies if isinstance(reply, Message))

    def texts(self, channel: str | None = None) -> list[str]:
        return [m.text for m in self.posted if channel is None or m.channel == channel]


class AlertStack:
    def __init__(
        self,
        tmp: Path,
        *,
        routes: str = ROUTES,
        env: dict[str, str] | None = None,
        database_url: str | None = None,
        start_worker: bool = True,
    ) -> None:
        self.database_url = database_url or f"sqlite:///{tmp / 'alerts.db'}"
        config = tmp / "settings.toml"
        config.write_text(textwrap.dedent(routes))
        self.settings: Settings = load_settings(
            {
                "INCIDENT_BOT_DATABASE_URL": self.database_url,
                "INCIDENT_BOT_CONFIG": str(config),
                **(env or {}),
            }
        )
        prepare_database(self.database_url)
        self.clock = ManualClock(START)
        self.outlet = RecordingOutlet()
        self.inbox = build_inbox(self.settings)
        self.bot: IncidentBot = build_bot(self.settings, clock=self.clock)
        self.intake = AlertIntake(
            bot=self.bot,
            uow=unit_of_work_factory(self.database_url),
            clock=self.clock,
            rules=self.settings.alert_rules,
        )
        self.worker = AlertWorker(
            intake=self.intake,
            inbox=self.inbox,
            outlets={"console": self.outlet},
            clock=self.clock,
            claimant="test",
            retry_after=timedelta(seconds=30),
            sweep_every=3600,  # the tests sweep when they mean to
        )
        receiver = AlertReceiver(
            settings=ReceiverSettings.from_environment(
                {
                    "INCIDENT_BOT_ALERTMANAGER_TOKEN": TOKEN,
                    "INCIDENT_BOT_GRAFANA_TOKEN": GRAFANA_TOKEN,
                    **(env or {}),
                },
                self.settings.alerts_max_body,
            ),
            inbox=self.inbox,
            clock=self.clock,
            claimant="test",
            accepted=self.worker.accept,
        )
        telemetry = PrometheusTelemetry()
        self.face = WebFace(
            settings=web_settings({"INCIDENT_BOT_HTTP_PORT": "0"}),
            bot=self.bot,
            telemetry=telemetry,
            mounts=[HttpMount(receiver.routes(), "127.0.0.1", 0, "INCIDENT_BOT_HTTP_PORT")],
        )
        if start_worker:
            self.worker.start()
        self.face.start()
        assert self.face.url is not None
        self.url = self.face.url

    def close(self) -> None:
        self.face.stop()
        self.worker.stop()

    # -- sending ---------------------------------------------------------------------------

    def post(
        self,
        path: str,
        body: bytes | dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        token: str | None = TOKEN,
        wait: bool = True,
    ) -> Answer:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"content-type": "application/json", **(headers or {})}
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, method="POST", data=data, headers=sent)
        started = datetime.now(UTC)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as answer:
            status, raw = answer.code, answer.read()
        seconds = (datetime.now(UTC) - started).total_seconds()
        if wait:
            assert self.worker.wait_idle(timeout=120)
        return Answer(status, json.loads(raw) if raw else {}, seconds)

    def alertmanager(self, payload: dict[str, Any], **kwargs: Any) -> Answer:
        return self.post("/hooks/alertmanager", payload, **kwargs)

    # -- reading -------------------------------------------------------------------------

    def incidents(self) -> list[Incident]:
        return self.bot.list_incidents()

    def show(self, number: int) -> str:
        incident = self.bot.find(number)
        return self.bot.describe(incident, OfflinePlatform(incident.platform, {}))

    def draft(self, number: int, template: str = "report") -> str:
        """The Markdown draft (the report's References list the links)."""
        incident = self.bot.find(number)
        platform = OfflinePlatform(incident.platform, {})
        return self.bot.export(incident, template, "md", platform).content.decode()


def alert(
    name: str,
    *,
    fingerprint: str,
    starts_at: str,
    status: str = "firing",
    ends_at: str = "0001-01-01T00:00:00Z",
    severity: str = "critical",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    generator: str = "http://127.0.0.1:9090/graph?g0.expr=up",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, **(labels or {})},
        "annotations": annotations or {},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": generator,
        "fingerprint": fingerprint,
    }


def notification(
    alerts: list[dict[str, Any]],
    *,
    group_key: str = '{}/{severity="critical"}:{alertname="HighErrorRate"}',
    version: str = "4",
) -> dict[str, Any]:
    """Alertmanager's webhook payload, version 4, as its documentation shows it."""
    firing = any(a["status"] == "firing" for a in alerts)
    common = dict(alerts[0]["labels"]) if alerts else {}
    for other in alerts[1:]:
        common = {k: v for k, v in common.items() if other["labels"].get(k) == v}
    return {
        "version": version,
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "incident-bot",
        "groupLabels": {"severity": common.get("severity", "")},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": alerts,
    }
