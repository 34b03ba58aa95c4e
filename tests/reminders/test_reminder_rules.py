"""Every reminder rule through the service, with a fake clock and in-memory storage:
created, fired, re-armed, cancelled by filling, snoozed, off/on, bounded count, retried."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from fakes import FakePlatform, FakeStore, FakeUnitOfWork

from bot.clock import ManualClock
from bot.drafts.templates import builtin_registry
from bot.events import CommandReceived, MessageTagged
from bot.reminders import ReminderKind, ReminderRules, ReminderState
from bot.replies import Message, Reply
from bot.service import CoreSettings, IncidentBot

T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)
CHANNEL = "C-inc-1-checkout-returns-502"
REQUIRED = {  # the standard template's required written sections, by heading
    "impact": "Impact",
    "summary": "Issue Summary",
    "root-cause": "Root Cause",
    "resolution": "Resolution and recovery",
    "prevention": "Corrective and Preventative Measures",
}


class Outlet:
    """Where delivered reminders land; `down` makes delivery fail like a platform outage."""

    command_prefix = "/incident"

    def __init__(self) -> None:
        self.delivered: list[Message] = []
        self.down = False

    def mention(self, user: str) -> str:
        return f"@{user}"

    def deliver(self, replies: Sequence[Reply]) -> None:
        if self.down:
            raise ConnectionError("the platform is down")
        self.delivered.extend(r for r in replies if isinstance(r, Message))


class Harness:
    def __init__(self, *, declarer_is_commander: bool = True, **rules: object) -> None:
        self.store = FakeStore()
        self.clock = ManualClock(T0)
        self.platform = FakePlatform()
        self.outlet = Outlet()
        self.bot = IncidentBot(
            uow=lambda: FakeUnitOfWork(self.store),
            clock=self.clock,
            settings=CoreSettings(
                timezone=ZoneInfo("Europe/Oslo"),
                declarer_is_commander=declarer_is_commander,
                reminders=ReminderRules(**rules),  # type: ignore[arg-type]
            ),
            templates=builtin_registry(),
        )

    def say(self, user: str, text: str) -> str:
        channel = CHANNEL if self.store.incidents else "general"
        replies = self.bot.handle(
            CommandReceived(
                workspace="w", channel=channel, user=user, text=text,
                posted_at=self.clock.now(),
            ),
            platform=self.platform,
        )
        return "\n".join(r.text for r in replies if isinstance(r, Message))

    def at(self, **delta: float) -> list[str]:
        """Moves the clock to T0 + delta and sweeps; returns what was delivered."""
        self.clock.advance_to(T0 + timedelta(**delta))
        return self.sweep()

    def later(self, **delta: float) -> list[str]:
        self.clock.advance_to(self.clock.now() + timedelta(**delta))
        return self.sweep()

    def sweep(self) -> list[str]:
        before = len(self.outlet.delivered)
        self.bot.deliver_due_reminders({"fake": self.outlet}, claimant="test")
        return [m.text for m in self.outlet.delivered[before:]]

    def pending(self, kind: ReminderKind | None = None) -> list[datetime]:
        return sorted(
            r.due_at for r in self.store.reminders
            if r.state is ReminderState.PENDING and (kind is None or r.kind is kind)
        )

    def close_with(self, *filled: str) -> None:
        for section_id in filled:
            self.say("jonas", f"set {section_id} Written.")
        self.say("maria", "close")


def started(**kwargs: object) -> Harness:
    h = Harness(**kwargs)  # type: ignore[arg-type]
    h.say("maria", "start Checkout returns 502")
    return h


# -- no commander -------------------------------------------------------------------------


def test_no_commander_reminder_fires_after_ten_minutes_to_the_channel() -> None:
    h = started(declarer_is_commander=False)
    assert h.pending(ReminderKind.NO_COMMANDER) == [T0 + timedelta(minutes=10)]
    assert h.at(minutes=9, seconds=59) == []
    [text] = h.at(minutes=10)
    assert "Incident 1 has no commander 10m after it was declared" in text
    assert "`/incident role commander me`" in text
    assert h.outlet.delivered[-1].channel == CHANNEL
    assert all("no commander" not in t for t in h.at(hours=5))  # once only


def test_assigning_a_commander_cancels_the_no_commander_reminder() -> None:
    h = started(declarer_is_commander=False)
    h.later(minutes=4)
    h.say("maria", "role commander @li")
    assert h.pending(ReminderKind.NO_COMMANDER) == []
    assert all("no commander" not in t for t in h.at(minutes=20))


def test_no_no_commander_reminder_when_the_declarer_commands() -> None:
    h = started()
    assert h.pending(ReminderKind.NO_COMMANDER) == []


def test_the_no_commander_delay_is_a_setting() -> None:
    h = started(declarer_is_commander=False, no_commander_after=timedelta(minutes=3))
    [text] = h.at(minutes=3)
    assert "no commander 3m after" in text


# -- status update --------------------------------------------------------------------------


def test_status_update_reminder_goes_to_the_comms_lead_else_the_commander() -> None:
    h = started()
    assert h.pending(ReminderKind.STATUS_UPDATE) == [T0 + timedelta(minutes=30)]
    [text] = h.at(minutes=30)
    assert text.startswith("@maria: no status update in incident 1 for 30m.")
    assert "`/incident status investigating|identified|monitoring|resolved`" in text
    h.say("maria", "role comms @jonas")  # a timeline entry: the clock restarts
    assert h.pending(ReminderKind.STATUS_UPDATE) == [T0 + timedelta(minutes=60)]
    [text] = h.at(minutes=60)
    assert text.startswith("@jonas: no status update")


def test_any_timeline_entry_restarts_the_status_clock() -> None:
    h = started()
    h.at(minutes=20)
    h.say("li", "note Pods restarted")
    assert h.at(minutes=30) == []
    h.at(minutes=45)
    h.say("li", "status identified")
    assert h.at(minutes=70) == []
    h.clock.advance_to(T0 + timedelta(minutes=72))
    h.bot.handle(
        MessageTagged(
            workspace="w", channel=CHANNEL, user="maria", message_ref="m1", author="li",
            text="Found it", posted_at=h.clock.now(),
        ),
        platform=h.platform,
    )
    assert h.at(minutes=101) == []
    assert len(h.at(minutes=102)) == 1


def test_status_update_re_arms_every_interval_without_updates() -> None:
    h = started(status_every=timedelta(minutes=15))
    assert len(h.at(minutes=15)) == 1
    assert h.pending(ReminderKind.STATUS_UPDATE) == [T0 + timedelta(minutes=30)]
    assert len(h.at(minutes=30)) == 1
    assert h.at(minutes=44) == []
    assert len(h.at(minutes=45)) == 1


def test_a_sweep_after_a_long_outage_sends_one_status_reminder_not_a_backlog() -> None:
    h = started()
    assert len(h.at(hours=5)) == 1
    assert h.pending(ReminderKind.STATUS_UPDATE) == [T0 + timedelta(hours=5, minutes=30)]


def test_resolving_or_closing_stops_status_reminders() -> None:
    h = started()
    h.say("maria", "resolve")
    assert h.pending(ReminderKind.STATUS_UPDATE) == []
    assert h.at(hours=2) == []
    h.say("maria", "reopen")
    assert h.pending(ReminderKind.STATUS_UPDATE) == [T0 + timedelta(hours=2, minutes=30)]


# -- empty sections -------------------------------------------------------------------------


def test_empty_sections_reminder_names_each_heading_with_its_command() -> None:
    h = started()
    h.say("maria", "role reporting @jonas")
    h.close_with("summary", "root-cause")
    assert h.pending() == [T0 + timedelta(hours=24)]
    assert h.at(hours=23, minutes=59) == []
    [text] = h.at(hours=24)
    assert text.startswith("@jonas: the postmortem of incident 1 (Checkout returns 502)")
    for section_id in ("impact", "resolution", "prevention"):
        assert f"• {REQUIRED[section_id]}: `/incident set {section_id} TEXT`" in text
    assert "Issue Summary" not in text and "Root Cause" not in text
    assert "Reminder 1 of 5" in text


def test_empty_sections_go_to_reporting_else_commander_else_declarer() -> None:
    h = started(declarer_is_commander=False)
    h.say("maria", "close")
    [text] = [t for t in h.at(days=1) if "postmortem" in t]
    assert text.startswith("@maria: ")  # nobody holds a role: the declarer
    h = started(declarer_is_commander=False)
    h.say("maria", "role commander @li")
    h.say("maria", "close")
    assert h.at(days=1)[0].startswith("@li: ")


def test_empty_sections_repeat_daily_at_most_five_times() -> None:
    h = started()
    h.say("maria", "close")
    sent = [h.at(days=day) for day in range(1, 9)]
    assert [len(texts) for texts in sent] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert "Reminder 5 of 5" in sent[4][0]
    assert h.pending() == []


def test_the_bound_is_a_setting() -> None:
    h = started(sections_max=2, sections_after=timedelta(hours=1))
    h.say("maria", "close")
    assert [len(h.at(hours=hours)) for hours in (1, 25, 49)] == [1, 1, 0]


def test_the_repeat_interval_is_a_setting() -> None:
    h = started(sections_every=timedelta(hours=6))
    h.say("maria", "close")
    assert h.pending() == [T0 + timedelta(hours=24)]  # the first still after SECTIONS_AFTER
    assert len(h.at(hours=24)) == 1
    assert h.pending() == [T0 + timedelta(hours=30)]
    assert h.at(hours=29, minutes=59) == []
    [second] = h.at(hours=30)
    assert "Reminder 2 of 5" in second
    # A sweep that comes late keeps the cadence of the due times, not of the sweep.
    assert len(h.at(hours=37)) == 1
    assert h.pending() == [T0 + timedelta(hours=42)]


def test_a_section_cleared_after_a_reminder_re_arms_after_the_repeat_interval() -> None:
    h = started(sections_every=timedelta(hours=2))
    h.close_with("impact", "summary", "root-cause", "resolution")
    assert len(h.at(hours=24)) == 1
    h.say("jonas", "set prevention Written.")
    assert h.pending() == []
    h.at(hours=25)
    h.say("jonas", "clear prevention")
    assert h.pending() == [T0 + timedelta(hours=27)]


def test_filling_the_last_required_section_cancels_the_reminder() -> None:
    h = started()
    h.say("maria", "close")
    assert len(h.at(days=1)) == 1
    for section_id in ("impact", "summary", "root-cause", "resolution"):
        h.say("jonas", f"set {section_id} Written.")
        assert h.pending() != [], section_id  # still one empty
    h.say("jonas", "append prevention Validate chains.")
    assert h.pending() == []
    assert h.at(days=5) == []


def test_clearing_a_section_again_re_arms_and_keeps_counting() -> None:
    h = started()
    h.close_with(*REQUIRED)
    assert h.pending() == []
    h.at(hours=2)
    h.say("jonas", "clear impact")
    assert h.pending() == [T0 + timedelta(hours=24)]  # still a day after the close
    [text] = h.at(hours=24)
    assert "• Impact: `/incident set impact TEXT`" in text
    assert "Resolution" not in text
    h.say("jonas", "set impact Checkout down for 19 minutes.")
    h.at(hours=30)
    h.say("jonas", "clear impact")
    assert h.pending() == [T0 + timedelta(hours=54)]  # one went out: a day from now
    assert "Reminder 2 of 5" in h.at(hours=54)[0]


def test_reopen_cancels_the_empty_sections_reminder_and_close_starts_it_again() -> None:
    h = started()
    h.say("maria", "close")
    h.at(hours=1)
    h.say("maria", "reopen")
    assert h.pending(ReminderKind.EMPTY_SECTIONS) == []
    h.at(hours=2)
    h.say("maria", "close")
    assert h.pending(ReminderKind.EMPTY_SECTIONS) == [T0 + timedelta(hours=26)]


def test_a_reminder_that_no_longer_applies_when_due_is_not_sent() -> None:
    h = started()
    h.say("maria", "close")
    # The sections get written without the core re-arming anything (as a change made
    # while the reminder was already due would be): at its due time it finds nothing
    # empty and is cancelled, not sent.
    for section_id in REQUIRED:
        h.store.incidents[-1].set_section(section_id, "x", by="jonas", now=h.clock.now())
    assert h.at(days=1) == []
    assert [r.state for r in h.store.reminders if r.kind is ReminderKind.EMPTY_SECTIONS] == [
        ReminderState.CANCELLED
    ]


# -- remind snooze / off / on / list ---------------------------------------------------------


def test_snooze_moves_every_pending_reminder_and_later_ones_respect_it() -> None:
    h = started()
    reply = h.say("maria", "remind snooze 2h")
    assert "snoozed for 2h, until 16:02 Europe/Oslo" in reply
    assert h.pending() == [T0 + timedelta(hours=2)]
    assert h.at(hours=1) == []
    h.say("li", "note still looking")  # re-armed at +30m, but snoozed until +2h
    assert h.pending() == [T0 + timedelta(hours=2)]
    assert h.at(hours=1, minutes=59) == []
    assert len(h.at(hours=2)) == 1
    assert h.pending() == [T0 + timedelta(hours=2, minutes=30)]


@pytest.mark.parametrize("duration,delta", [("30m", timedelta(minutes=30)),
                                            ("1d", timedelta(days=1))])
def test_snooze_durations(duration: str, delta: timedelta) -> None:
    h = started()
    h.say("maria", f"remind snooze {duration}")
    assert h.pending() == [max(T0 + delta, T0 + timedelta(minutes=30))]


def test_off_cancels_everything_and_on_brings_it_back() -> None:
    h = started(declarer_is_commander=False)
    assert "are off" in h.say("maria", "remind off")
    assert h.pending() == []
    h.say("li", "note something")  # activity while off arms nothing
    assert h.pending() == []
    assert h.at(hours=3) == []
    assert "already off" in h.say("maria", "remind off")
    reply = h.say("maria", "remind on")
    assert "are back on" in reply
    assert "no commander to the channel at 17:02 Europe/Oslo" in reply  # now: 16:02 UTC
    assert "status update to the channel at 17:32" in reply  # no comms lead, no commander
    assert sorted(h.pending()) == [T0 + timedelta(hours=3), T0 + timedelta(hours=3, minutes=30)]


def test_off_also_stops_the_empty_sections_reminders_and_on_resumes_the_count() -> None:
    h = started()
    h.say("maria", "close")
    assert len(h.at(days=1)) == 1
    h.say("maria", "remind off")
    assert h.at(days=3) == []
    h.say("maria", "remind on")
    [text] = h.at(days=4)
    assert "Reminder 2 of 5" in text


def test_remind_lists_what_is_scheduled_and_when() -> None:
    h = started(declarer_is_commander=False)
    h.say("maria", "role comms @jonas")
    text = h.say("maria", "remind")
    assert text.splitlines()[0] == "Reminders scheduled for incident 1:"
    assert "no commander to the channel at 14:12 Europe/Oslo (CET)" in text
    assert "status update to @jonas at 14:32 Europe/Oslo (CET)" in text
    h.say("maria", "remind off")
    assert "are off" in h.say("maria", "remind")


def test_remind_mistakes_are_explained() -> None:
    h = started()
    assert "`soon` is not a duration; write a number and a unit: 30m, 2h, 1d" in h.say(
        "maria", "remind snooze soon"
    )
    assert "Missing how long to snooze" in h.say("maria", "remind snooze")
    assert "Unknown `remind` subcommand `later`" in h.say("maria", "remind later")
    assert "works in an incident's channel" in h.bot.handle(
        CommandReceived(workspace="w", channel="general", user="x", text="remind",
                        posted_at=h.clock.now()),
        platform=h.platform,
    )[0].text  # type: ignore[union-attr]
    assert "/incident remind snooze DURATION" in h.say("maria", "help remind")


# -- delivery: failures, retries, exactly once -----------------------------------------------


def test_a_failed_delivery_is_retried_with_backoff_and_then_delivered_once() -> None:
    h = started()
    h.outlet.down = True
    assert h.at(minutes=30) == []
    [reminder] = [r for r in h.store.reminders if r.kind is ReminderKind.STATUS_UPDATE
                  and r.state is ReminderState.PENDING]
    assert reminder.attempts == 1
    assert reminder.due_at == T0 + timedelta(minutes=30, seconds=30)
    assert reminder.last_error == "ConnectionError: the platform is down"
    assert h.at(minutes=30, seconds=30) == []
    assert h.pending() == [T0 + timedelta(minutes=31, seconds=30)]  # doubled
    assert h.at(minutes=31) == []  # not due yet: the sweep does not hammer the platform
    h.outlet.down = False
    [text] = h.at(minutes=31, seconds=30)
    assert "no status update" in text
    assert h.sweep() == [] and h.later(seconds=5) == []
    states = [r.state for r in h.store.reminders if r.kind is ReminderKind.STATUS_UPDATE]
    assert states == [ReminderState.SENT, ReminderState.PENDING]


def test_backoff_doubles_up_to_a_ceiling() -> None:
    rules = ReminderRules()
    assert [rules.retry_delay(n).total_seconds() for n in range(1, 8)] == [
        30, 60, 120, 240, 480, 900, 900
    ]


def test_sweeping_again_at_the_same_time_delivers_nothing_new() -> None:
    h = started()
    assert len(h.at(minutes=30)) == 1
    assert h.sweep() == []
    assert h.sweep() == []


def test_a_claim_left_by_a_dead_process_is_never_delivered_again() -> None:
    h = started()
    h.clock.advance_to(T0 + timedelta(minutes=30))
    # A sweep claims the reminder and dies before recording the delivery.
    with FakeUnitOfWork(h.store) as uow:
        [claimed] = uow.reminders.claim_due(
            now=h.clock.now(), platforms=["fake"], limit=1, claimant="dead"
        )
        uow.commit()
    assert h.sweep() == []  # still within the lease: left alone
    assert h.later(minutes=11) == []  # past the lease: given up, not re-sent
    states = {r.id: r.state for r in h.store.reminders}
    assert states[claimed.id] is ReminderState.UNKNOWN
    # ... and the status-update rhythm goes on from it.
    assert h.pending(ReminderKind.STATUS_UPDATE) == [T0 + timedelta(minutes=60)]
    assert len(h.at(minutes=60)) == 1


def test_reminders_of_other_platforms_are_left_for_their_adapter() -> None:
    h = started()
    h.clock.advance_to(T0 + timedelta(hours=1))
    report = h.bot.deliver_due_reminders({"slack": h.outlet}, claimant="other")
    assert report.delivered == 0
    assert len(h.sweep()) == 1


def test_a_failed_reminder_superseded_meanwhile_gives_way_to_its_successor() -> None:
    h = started()

    class ChangingOutlet(Outlet):
        def deliver(self, replies: Sequence[Reply]) -> None:
            h.say("li", "note back up")  # the incident changes while the reminder is out
            raise ConnectionError("the platform is down")

    h.outlet = ChangingOutlet()
    assert h.at(minutes=30) == []
    states = [(r.state, r.due_at) for r in h.store.reminders
              if r.kind is ReminderKind.STATUS_UPDATE]
    assert states == [
        (ReminderState.CANCELLED, T0 + timedelta(minutes=30)),
        (ReminderState.PENDING, T0 + timedelta(minutes=60)),
    ]
