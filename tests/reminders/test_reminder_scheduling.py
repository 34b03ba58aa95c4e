"""The APScheduler sweep job that `incident-bot run` starts: it hands due reminders to
the running adapter of the incident's platform, and stops cleanly."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.config import Settings
from adapters.matrix.adapter import from_environment as matrix_from_environment
from adapters.scheduling import reminder_jobs
from adapters.slack.adapter import from_environment as slack_from_environment
from adapters.slack.text import escape
from bot.clock import SystemClock
from bot.domain import Incident
from bot.drafts.templates import builtin_registry
from bot.reminders import Reminder, ReminderKind, ReminderState
from bot.replies import Message, Reply
from bot.service import CoreSettings, IncidentBot
from storage.database import make_engine
from storage.inbox import SqlAlchemyInbox
from storage.leadership import leadership_for
from storage.uow import SqlAlchemyUnitOfWorkFactory


class RecordingAdapter:
    """A running adapter as the runner sees it, recording what it was asked to post."""

    platform = "slack"
    command_prefix = "/incident"

    def __init__(self) -> None:
        self.delivered: list[Message] = []
        self.arrived = threading.Event()
        self.standby = False
        self.asked_standby = threading.Event()

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def standing_by(self) -> bool:
        self.asked_standby.set()
        return self.standby

    def mention(self, user: str) -> str:
        return f"<@{user}>"

    def deliver(self, replies: Sequence[Reply]) -> None:
        self.delivered.extend(r for r in replies if isinstance(r, Message))
        self.arrived.set()


def test_the_sweep_job_delivers_due_reminders_through_the_adapter(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    now = datetime.now(UTC)
    with uow_factory() as uow:
        uow.incidents.add(
            Incident.declare(
                workspace="T1", number=1, title="Checkout down", platform="slack",
                channel_id="C1", channel_name="inc-1", declared_by="U1",
                declared_at=now - timedelta(hours=1), captured_at=now, template="standard",
            )
        )
        uow.reminders.add(
            Reminder(
                workspace="T1", incident_number=1, platform="slack",
                kind=ReminderKind.STATUS_UPDATE, due_at=now - timedelta(seconds=1),
                created_at=now,
            )
        )
        uow.commit()
    bot = IncidentBot(
        uow=uow_factory, clock=SystemClock(), settings=CoreSettings(),
        templates=builtin_registry(),
    )
    adapter = RecordingAdapter()
    stop = reminder_jobs(
        bot, {"slack": adapter}, Settings(remind_sweep_interval=timedelta(milliseconds=50))
    )
    try:
        assert adapter.arrived.wait(timeout=30), "the sweep delivered nothing"
    finally:
        stop()
    [message] = adapter.delivered
    assert message.channel == "C1"
    assert message.text.startswith("no status update in incident 1 for 30m.")  # nobody to @


def test_a_standby_leaves_its_platforms_reminders_to_the_replica_at_work(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    """A Matrix standby cannot post: were it to claim a reminder, the delivery would fail
    and the reminder be put off. It claims none; once it takes over, it delivers."""
    now = datetime.now(UTC)
    with uow_factory() as uow:
        uow.incidents.add(
            Incident.declare(
                workspace="T1", number=1, title="Checkout down", platform="slack",
                channel_id="C1", channel_name="inc-1", declared_by="U1",
                declared_at=now - timedelta(hours=1), captured_at=now, template="standard",
            )
        )
        uow.reminders.add(
            Reminder(
                workspace="T1", incident_number=1, platform="slack",
                kind=ReminderKind.STATUS_UPDATE, due_at=now - timedelta(seconds=1),
                created_at=now,
            )
        )
        uow.commit()
    bot = IncidentBot(
        uow=uow_factory, clock=SystemClock(), settings=CoreSettings(),
        templates=builtin_registry(),
    )
    adapter = RecordingAdapter()
    adapter.standby = True
    stop = reminder_jobs(
        bot, {"slack": adapter}, Settings(remind_sweep_interval=timedelta(milliseconds=50))
    )
    try:
        assert adapter.asked_standby.wait(timeout=30)
        assert not adapter.arrived.wait(timeout=1.0), "a standby delivered a reminder"
        with uow_factory() as uow:
            [reminder] = uow.reminders.for_incident("T1", 1)
            assert (reminder.state, reminder.attempts) == (ReminderState.PENDING, 0)
        adapter.standby = False  # took over
        assert adapter.arrived.wait(timeout=30), "the sweep delivered nothing"
    finally:
        stop()
    assert len(adapter.delivered) == 1


def test_each_platform_writes_reminders_its_own_way(tmp_path: Path) -> None:
    bot = IncidentBot(
        uow=lambda: None,  # type: ignore[arg-type,return-value]  # never used here
        clock=SystemClock(), settings=CoreSettings(), templates=builtin_registry(),
    )
    environ = {
        "MATRIX_HOMESERVER": "http://127.0.0.1:9", "MATRIX_USER_ID": "@bot:hs",
        "MATRIX_ACCESS_TOKEN": "token", "INCIDENT_BOT_MATRIX_STORE": str(tmp_path / "store"),
    }
    inbox = SqlAlchemyInbox(make_engine(f"sqlite:///{tmp_path}/unused.db"))
    leadership = leadership_for(f"sqlite:///{tmp_path}/unused.db")
    matrix = matrix_from_environment(
        bot=bot, settings=Settings(), environ=environ, inbox=inbox, leadership=leadership
    )
    assert matrix is not None
    assert (matrix.command_prefix, matrix.mention("@li:hs")) == ("!incident", "@li:hs")
    slack = slack_from_environment(
        bot=bot, settings=Settings(),
        environ={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, inbox=inbox,
        leadership=leadership,
    )
    assert slack is not None
    assert slack.command_prefix == "/incident"
    assert escape(slack.mention("U024BE7LH")) == "<@U024BE7LH>"  # as Slack receives it
