"""What the receivers refuse, and a replay, over real HTTP: nothing bad is recorded,
every refusal says why."""

from __future__ import annotations

import base64
import http.client
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alert_stack import GRAFANA_TOKEN, TOKEN, AlertStack, alert, notification


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[AlertStack]:
    stack = AlertStack(tmp_path, env={"INCIDENT_BOT_ALERTS_MAX_BODY": "64KiB"})
    try:
        yield stack
    finally:
        stack.close()


def firing() -> dict[str, object]:
    return notification(
        [alert("HighErrorRate", fingerprint="f1", starts_at="2025-03-04T14:02:00Z")]
    )


def nothing_recorded(stack: AlertStack) -> bool:
    return stack.incidents() == [] and stack.inbox.pending() == 0 and not stack.outlet.posted


def test_malformed_json_is_a_400_that_says_so(stack: AlertStack) -> None:
    answer = stack.post("/hooks/alertmanager", b'{"version": "4", "alerts": [')
    assert answer.status == 400
    assert "not JSON" in answer.body["error"] and "not recorded" in answer.body["error"]
    assert nothing_recorded(stack)


def test_an_unknown_payload_version_is_a_400_naming_the_versions_read(stack: AlertStack) -> None:
    payload = firing()
    payload["version"] = "3"
    answer = stack.alertmanager(payload)
    assert answer.status == 400
    assert (
        'version "3": this receiver reads Alertmanager\'s webhook payload version 4'
        in answer.body["error"]
    )
    assert nothing_recorded(stack)


def test_an_alert_without_a_start_is_a_400(stack: AlertStack) -> None:
    payload = firing()
    del payload["alerts"][0]["startsAt"]  # type: ignore[index]
    answer = stack.alertmanager(payload)
    assert answer.status == 400
    assert "alerts[0].startsAt is missing" in answer.body["error"]
    assert nothing_recorded(stack)


