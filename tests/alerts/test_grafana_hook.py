"""`POST /hooks/grafana` with Grafana Alerting's documented webhook payload (fixtures:
no Grafana server runs here), through the same assertions as Alertmanager's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alert_stack import GRAFANA_TOKEN, AlertStack

from bot.domain import MilestoneKind, Status

FIXTURES = Path(__file__).parent / "fixtures"
ROUTES = """\
[[alerts.routes]]
name = "blue team"
match = ['team="blue"']
title = "{alertname} ({zone})"
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[AlertStack]:
    stack = AlertStack(tmp_path, routes=ROUTES)
    try:
        yield stack
    finally:
        stack.close()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def grafana(stack: AlertStack, body: bytes) -> int:
    return stack.post("/hooks/grafana", body, token=GRAFANA_TOKEN).status


def test_grafanas_payload_declares_and_resolves_like_alertmanagers(stack: AlertStack) -> None:
    assert grafana(stack, fixture("grafana_firing.json")) == 200
    [incident] = stack.incidents()
    assert incident.title == "High memory usage (us-1)"
    assert incident.severity is None  # no severity label, none guessed
    entries = [
        (entry.occurred_at, entry.text)
        for entry in incident.visible_timeline()
        if (entry.source_ref or "").startswith("alert:")
    ]
    assert [at for at, _ in entries] == [
        datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC),  # +02:00 read as UTC
        datetime(2021, 10, 12, 7, 56, 3, 157076, tzinfo=UTC),
    ]
    memory = entries[0][1]
    assert memory.startswith("Alert firing (grafana): High memory usage")
    assert "Panel: https://play.grafana.org/d/TkZXxlNG3?viewPanel=2" in memory
    assert "Silence: https://play.grafana.org/alerting/silence/new?" in memory
    assert "Dashboard: https://play.grafana.org/d/TkZXxlNG3" in memory
    assert "Panel:" not in entries[1][1]  # an empty panelURL is no link
    assert incident.milestone(MilestoneKind.STARTED) == entries[0][0]
    references = stack.draft(1).split("### Alerts", 1)[1]
    for url in (
        "https://myrunbook.com/runbook/1234",
        "https://play.grafana.org/d/TkZXxlNG3?viewPanel=2",
        "https://play.grafana.org/alerting/d1rdpdv7k/edit",
    ):
        assert url in references

    # Grafana's repeat of the same group adds nothing; the resolution adds two entries.
    assert grafana(stack, fixture("grafana_firing.json")) == 200
    stack.clock.advance_to(stack.clock.now() + timedelta(minutes=30))
    assert grafana(stack, fixture("grafana_resolved.json")) == 200
    incident = stack.bot.find(1)
    resolved = [
        entry.occurred_at
        for entry in incident.visible_timeline()
        if entry.text.startswith("Alert resolved (grafana)")
    ]
    assert resolved == [
        datetime(2021, 10, 12, 8, 21, 3, 157076, tzinfo=UTC),
        datetime(2021, 10, 12, 8, 26, 3, 157076, tzinfo=UTC),
    ]
    assert incident.status is Status.INVESTIGATING
    assert any(
        "Every alert of incident 1 has resolved" in text
        for text in stack.outlet.texts(incident.channel_id)
    )


def test_grafanas_payload_with_another_version_is_refused(stack: AlertStack) -> None:
    payload = json.loads(fixture("grafana_firing.json"))
    payload["version"] = "2"
    answer = stack.post("/hooks/grafana", payload, token=GRAFANA_TOKEN)
    assert answer.status == 400
    assert 'version "2": this receiver reads Grafana\'s webhook payload version 1' in (
        answer.body["error"]
    )
    assert stack.incidents() == []
    # Alertmanager's door does not take Grafana's payload either.
    assert stack.post("/hooks/alertmanager", fixture("grafana_firing.json")).status == 400
