"""A storm: 1,000 alerts in one group. The channel gets one summary a minute at most,
every alert is on the timeline once, and the receiver answers without doing the work."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from alert_stack import AlertStack, alert, notification

ALERTS = 1_000
# Alertmanager gives a webhook this long by default before it counts a failure and
# sends again (its notification timeout); the answer must come well within it.
ALERTMANAGER_TIMEOUT = 10.0


def storm(count: int) -> dict[str, object]:
    return notification(
        [
            alert(
                "InstanceDown",
                fingerprint=f"{n:016x}",
                starts_at=f"2025-03-04T14:{n // 60 % 60:02d}:{n % 60:02d}Z",
                labels={"instance": f"10.0.{n // 250}.{n % 250}:9100"},
                annotations={"summary": f"instance {n} down"},
            )
            for n in range(count)
        ],
        group_key='{}/{severity="critical"}:{alertname="InstanceDown"}',
    )


def test_a_thousand_alerts_make_one_summary_a_minute_and_one_entry_each(
    tmp_path: Path, database_url: str
) -> None:
    stack = AlertStack(tmp_path, database_url=database_url)
    try:
        # As Alertmanager sends a growing group: every group_interval, all its alerts.
        answers = []
        for count in (250, 500, 750, ALERTS):
            body = json.dumps(storm(count)).encode()
            assert len(body) < 1024 * 1024  # under the default size setting
            answers.append(stack.post("/hooks/alertmanager", body, wait=False))
            stack.clock.advance_to(stack.clock.now() + timedelta(seconds=2))
        assert all(answer.status == 200 for answer in answers)
        assert max(answer.seconds for answer in answers) < ALERTMANAGER_TIMEOUT
        assert stack.worker.wait_idle(timeout=300)

        [incident] = stack.incidents()
        refs = [
            entry.source_ref
            for entry in incident.visible_timeline()
            if (entry.source_ref or "").startswith("alert:")
        ]
        assert len(refs) == ALERTS and len(set(refs)) == ALERTS
        channel = incident.channel_id
        summaries = [t for t in stack.outlet.texts(channel) if t.startswith("Alerts for")]
        assert len(summaries) == 1  # the rest waits for the minute to pass
        assert "250 firing since the last summary" in summaries[0]
        assert len(stack.outlet.posted) <= 3  # announcement, welcome, summary

        # Still within the minute: the sweep holds it back.
        stack.clock.advance_to(stack.clock.now() + timedelta(seconds=30))
        stack.worker.sweep()
        assert len([t for t in stack.outlet.texts(channel) if t.startswith("Alerts for")]) == 1
        # A minute after the first: one summary of everything since.
        stack.clock.advance_to(stack.clock.now() + timedelta(seconds=31))
        stack.worker.sweep()
        summaries = [t for t in stack.outlet.texts(channel) if t.startswith("Alerts for")]
        assert len(summaries) == 2
        assert "750 firing since the last summary" in summaries[1]
        assert "Firing now: 1000." in summaries[1]
        stack.worker.sweep()  # nothing new: nothing said
        assert len([t for t in stack.outlet.texts(channel) if t.startswith("Alerts for")]) == 2

        # Alertmanager's repeat of the whole group adds nothing.
        stack.clock.advance_to(stack.clock.now() + timedelta(hours=4))
        stack.alertmanager(storm(ALERTS))
        again = stack.bot.find(1)
        assert sum((e.source_ref or "").startswith("alert:") for e in again.visible_timeline()) == (
            ALERTS
        )
        assert len([t for t in stack.outlet.texts(channel) if t.startswith("Alerts for")]) == 2
    finally:
        stack.close()
