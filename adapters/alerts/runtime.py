"""The alert receivers for `incident-bot run`: routes on the one HTTP server (the web
pages' address), a worker thread, and the outlets of the running chat platforms.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.adapter import Adapter, HttpMount
from adapters.alerts.receiver import AlertReceiver, ReceiverSettings
from adapters.alerts.worker import AlertOutlet, AlertWorker
from adapters.bootstrap import build_alert_intake, build_inbox
from adapters.config import Settings
from adapters.web.settings import web_settings
from bot.clock import SystemClock

log = logging.getLogger(__name__)


@dataclass
class AlertsFace:
    mount: HttpMount
    worker: AlertWorker

    def stop(self) -> None:
        self.worker.stop()


def outlets_of(adapters: Sequence[Adapter]) -> dict[str, AlertOutlet]:
    """The outlets of the running platforms that offer one (`alert_outlet()`)."""
    outlets: dict[str, AlertOutlet] = {}
    for adapter in adapters:
        offer = getattr(adapter, "alert_outlet", None)
        outlet = offer() if callable(offer) else None
        if outlet is not None:
            outlets[adapter.platform] = outlet
    return outlets


def start_alerts(
    settings: Settings, environ: Mapping[str, str], outlets: Mapping[str, AlertOutlet]
) -> AlertsFace | None:
    """The receivers and their worker, running; None when no receiver has credentials
    (nobody could send alerts)."""
    receiver_settings = ReceiverSettings.from_environment(environ, settings.alerts_max_body)
    if not (receiver_settings.alertmanager_token or receiver_settings.grafana_enabled):
        if settings.alert_rules.routes:
            log.warning(
                "alert routes are set but no receiver has credentials: set "
                "INCIDENT_BOT_ALERTMANAGER_TOKEN or INCIDENT_BOT_GRAFANA_TOKEN"
            )
        return None
    missing = sorted(
        {route.platform for route in settings.alert_rules.routes} - set(outlets)
    )
    if missing:
        log.warning(
            "alert routes name %s, which is not running here; their alerts are dropped",
            ", ".join(missing),
        )
    clock = SystemClock()
    claimant = f"{socket.gethostname()}-{os.getpid()}-alerts"
    inbox = build_inbox(settings)
    worker = AlertWorker(
        intake=build_alert_intake(settings, clock=clock),
        inbox=inbox,
        outlets=outlets,
        clock=clock,
        claimant=claimant,
        retry_after=settings.inbox_retry_after,
    )
    receiver = AlertReceiver(
        settings=receiver_settings,
        inbox=inbox,
        clock=clock,
        claimant=claimant,
        accepted=worker.accept,
    )
    web = web_settings(environ)
    worker.start()
    return AlertsFace(
        mount=HttpMount(
            routes=receiver.routes(),
            host=web.host,
            port=web.port,
            port_setting="INCIDENT_BOT_HTTP_PORT",
        ),
        worker=worker,
    )
