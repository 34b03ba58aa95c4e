"""Alertmanager's and Grafana's webhook payloads, read into `bot.alerts` terms.

Alertmanager (webhook_configs) sends version "4":
https://prometheus.io/docs/alerting/latest/configuration/#webhook_config. Grafana
Alerting's webhook contact point sends the same shape with version "1" and its own
additions (orgId, title, state, message; per alert silenceURL, dashboardURL, panelURL,
values). Anything else is refused with a message saying what was wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.alerts import Alert, AlertLink, AlertNotification

ALERTMANAGER_VERSIONS = ("4",)
GRAFANA_VERSIONS = ("1",)
STATUSES = ("firing", "resolved")
# Go's zero time: Alertmanager's endsAt of an alert that has no end yet.
_NO_TIME_BEFORE = datetime(1971, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"(\.\d{6})\d+")


class PayloadError(ValueError):
    """A payload that cannot be read; the message says what was wrong."""


def read_json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadError("the body is not UTF-8 text; send the notification as JSON") from None
    except json.JSONDecodeError as problem:
        raise PayloadError(
            f"the body is not JSON ({problem.msg} at line {problem.lineno} column "
            f"{problem.colno}); send the webhook's JSON payload as it is"
        ) from None
    if not isinstance(document, dict):
        raise PayloadError("the body is JSON but not an object; send the webhook's payload")
    return document


def alertmanager_notification(body: bytes) -> AlertNotification:
    document = read_json(body)
    _version(document, ALERTMANAGER_VERSIONS, "Alertmanager", "webhook_configs")
    return _notification(document, "alertmanager")


def grafana_notification(body: bytes) -> AlertNotification:
    document = read_json(body)
    _version(document, GRAFANA_VERSIONS, "Grafana", "a webhook contact point")
    return _notification(document, "grafana")


def _version(document: Mapping[str, Any], known: tuple[str, ...], sender: str, how: str) -> None:
    version = document.get("version")
    if str(version) not in known:
        shown = "no version" if version is None else f"version {json.dumps(version)}"
        raise PayloadError(
            f"{shown}: this receiver reads {sender}'s webhook payload version "
            f"{', '.join(known)}, what {sender}'s {how} sends"
        )


def _notification(document: Mapping[str, Any], source: str) -> AlertNotification:
    raw_alerts = document.get("alerts")
    if not isinstance(raw_alerts, list):
        raise PayloadError("`alerts` is missing or not a list; the payload lists its alerts")
    group_labels = _labels(document.get("groupLabels", {}), "groupLabels")
    alerts = tuple(_alert(raw, index, source) for index, raw in enumerate(raw_alerts))
    group_key = document.get("groupKey")
    if isinstance(group_key, str):
        group_key = _clean(group_key)
    if not isinstance(group_key, str) or not group_key:
        # Older Grafana versions leave it out: the group is what its labels say.
        group_key = json.dumps(dict(sorted(group_labels.items())), ensure_ascii=False)
    status = document.get("status", "firing")
    if status not in STATUSES:
        raise PayloadError(f"`status` is {json.dumps(status)}; it is firing or resolved")
    return AlertNotification(
        source=source,
        group_key=group_key,
        status=status,
        receiver=str(document.get("receiver", "")),
        group_labels=group_labels,
        common_labels=_labels(document.get("commonLabels", {}), "commonLabels"),
        common_annotations=_labels(document.get("commonAnnotations", {}), "commonAnnotations"),
        external_url=str(document.get("externalURL", "")),
        alerts=alerts,
    )


def _alert(raw: object, index: int, source: str) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(raw, dict):
        raise PayloadError(f"{where} is not an object")
    status = raw.get("status")
    if status not in STATUSES:
        raise PayloadError(f"{where}.status is {json.dumps(status)}; it is firing or resolved")
    labels = _labels(raw.get("labels", {}), f"{where}.labels")
    annotations = _labels(raw.get("annotations", {}), f"{where}.annotations")
    starts_at = _time(raw.get("startsAt"), f"{where}.startsAt")
    if starts_at is None:
        raise PayloadError(f"{where}.startsAt is missing; every alert has the time it started")
    ends_at = _time(raw.get("endsAt"), f"{where}.endsAt") if status == "resolved" else None
    fingerprint = raw.get("fingerprint")
    if isinstance(fingerprint, str):
        fingerprint = _clean(fingerprint)[:128]
    if not isinstance(fingerprint, str) or not fingerprint:
        fingerprint = hashlib.sha256(
            json.dumps(sorted(labels.items())).encode("utf-8")
        ).hexdigest()[:16]
    return Alert(
        fingerprint=fingerprint,
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        links=_links(raw, annotations),
    )


def _links(raw: Mapping[str, Any], annotations: Mapping[str, str]) -> tuple[AlertLink, ...]:
    found = [
        ("source", raw.get("generatorURL")),
        ("runbook", annotations.get("runbook_url") or annotations.get("runbook")),
        ("dashboard", annotations.get("dashboard") or raw.get("dashboardURL")),
        ("panel", raw.get("panelURL")),
        ("silence", raw.get("silenceURL")),
    ]
    return tuple(
        AlertLink(kind, _clean(url.strip()))
        for kind, url in found
        if isinstance(url, str) and url.strip().lower().startswith(("http://", "https://"))
        and not any(character.isspace() for character in url.strip())
    )


def _labels(raw: object, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PayloadError(f"{where} is not an object of names and values")
    return {_clean(str(key)): _clean(str(value)) for key, value in raw.items() if value is not None}


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(text: str) -> str:
    """Control bytes (a NUL no PostgreSQL text column takes) go; a lone surrogate, which
    no codec can write, becomes U+FFFD."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))


def _time(raw: object, where: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise PayloadError(f"{where} is not a time; write RFC 3339, e.g. 2025-03-04T14:02:00Z")
    text = _FRACTION.sub(r"\1", raw.strip()).replace("z", "Z")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(
            f"{where} `{raw}` is not a time; write RFC 3339, e.g. 2025-03-04T14:02:00Z"
        ) from None
    if moment.tzinfo is None:
        raise PayloadError(f"{where} `{raw}` has no time zone; end it with Z or +HH:MM")
    moment = moment.astimezone(UTC)
    return None if moment < _NO_TIME_BEFORE else moment
