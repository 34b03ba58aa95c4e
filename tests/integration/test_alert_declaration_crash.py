"""An incident declared for an alert group by a process killed while its channel opened:
the notification delivered again (Alertmanager's retry, or the inbox handing it to the
next process) opens the channel, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from test_start_steps import Chat as StartChat
from test_start_steps import killed_while_opening

from bot.alert_intake import AlertIntake
from bot.alerts import Alert, AlertNotification, AlertRules, parse_route
from bot.clock import ManualClock
from bot.drafts.templates import builtin_registry
from bot.replies import Message
from bot.service import CoreSettings, IncidentBot
from storage.uow import SqlAlchemyUnitOfWorkFactory

# Applies `notification()` as the test does (below) on the database at argv[1], and dies
# opening the incident's channel.
DIES_OPENING_THE_CHANNEL = """
import sys
sys.path.insert(0, sys.argv[2])
from test_alert_declaration_crash import intake_on, notification
from test_start_steps import StallsOpening
from storage.uow import unit_of_work_factory

class Stalls(StallsOpening):
    name = "console"

intake_on(unit_of_work_factory(sys.argv[1])).receive(
    notification(), "am:1", {"console": Stalls()})
"""


def intake_on(factory: SqlAlchemyUnitOfWorkFactory) -> AlertIntake:
    clock = ManualClock(notification().alerts[0].starts_at)
    bot = IncidentBot(
        uow=factory, clock=clock, settings=CoreSettings(), templates=builtin_registry()
    )
    route = parse_route({"name": "critical", "match": ['severity="critical"']}, 0)
    return AlertIntake(bot=bot, uow=factory, clock=clock, rules=AlertRules((route,)))


def notification() -> AlertNotification:
    alert = Alert(
        fingerprint="f1", status="firing",
        labels={"alertname": "DiskFull", "severity": "critical"},
        annotations={"summary": "db-2 is out of disk"},
        starts_at=datetime(2025, 3, 4, 14, 2, tzinfo=UTC), ends_at=None,
    )
    return AlertNotification(
        source="alertmanager", group_key='{}:{alertname="DiskFull"}', status="firing",
        receiver="incident-bot", group_labels={"alertname": "DiskFull"},
        common_labels=dict(alert.labels), common_annotations={}, external_url="",
        alerts=(alert,),
    )


class Chat(StartChat):
    name = "console"  # the route's platform


def test_an_alert_declaration_killed_while_its_channel_opened_is_finished_by_the_retry(
    migrated_url: str, uow_factory: SqlAlchemyUnitOfWorkFactory
) -> None:
    name = killed_while_opening(DIES_OPENING_THE_CHANNEL, migrated_url)
    assert name.startswith("inc-1-diskfull"), name
    intake = intake_on(uow_factory)
    with uow_factory() as uow:
        stored = uow.incidents.get("console", 1)
        assert stored is not None and stored.channel_id.startswith("(opening)")

    chat = Chat()
    outcome = intake.receive(notification(), "am:1", {"console": chat})
    assert chat.opened == [name]
    with uow_factory() as uow:
        incident = uow.incidents.get("console", 1)
        assert incident is not None and incident.channel_id == f"C-{name}"
        assert [e.text for e in incident.timeline if "DiskFull" in e.text], incident.timeline
    said = {(m.channel, m.text.split("\n")[0]) for m in outcome.replies if isinstance(m, Message)}
    assert any(channel == f"C-{name}" and text.startswith("Incident 1: DiskFull")
               for channel, text in said), said
    assert any(channel == "general" and "Incident 1 declared" in text for channel, text in said)
    assert not any(channel.startswith("(opening)") for channel, _ in said), said

    # Applied once: the same notification again changes nothing and says nothing.
    again = intake.receive(notification(), "am:1", {"console": chat})
    assert again.repeat and chat.opened == [name]
    assert chat.invited == []  # an alert source is nobody to invite
