"""What one incident may hold: each limit is a reply that names it and shows how to
write it right; a long 📌 message is shortened, never refused; a draft that cannot be
made names its format while the others still work."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_service import CHANNEL, Harness

from bot import limits
from bot.domain import Role
from bot.drafts.templates import load_registry
from bot.events import MessageEdited, MessageTagged
from bot.replies import FileUpload, Message, Reaction, Reply


def error_of(replies: list[Reply]) -> str:
    errors = [r.text for r in replies if isinstance(r, Message) and r.is_error]
    assert len(errors) == 1, replies
    return errors[0]


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.say("maria", "start Checkout returns 502", channel="general")
    return harness


def test_a_title_at_the_limit_is_taken_and_one_longer_is_refused_with_the_limit() -> None:
    harness = Harness()
    harness.say("maria", "start " + "t" * limits.TITLE_CHARS, channel="general")
    assert harness.incident.title == "t" * limits.TITLE_CHARS
    said = error_of(harness.say("maria", "start " + "t" * 5_000, channel="general"))
    assert "5,000 characters" in said and "at most 200" in said
    assert "Usage: `/incident start TITLE [--invite @user …]`" in said
    assert len(harness.store.incidents) == 1


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("note {}", "note TEXT"),
        ("timeline add 13:40 {}", "timeline add WHEN TEXT"),
        ("timeline edit 1 {}", "timeline edit N TEXT"),
    ],
)
def test_a_timeline_entry_is_at_most_four_thousand_characters(
    h: Harness, command: str, usage: str
) -> None:
    before = [entry.text for entry in h.incident.timeline]
    said = error_of(h.say("li", command.format("x" * (limits.ENTRY_CHARS + 1))))
    assert "4,001 characters" in said and "at most 4,000" in said and usage in said
    assert [entry.text for entry in h.incident.timeline] == before
    h.say("li", command.format("x" * limits.ENTRY_CHARS))
    assert any(entry.text == "x" * limits.ENTRY_CHARS for entry in h.incident.timeline)


def test_a_section_is_at_most_twenty_thousand_characters_appends_included(h: Harness) -> None:
    said = error_of(h.say("li", "set summary " + "s" * (limits.SECTION_CHARS + 1)))
    assert "at most 20,000" in said and "Usage: `/incident set SECTION TEXT`" in said
    h.say("li", "set summary " + "s" * (limits.SECTION_CHARS - 10))
    said = error_of(h.say("li", "append summary " + "more words"))
    assert "Section `summary` would have 20,002 characters" in said
    assert "Usage: `/incident append SECTION TEXT`" in said
    assert h.incident.section_text("summary") == "s" * (limits.SECTION_CHARS - 10)
    h.say("li", "append summary ok")
    assert (h.incident.section_text("summary") or "").endswith("\n\nok")


def test_an_action_item_and_a_mention_have_limits(h: Harness) -> None:
    said = error_of(h.say("li", "action " + "a" * (limits.ACTION_CHARS + 1)))
    assert "at most 1,000" in said and "action TEXT [@owner]" in said
    long_handle = "b" * (limits.PERSON_CHARS + 1)
    for command in (
        f"role comms @{long_handle}",
        f"action Rotate the keys @{long_handle}",
    ):
        said = error_of(h.say("li", command))
        assert "256 characters long" in said and "at most 255" in said
    said = error_of(h.say("maria", f"start Second --invite @{long_handle}", channel="general"))
    assert "at most 255" in said
    assert h.incident.actions == [] and h.incident.holder(Role.COMMS) is None
    assert len(h.store.incidents) == 1
    h.say("li", f"role comms @{'c' * limits.PERSON_CHARS}")
    assert h.incident.holder(Role.COMMS) == "c" * limits.PERSON_CHARS


def test_a_handle_longer_than_the_limit_is_refused_whoever_writes(h: Harness) -> None:
    said = error_of(h.say("x" * 300, "note hello"))
    assert "a mention or handle may have at most 255" in said


@pytest.mark.parametrize(
    ("when", "says"),
    [
        ("0001-01-01 00:00 +14:00", "0001-01-01 is more than a year ago"),
        ("2024-03-02 12:00", "at most 366 days back"),
        ("9999-12-31 23:59 -14:00", "9999-12-31 is in the future"),
    ],
)
def test_a_back_dated_entry_stays_within_a_year(h: Harness, when: str, says: str) -> None:
    """These once overflowed the date arithmetic: "something went wrong" on Slack."""
    said = error_of(h.say("li", f"timeline add {when} Rotation ran"))
    assert says in said and "Usage: `/incident timeline add WHEN TEXT`" in said
    h.say("li", "timeline add 2024-03-04 12:00 A year ago today")
    assert h.incident.timeline[-1].text == "A year ago today"


def pin(h: Harness, text: str, ref: str = "m1", user: str = "li") -> list[Reply]:
    return h.bot.handle(
        MessageTagged(
            workspace="w", channel=CHANNEL, user=user, message_ref=ref, author="jonas",
            text=text, posted_at=h.clock.now(),
        ),
        platform=h.platform,
    )


def test_a_pin_on_a_forty_thousand_character_message_is_shortened_with_a_mark(
    h: Harness,
) -> None:
    message = "word " * 8_000  # 40,000 characters, Slack's own cap
    replies = pin(h, message)
    assert any(isinstance(reply, Reaction) for reply in replies)
    entry = h.incident.entry_for_message("m1")
    assert entry is not None
    assert len(entry.text) <= limits.ENTRY_CHARS
    assert entry.text.endswith("… [shortened]")
    assert message.startswith(entry.text.removesuffix(" … [shortened]"))
    h.bot.handle(
        MessageEdited(
            workspace="w", channel=CHANNEL, user="jonas", message_ref="m1", text="x" * 50_000
        ),
        platform=h.platform,
    )
    entry = h.incident.entry_for_message("m1")
    assert entry is not None and entry.text.endswith("… [shortened]")
    assert len(entry.text) <= limits.ENTRY_CHARS


def test_a_full_timeline_refuses_people_s_entries_yet_keeps_status_working(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = len(h.incident.timeline)  # declared, commander
    monkeypatch.setattr(limits, "TIMELINE_ENTRIES", stored + 1)
    monkeypatch.setattr(limits, "AUTOMATIC_HEADROOM", 1)
    h.say("li", "note one more")
    said = error_of(h.say("li", "note and another"))
    assert f"holds {stored + 1} timeline entries" in said
    assert "the most one incident may hold" in said
    said = error_of(pin(h, "pinned"))
    assert "the most one incident may hold" in said
    h.say("maria", "status monitoring")  # the bot's own entries have headroom
    assert h.incident.status.value == "monitoring"
    assert "the most one incident may hold" in error_of(h.say("maria", "severity 2"))


def test_an_incident_holds_a_bounded_number_of_action_items(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "ACTIONS", 2)
    h.say("li", "action One")
    h.say("li", "action Two")
    said = error_of(h.say("li", "action Three"))
    assert "has 2 action items, the most one incident may hold" in said
    assert [action.text for action in h.incident.actions] == ["One", "Two"]


BROKEN_MD = """\
# {{ draft.title }}
{{ draft.number / 0 }}
"""
LITE = """\
name = "lite"
title = "Lite"
description = "A layout with a bug in its Markdown."

[[sections]]
id = "summary"
heading = "Summary"
"""


def test_a_draft_that_cannot_be_made_names_its_format_and_the_others_still_work(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "lite"
    folder.mkdir()
    (folder / "template.toml").write_text(LITE)
    (folder / "draft.md.j2").write_text(BROKEN_MD)
    harness = Harness()
    harness.bot._templates = load_registry(tmp_path)
    harness.say("maria", "start Checkout returns 502", channel="general")
    harness.say("maria", "template lite")
    said = error_of(harness.say("maria", "export md"))
    assert said.startswith("The md draft of incident 1 could not be made (ZeroDivisionError)")
    assert "`/incident export html`, `/incident export docx`" in said
    assert "went wrong" not in said.lower()
    for fmt in ("html", "docx"):
        replies = harness.say("maria", f"export {fmt}")
        assert [type(reply) for reply in replies] == [FileUpload]
    replies = harness.say("maria", "close")  # the incident closes; its draft is missing
    assert harness.incident.is_closed
    assert "closed at" in replies[0].text  # type: ignore[union-attr]
    assert "The md draft of incident 1 could not be made" in replies[1].text  # type: ignore[union-attr]
