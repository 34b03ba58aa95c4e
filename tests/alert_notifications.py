"""An Alertmanager notification as the platform tests send it: one firing critical
alert, posted to `incident-bot run`'s receiver with its bearer token."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def firing(alertname: str, summary: str, fingerprint: str) -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) for one firing critical alert."""
    labels = {"alertname": alertname, "severity": "critical"}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "status": "firing",
        "receiver": "incident-bot",
        "groupLabels": {"alertname": alertname},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": summary},
                "startsAt": "2025-03-04T14:02:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": fingerprint,
            }
        ],
    }


def post_to_alertmanager_hook(port: int, payload: dict[str, Any], token: str) -> int:
    """POSTs the payload to the bot on 127.0.0.1:`port`; the HTTP status."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/alertmanager",
        data=json.dumps(payload).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)