def test_a_wrong_or_missing_token_is_a_401_and_the_token_is_never_logged(
    stack: AlertStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert stack.alertmanager(firing(), token="not-the-token").status == 401
    assert stack.alertmanager(firing(), token=None).status == 401
    # Grafana's token does not open Alertmanager's door.
    assert stack.alertmanager(firing(), token=GRAFANA_TOKEN).status == 401
    assert nothing_recorded(stack)
    assert stack.alertmanager(firing()).status == 200
    assert TOKEN not in caplog.text and GRAFANA_TOKEN not in caplog.text


def test_a_body_over_the_size_setting_is_a_413(stack: AlertStack) -> None:
    many = [
        alert(f"Alert{n}", fingerprint=f"{n:016x}", starts_at="2025-03-04T14:02:00Z",
              annotations={"description": "x" * 200})
        for n in range(400)
    ]  # fmt: skip
    body = json.dumps(notification(many)).encode()
    assert len(body) > 64 * 1024
    answer = stack.post("/hooks/alertmanager", body)
    assert answer.status == 413
    assert "over 65,536 bytes" in answer.body["error"]
    assert nothing_recorded(stack)
    # Without a length header too (chunked): the body is cut off as it arrives.
    assert post_chunked(stack.url, "/hooks/alertmanager", [body[:40_000], body[40_000:]]) == 413
    assert nothing_recorded(stack)


def post_chunked(base: str, path: str, chunks: list[bytes]) -> int:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", path)
        connection.putheader("authorization", f"Bearer {TOKEN}")
        connection.putheader("transfer-encoding", "chunked")
        connection.endheaders()
        try:
            for chunk in chunks:
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server may answer and close before the rest is sent
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_replay_is_applied_once(stack: AlertStack) -> None:
    """Sent again while the first is stored and after it was handled (when the inbox
    has forgotten it and the processed events still know it): applied once."""
    body = json.dumps(firing()).encode()
    first = stack.post("/hooks/alertmanager", body, wait=False)
    second = stack.post("/hooks/alertmanager", body)
    third = stack.post("/hooks/alertmanager", body)
    assert (first.status, second.status, third.status) == (200, 200, 200)
    [incident] = stack.incidents()
    entries = [e for e in incident.visible_timeline() if (e.source_ref or "").startswith("alert:")]
    assert len(entries) == 1
    assert len(incident.visible_timeline()) == 3  # declared, severity, the alert
    declared = [t for t in stack.outlet.texts("general") if "declared" in t]
    assert len(declared) == 1


def test_grafana_takes_its_bearer_token_or_basic_auth(tmp_path: Path) -> None:
    stack = AlertStack(
        tmp_path,
        env={"INCIDENT_BOT_GRAFANA_USER": "grafana", "INCIDENT_BOT_GRAFANA_PASSWORD": "pw-9876"},
    )
    try:
        empty = {"version": "1", "status": "firing", "alerts": [], "groupKey": "{}:{}"}
        assert stack.post("/hooks/grafana", empty, token=GRAFANA_TOKEN).status == 200
        basic = base64.b64encode(b"grafana:pw-9876").decode()
        assert stack.post("/hooks/grafana", empty, token=None,
                          headers={"authorization": f"Basic {basic}"}).status == 200  # fmt: skip
        wrong = base64.b64encode(b"grafana:nope").decode()
        assert stack.post("/hooks/grafana", empty, token=None,
                          headers={"authorization": f"Basic {wrong}"}).status == 401  # fmt: skip
        assert stack.post("/hooks/grafana", empty, token=TOKEN).status == 401
    finally:
        stack.close()


def test_grafana_in_a_header_of_its_own(tmp_path: Path) -> None:
    stack = AlertStack(tmp_path, env={"INCIDENT_BOT_GRAFANA_HEADER": "X-Grafana-Token"})
    try:
        empty = {"version": "1", "status": "firing", "alerts": [], "groupKey": "{}:{}"}
        assert stack.post("/hooks/grafana", empty, token=None,
                          headers={"x-grafana-token": GRAFANA_TOKEN}).status == 200  # fmt: skip
        assert stack.post("/hooks/grafana", empty, token=None,
                          headers={"x-grafana-token": "guess"}).status == 401  # fmt: skip
    finally:
        stack.close()


def test_an_accepted_notification_survives_a_crash_before_its_work(tmp_path: Path) -> None:
    """Answered 200 means stored: a process that dies before the work leaves it in the
    inbox, and the next one takes it up once its claim is old."""
    crashed = AlertStack(tmp_path, start_worker=False)  # nothing handles what arrives
    try:
        assert crashed.alertmanager(firing(), wait=False).status == 200
        assert crashed.incidents() == [] and crashed.inbox.pending() == 1
    finally:
        crashed.close()
    restarted = AlertStack(tmp_path)
    try:
        assert restarted.incidents() == []  # its claim is fresh: maybe still in hand
        restarted.clock.advance_to(restarted.clock.now() + timedelta(seconds=31))
        restarted.worker.sweep()
        assert restarted.worker.wait_idle(timeout=60)
        [incident] = restarted.incidents()
        assert incident.title == "HighErrorRate"
        assert any("declared" in text for text in restarted.outlet.texts("general"))
    finally:
        restarted.close()


def test_a_standby_replica_leaves_its_platforms_alerts_to_the_one_that_syncs(
    tmp_path: Path,
) -> None:
    """A Matrix standby cannot open rooms: what it receives waits in the inbox, and the
    replica that syncs takes it up once the standby's claim is old."""
    standby = AlertStack(tmp_path)
    standby.outlet.standby = True
    try:
        assert standby.alertmanager(firing()).status == 200
        assert standby.incidents() == [] and standby.inbox.pending() == 1
        assert standby.outlet.posted == []
        standby.clock.advance_to(standby.clock.now() + timedelta(seconds=31))
        standby.worker.sweep()  # a standby takes nothing up, not even what is abandoned
        assert standby.worker.wait_idle(timeout=60)
        assert standby.incidents() == [] and standby.inbox.pending() == 1
    finally:
        standby.close()
    leader = AlertStack(tmp_path)
    try:
        leader.clock.advance_to(leader.clock.now() + timedelta(seconds=31))
        leader.worker.sweep()
        assert leader.worker.wait_idle(timeout=60)
        [incident] = leader.incidents()
        assert incident.title == "HighErrorRate"
        assert leader.inbox.pending() == 0
        assert any("declared" in text for text in leader.outlet.texts("general"))
    finally:
        leader.close()
