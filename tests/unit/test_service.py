"""The service layer through fakes: events in, stored state and replies out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fakes import FakePlatform, FakeStore, FakeUnitOfWork

from bot.clock import ManualClock
from bot.domain import EntryKind, Role
from bot.drafts.templates import builtin_registry
from bot.events import CommandReceived, MessageTagged, MessageUntagged
from bot.replies import FileUpload, Message, Reaction, ReactionRemoved, Reply
from bot.service import CoreSettings, IncidentBot

T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)
CHANNEL = "C-inc-1-checkout-returns-502"


class Harness:
    def __init__(self, **settings: object) -> None:
        self.store = FakeStore()
        self.clock = ManualClock(T0)
        self.platform = FakePlatform()
        self.bot = IncidentBot(
            uow=lambda: FakeUnitOfWork(self.store),
            clock=self.clock,
            settings=CoreSettings(timezone=ZoneInfo("Europe/Oslo"), **settings),  # type: ignore[arg-type]
            templates=builtin_registry(),
        )

    def say(
        self, user: str, text: str, channel: str = CHANNEL, event_id: str | None = None,
        workspace: str = "w",
    ) -> list[Reply]:
        return self.bot.handle(
            CommandReceived(
                workspace=workspace, channel=channel, user=user, text=text,
                posted_at=self.clock.now(), event_id=event_id,
            ),
            platform=self.platform,
        )

    def text(self, user: str, text: str, channel: str = CHANNEL) -> str:
        replies = self.say(user, text, channel)
        return "\n".join(r.text for r in replies if isinstance(r, Message))

    def later(self, minutes: int) -> None:
        self.clock.advance_to(self.clock.now() + timedelta(minutes=minutes))

    @property
    def incident(self):  # type: ignore[no-untyped-def]
        return self.store.incidents[-1]


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.say("maria", "start Checkout returns 502", channel="general")
    return harness


def test_start_opens_a_numbered_channel_and_makes_the_declarer_commander(h: Harness) -> None:
    assert h.platform.opened == [
        ("inc-1-checkout-returns-502", "Incident 1: Checkout returns 502", ["maria"])
    ]
    assert h.incident.holder(Role.COMMANDER) == "maria"
    replies = h.say("li", "start Search is slow", channel="general")
    assert h.store.incidents[-1].number == 2
    assert isinstance(replies[0], Message) and replies[0].channel == "general"
    assert "Join #inc-2-search-is-slow" in replies[0].text
    assert replies[1].channel == "C-inc-2-search-is-slow"


def test_numbers_are_per_workspace() -> None:
    harness = Harness()
    harness.say("a", "start One", channel="general", workspace="w1")
    harness.say("b", "start Other", channel="general", workspace="w2")
    assert [(i.workspace, i.number) for i in harness.store.incidents] == [("w1", 1), ("w2", 1)]


def test_the_declarer_is_not_commander_when_configured_so() -> None:
    harness = Harness(declarer_is_commander=False)
    replies = harness.say("maria", "start Quiet", channel="general")
    assert harness.incident.holder(Role.COMMANDER) is None
    assert "Commander: unassigned" in replies[-1].text  # type: ignore[union-attr]


def test_incident_commands_outside_an_incident_channel_are_explained(h: Harness) -> None:
    [reply] = h.say("maria", "severity 2", channel="general")
    assert isinstance(reply, Message) and reply.is_error
    assert "works in an incident's channel" in reply.text
    assert "Usage: `/incident severity 1..4`" in reply.text
    assert h.incident.severity is None


def test_a_malformed_command_shows_usage_with_the_platform_prefix(h: Harness) -> None:
    [reply] = h.say("maria", "role captain @li")
    assert isinstance(reply, Message) and reply.is_error
    assert "Unknown role `captain`" in reply.text
    assert "`/incident role ROLE @user` or `/incident role ROLE me`" in reply.text


def test_a_failed_command_changes_nothing(h: Harness) -> None:
    before = len(h.incident.timeline)
    [reply] = h.say("maria", "timeline remove 99")
    assert isinstance(reply, Message) and reply.is_error and "no timeline entry #99" in reply.text
    assert len(h.incident.timeline) == before


def test_a_redelivered_event_is_applied_once(h: Harness) -> None:
    first = h.say("maria", "note Rollback started", event_id="Ev1")
    second = h.say("maria", "note Rollback started", event_id="Ev1")
    assert first and second == first  # the answer again, kept: it may not have been sent
    notes = [e for e in h.incident.timeline if e.kind is EntryKind.NOTE]
    assert len(notes) == 1


def test_a_redelivered_pin_gets_its_check_again_and_no_second_entry(h: Harness) -> None:
    """A process that died after the commit and before the ✅ left it unsent; the
    redelivery (the platform's, or the inbox's) sends it, and records nothing more."""

    def pin(event_id: str, message_ref: str = "m1") -> MessageTagged:
        return MessageTagged(
            workspace="w", channel=CHANNEL, user="maria", message_ref=message_ref,
            author="li", text="LB logs show certificate verify failed",
            posted_at=h.clock.now(), event_id=event_id,
        )

    check = Reaction(channel=CHANNEL, message_ref="m1")
    assert h.bot.handle(pin("Ev7"), platform=h.platform) == [check]
    assert h.bot.handle(pin("Ev7"), platform=h.platform) == [check]
    assert len([e for e in h.incident.timeline if e.kind is EntryKind.TAGGED]) == 1
    # Untagged since: the redelivered 📌 leaves it off the timeline, with no ✅.
    h.bot.handle(
        MessageUntagged(workspace="w", channel=CHANNEL, user="maria", message_ref="m1"),
        platform=h.platform,
    )
    assert h.bot.handle(pin("Ev7"), platform=h.platform) == []
    assert not h.incident.entry_for_message("m1").visible


def test_a_redelivered_unpin_takes_the_check_off_again_and_records_nothing_more(
    h: Harness,
) -> None:
    """A process that died after committing the 📌's removal and before the ✅ came off:
    the redelivery takes it off. Not when the message was pinned again meanwhile."""
    posted = h.clock.now()

    def pin(event_id: str, user: str = "maria") -> MessageTagged:
        return MessageTagged(
            workspace="w", channel=CHANNEL, user=user, message_ref="m1", author="li",
            text="LB logs show certificate verify failed", posted_at=posted,
            event_id=event_id,
        )

    def unpin(event_id: str) -> MessageUntagged:
        return MessageUntagged(
            workspace="w", channel=CHANNEL, user="maria", message_ref="m1", event_id=event_id
        )

    h.bot.handle(pin("Ev1"), platform=h.platform)
    removed, notice = h.bot.handle(unpin("Ev2"), platform=h.platform)
    assert removed == ReactionRemoved(channel=CHANNEL, message_ref="m1")
    assert isinstance(notice, Message) and "Took #" in notice.text
    entries_before = len(h.incident.timeline)
    assert h.bot.handle(unpin("Ev2"), platform=h.platform) == [removed]
    assert len(h.incident.timeline) == entries_before
    assert not h.incident.entry_for_message("m1").visible
    # Pinned again by someone else since: the late redelivery leaves the new ✅ alone.
    h.bot.handle(pin("Ev3", user="jonas"), platform=h.platform)
    assert h.bot.handle(unpin("Ev2"), platform=h.platform) == []
    assert h.incident.entry_for_message("m1").visible


def test_a_command_delivered_again_sends_its_kept_answer_until_it_was_sent(h: Harness) -> None:
    """The process died after recording the note and before answering: the redelivery
    records nothing more and sends the answer. Once the adapter says it was sent, a
    further redelivery says nothing."""
    [answer] = h.say("maria", "note Rollback started", event_id="Ev1")
    assert isinstance(answer, Message) and "Noted on the timeline" in answer.text
    assert h.say("maria", "note Rollback started", event_id="Ev1") == [answer]
    assert len([e for e in h.incident.timeline if e.kind is EntryKind.NOTE]) == 1
    h.bot.answered(platform=h.platform.name, event_id="Ev1")
    assert h.say("maria", "note Rollback started", event_id="Ev1") == []


def test_an_answer_that_only_reads_or_refuses_is_not_kept(h: Harness) -> None:
    h.say("maria", "note Rollback started", event_id="Ev1")
    assert h.say("maria", "timeline", event_id="Ev2")  # a listing: asked for again
    assert h.say("maria", "timeline", event_id="Ev2") == []
    [refusal] = h.say("maria", "timeline remove 99", event_id="Ev3")
    assert isinstance(refusal, Message) and refusal.is_error
    assert h.say("maria", "timeline remove 99", event_id="Ev3") == []


def test_an_adapter_is_told_which_commands_keep_their_answer(h: Harness) -> None:
    """The Matrix adapter says an answer was sent (one transaction) only where one was kept."""

    def keeps(text: str, event_id: str | None = "Ev9") -> bool:
        event = CommandReceived(workspace="w", channel=CHANNEL, user="maria", text=text,
                                posted_at=h.clock.now(), event_id=event_id)
        return h.bot.keeps_answer(event, platform=h.platform)

    assert keeps("note Rollback started")
    assert keeps("role comms @li")
    assert not keeps("note Rollback started", event_id=None)  # no id: nothing kept by it
    for reading in ("timeline", "roles", "help", "sections", "actions", "export"):
        assert not keeps(reading), reading
    assert not keeps("role captain @li")  # does not parse: refused at once


def test_role_me_and_handover_replies(h: Harness) -> None:
    assert h.text("jonas", "role comms me") == "@jonas is now Communications Lead."
    handover = h.text("maria", "role comms @li")
    assert handover == "Communications Lead handed over from @jonas to @li."
    assert "Communications Lead: @li" in h.text("maria", "roles")


def test_a_pinned_message_gets_a_check_and_an_entry_at_its_own_time(h: Harness) -> None:
    posted = h.clock.now()
    h.later(7)
    event = MessageTagged(
        workspace="w", channel=CHANNEL, user="maria", message_ref="m1", author="li",
        text="LB logs show certificate verify failed", posted_at=posted,
    )
    assert h.bot.handle(event, platform=h.platform) == [
        Reaction(channel=CHANNEL, message_ref="m1")
    ]
    assert h.bot.handle(event, platform=h.platform) == []  # a second 📌: still one entry
    [entry] = [e for e in h.incident.timeline if e.kind is EntryKind.TAGGED]
    assert entry.occurred_at == posted and entry.captured_at == posted + timedelta(minutes=7)
    replies = h.bot.handle(
        MessageUntagged(workspace="w", channel=CHANNEL, user="maria", message_ref="m1"),
        platform=h.platform,
    )
    assert isinstance(replies[-1], Message) and "Took #" in replies[-1].text
    assert not h.incident.entry_for_message("m1").visible


def test_reactions_outside_incident_channels_are_ignored(h: Harness) -> None:
    event = MessageTagged(
        workspace="w", channel="general", user="maria", message_ref="m9", author="li",
        text="lunch?", posted_at=h.clock.now(),
    )
    assert h.bot.handle(event, platform=h.platform) == []


def test_backdated_entries_are_read_in_the_workspace_zone(h: Harness) -> None:
    h.later(4)  # 14:06 in Oslo
    reply = h.text("li", "timeline add 13:40 Certificate rotation job ran")
    assert reply.startswith("Added to the timeline at 13:40 Europe/Oslo (CET)")
    entry = next(e for e in h.incident.timeline if e.kind is EntryKind.BACKDATED)
    assert entry.occurred_at == datetime(2025, 3, 4, 12, 40, tzinfo=UTC)
    timeline = h.text("li", "timeline")
    assert timeline.index("Certificate rotation") < timeline.index("Incident declared")


def test_sections_are_listed_filled_or_empty_with_how_to_fill_them(h: Harness) -> None:
    h.say("jonas", "set summary Checkout failed for 19 minutes.")
    listing = h.text("jonas", "sections")
    assert "✓ Issue Summary (summary)" in listing
    assert "○ Root Cause: `/incident set root-cause TEXT`" in listing
    kept = h.text("jonas", "set trigger A cron job")
    assert "does not show it, but it is kept" in kept
    assert "Also written, not in this template: trigger" in h.text("jonas", "sections")


def test_close_posts_the_draft_and_names_what_is_still_empty(h: Harness) -> None:
    h.say("jonas", "set summary Checkout failed.")
    h.say("li", "action Validate the chain @li")
    replies = h.say("maria", "close")
    upload = next(r for r in replies if isinstance(r, FileUpload))
    assert upload.channel == CHANNEL and upload.filename.endswith(".md")
    assert "Still to be written: Impact, Root Cause" in upload.comment
    draft = upload.content.decode()
    assert "## Issue Summary\n\nCheckout failed." in draft
    assert "- [ ] Validate the chain (owner: Li)" in draft
    assert h.incident.is_closed


def test_export_with_an_unknown_template_or_format_is_explained(h: Harness) -> None:
    [reply] = h.say("maria", "export nosuch")
    assert "There is no template `nosuch`" in reply.text  # type: ignore[union-attr]
    [reply] = h.say("maria", "export docx")
    assert isinstance(reply, FileUpload) and reply.filename.endswith("-standard.docx")
    assert reply.content.startswith(b"PK")  # a Word file is a zip archive


def test_help_lists_every_command_and_explains_one(h: Harness) -> None:
    text = h.text("maria", "help", channel="general")
    for command in ("start", "role", "timeline", "export", "reopen"):
        assert f"/incident {command}" in text
    assert "/incident timeline add WHEN TEXT" in h.text("maria", "help timeline")


def test_control_characters_in_chat_text_are_dropped(h: Harness) -> None:
    h.say("li", "note Null\x00 byte\x07 here")
    note = next(e for e in h.incident.timeline if e.kind is EntryKind.NOTE)
    assert note.text == "Null byte here"


def test_a_command_that_lost_a_race_is_handled_again(h: Harness) -> None:
    from bot.ports import ConcurrentChange

    class RacingUnitOfWork(FakeUnitOfWork):
        losses = 1

        def commit(self) -> None:
            if RacingUnitOfWork.losses:
                RacingUnitOfWork.losses -= 1
                raise ConcurrentChange("incident number taken")
            super().commit()

    h.bot._uow = lambda: RacingUnitOfWork(h.store)  # type: ignore[method-assign]
    h.say("li", "severity 3")
    assert h.incident.severity == 3


def test_start_invites_the_declarer_and_everyone_named() -> None:
    harness = Harness()
    harness.say("maria", "start DB down --invite @li @jonas @maria", channel="general")
    assert harness.platform.opened[-1] == (
        "inc-1-db-down", "Incident 1: DB down", ["maria", "li", "jonas"]
    )
    assert harness.incident.title == "DB down"
    [reply] = harness.say("maria", "start DB down --invite li", channel="general")
    assert isinstance(reply, Message) and reply.is_error
    assert "`li` is not one" in reply.text
    assert "`/incident start TITLE [--invite @user …]`" in reply.text
