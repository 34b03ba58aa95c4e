"""An incident declared for an alert group by a process killed while its channel opened:
the notification delivered again (Alertmanager's retry, or the inbox handing it to the
next process) opens the channel, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.alert_intake import AlertIntake
from bot.alerts import Alert, AlertNotification, AlertRules, parse_route
from bot.clock import ManualClock
from bot.commands import default_mention
from bot.drafts.templates import builtin_registry
from bot.ports import ChannelRef
from bot.replies import Message
from bot.service import CoreSettings, IncidentBot
from storage.uow import SqlAlchemyUnitOfWorkFactory

# Builds what the test builds (below), with a platform that says when the channel is
# being opened and then never answers: the process is killed there.
DIES_OPENING_THE_CHANNEL = """
import sys, time
sys.path.insert(0, sys.argv[2])
from test_alert_declaration_crash import intake_on, notification
from storage.uow import unit_of_work_factory

class Stalls:
    name = "console"
    command_prefix = "/incident"
    def open_incident_channel(self, *, name, topic, invite):
        print("opening", name, flush=True)
        time.sleep(3600)
    def display_name(self, user):
        return user
    def mention(self, user):
        return "@" + user

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


class Chat:
    name = "console"
    command_prefix = "/incident"

    def __init__(self) -> None:
        self.opened: list[str] = []

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
        self.opened.append(name)
        return ChannelRef(id=f"C-{name}", name=name)

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        raise AssertionError("an alert source is nobody to invite")

    def channel_link(self, *, workspace: str, channel_id: str) -> None:
        return None

    def display_name(self, user: str) -> str:
        return user

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        return default_mention(token)


def test_an_alert_declaration_killed_while_its_channel_opened_is_finished_by_the_retry(
    migrated_url: str, uow_factory: SqlAlchemyUnitOfWorkFactory
) -> None:
    dying = subprocess.Popen(
        [sys.executable, "-c", DIES_OPENING_THE_CHANNEL, migrated_url,
         os.path.dirname(__file__)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert dying.stdout is not None
        said, name = dying.stdout.readline().split()
        assert said == "opening" and name.startswith("inc-1-diskfull"), name
    finally:
        os.kill(dying.pid, signal.SIGKILL)
        dying.wait(timeout=30)
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
