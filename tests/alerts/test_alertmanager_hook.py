"""`POST /hooks/alertmanager` over real HTTP: one incident per alert group, one entry per
alert at its own time, and what the channel is told."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alert_stack import AlertStack, alert, notification

from bot.domain import EntryKind, MilestoneKind, Status

RUNBOOK = "https://runbooks.example.org/high-error-rate"
DASHBOARD = "https://grafana.example.org/d/abc/checkout"


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[AlertStack]:
    """On SQLite and on PostgreSQL."""
    stack = AlertStack(tmp_path, database_url=database_url)
    try:
        yield stack
    finally:
        stack.close()


def first_alert(**changes: str) -> dict[str, object]:
    return alert(
        "HighErrorRate",
        fingerprint="aaaa000000000001",
        **{"starts_at": "2025-03-04T14:02:00Z", **changes},
        labels={"service": "checkout"},
        annotations={
            "summary": "Checkout error rate above 5%",
            "runbook_url": RUNBOOK,
            "dashboard": DASHBOARD,
        },
    )


def second_alert(**changes: str) -> dict[str, object]:
    return alert(
        "HighErrorRate",
        fingerprint="bbbb000000000002",
        **{"starts_at": "2025-03-04T13:58:30Z", **changes},
        labels={"service": "payments"},
    )


def alert_entries(stack: AlertStack, number: int = 1) -> list[tuple[datetime, str]]:
    incident = stack.bot.find(number)
    return [
        (entry.occurred_at, entry.text)
        for entry in incident.visible_timeline()
        if entry.source_ref and entry.source_ref.startswith("alert:")
    ]


def test_a_firing_alert_declares_an_incident_with_the_alert_at_its_start(
    stack: AlertStack,
) -> None:
    answer = stack.alertmanager(notification([first_alert()]))
    assert answer.status == 200, answer.body
    [incident] = stack.incidents()
    assert incident.title == "HighErrorRate: Checkout error rate above 5%"
    assert incident.severity == 1  # severity="critical" maps to SEV1
    assert incident.current_roles() == {}  # an alert source is nobody's commander
    [(at, text)] = alert_entries(stack)
    assert at == datetime(2025, 3, 4, 14, 2, tzinfo=UTC)
    assert "Alert firing (alertmanager): HighErrorRate" in text
    assert f"Runbook: {RUNBOOK}" in text and f"Dashboard: {DASHBOARD}" in text
    assert incident.milestone(MilestoneKind.STARTED) == datetime(2025, 3, 4, 14, 2, tzinfo=UTC)
    # The channel was opened and announced; the channel got one summary.
    assert any(
        "Incident 1 declared by alertmanager alerts" in text
        for text in stack.outlet.texts("general")
    )
    channel = incident.channel_id
    assert channel.startswith("inc-1-")
    [summary] = [t for t in stack.outlet.texts(channel) if t.startswith("Alerts for incident 1")]
    assert "1 firing since the last summary: HighErrorRate." in summary
    # The draft's References carry the alert's links.
    draft = stack.draft(1)
    assert "### Alerts" in draft
    assert RUNBOOK in draft and DASHBOARD in draft
    assert "http://127.0.0.1:9090/graph?g0.expr=up" in draft


def test_repeats_add_nothing_and_a_new_alert_adds_one_entry(stack: AlertStack) -> None:
    stack.alertmanager(notification([first_alert()]))
    posted = len(stack.outlet.posted)
    # repeat_interval: the same alerts again (the body differs only in its order).
    repeat = notification([first_alert()])
    repeat["truncatedAlerts"] = 0
    repeat = dict(reversed(list(repeat.items())))
    assert stack.alertmanager(repeat).status == 200
    assert len(alert_entries(stack)) == 1
    assert len(stack.outlet.posted) == posted
    # A second alert joins the group: one entry, not an incident; impact moves earlier.
    stack.clock.advance_to(stack.clock.now() + timedelta(minutes=2))
    stack.alertmanager(notification([first_alert(), second_alert()]))
    assert len(stack.incidents()) == 1
    entries = alert_entries(stack)
    assert [at for at, _ in entries] == [
        datetime(2025, 3, 4, 13, 58, 30, tzinfo=UTC),
        datetime(2025, 3, 4, 14, 2, tzinfo=UTC),
    ]
    incident = stack.bot.find(1)
    assert incident.milestone(MilestoneKind.STARTED) == datetime(
        2025, 3, 4, 13, 58, 30, tzinfo=UTC
    )


def test_resolving_adds_an_entry_at_its_end_and_proposes_monitoring(stack: AlertStack) -> None:
    stack.alertmanager(notification([first_alert(), second_alert()]))
    stack.clock.advance_to(stack.clock.now() + timedelta(minutes=5))
    stack.alertmanager(
        notification(
            [first_alert(), second_alert(status="resolved", ends_at="2025-03-04T14:07:00Z")]
        )
    )
    channel = stack.bot.find(1).channel_id
    assert not any("Every alert" in t for t in stack.outlet.texts(channel))  # one still fires
    stack.alertmanager(
        notification(
            [
                first_alert(status="resolved", ends_at="2025-03-04T14:09:00.123456789Z"),
                second_alert(status="resolved", ends_at="2025-03-04T14:07:00Z"),
            ]
        )
    )
    entries = alert_entries(stack)
    resolved = [(at, text) for at, text in entries if text.startswith("Alert resolved")]
    assert [at for at, _ in resolved] == [
        datetime(2025, 3, 4, 14, 7, tzinfo=UTC),
        datetime(2025, 3, 4, 14, 9, 0, 123456, tzinfo=UTC),
    ]
    [said] = [t for t in stack.outlet.texts(channel) if "Every alert" in t]
    assert "`/incident status monitoring`" in said
    incident = stack.bot.find(1)
    assert incident.status is Status.INVESTIGATING and not incident.is_closed
    # Fired again after resolving: a new entry in the same incident.
    stack.alertmanager(notification([first_alert(starts_at="2025-03-04T14:20:00Z")]))
    assert len(stack.incidents()) == 1
    assert sum(text.startswith("Alert firing") for _, text in alert_entries(stack)) == 3


def test_a_closed_incidents_group_declares_a_new_one_that_links_the_old(
    stack: AlertStack,
) -> None:
    stack.alertmanager(notification([first_alert()]))
    incident = stack.bot.find(1)
    closed = stack.bot.handle(
        _command(incident.channel_id, "close", stack.clock.now()), platform=stack.outlet.platform
    )
    assert any("closed" in getattr(reply, "text", "") for reply in closed)
    stack.clock.advance_to(stack.clock.now() + timedelta(hours=1))
    stack.alertmanager(notification([first_alert(starts_at="2025-03-04T15:10:00Z")]))
    assert [i.number for i in stack.incidents()] == [1, 2]
    second = stack.bot.find(2)
    notes = [e.text for e in second.visible_timeline() if e.kind is EntryKind.NOTE]
    assert any(f"Follows incident 1 (#{incident.channel_name}, closed)" in n for n in notes)
    assert any("incident 1 is closed" in t for t in stack.outlet.texts(second.channel_id))
    assert len(alert_entries(stack, 1)) == 1  # the closed one is left as it was


def test_an_alert_no_route_matches_declares_nothing(stack: AlertStack) -> None:
    answer = stack.alertmanager(
        notification([alert("DiskFilling", fingerprint="cc01", starts_at="2025-03-04T14:00:00Z",
                            severity="warning")])
    )
    assert answer.status == 200
    assert stack.incidents() == []
    assert stack.outlet.posted == []


def _command(channel: str, text: str, at: datetime):  # type: ignore[no-untyped-def]
    from bot.events import CommandReceived

    return CommandReceived(workspace="console", channel=channel, user="maria", text=text,
                           posted_at=at)  # fmt: skip


def test_the_same_alert_twice_in_one_notification_is_one_entry(stack: AlertStack) -> None:
    resolved = second_alert(status="resolved", ends_at="2025-03-04T14:07:00Z")
    stack.alertmanager(notification([first_alert(), first_alert(), resolved, resolved]))
    texts = [text for _, text in alert_entries(stack)]
    assert sum("HighErrorRate (service=checkout" in t for t in texts) == 1
    # First seen resolved: its firing and its resolution, once each.
    assert sum("service=payments" in t for t in texts) == 2


def test_news_held_back_for_an_incident_closed_meanwhile_is_not_posted(
    stack: AlertStack,
) -> None:
    stack.alertmanager(notification([first_alert()]))
    stack.alertmanager(notification([first_alert(), second_alert()]))  # within the minute
    incident = stack.bot.find(1)
    summaries = [t for t in stack.outlet.texts(incident.channel_id) if t.startswith("Alerts")]
    assert len(summaries) == 1  # the second alert waits for the minute
    stack.bot.handle(
        _command(incident.channel_id, "close", stack.clock.now()), platform=stack.outlet.platform
    )
    stack.clock.advance_to(stack.clock.now() + timedelta(minutes=2))
    stack.worker.sweep()
    stack.worker.sweep()
    after = [t for t in stack.outlet.texts(incident.channel_id) if t.startswith("Alerts")]
    assert after == summaries
