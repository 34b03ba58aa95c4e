"""`milestone`, `milestones`, status changes and fields through the service, with fakes:
what is stored and what people are told."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from test_service import CHANNEL, Harness

from bot.domain import MilestoneKind
from bot.replies import FileUpload, Message

# Harness's clock starts at 2025-03-04 13:02 UTC, 14:02 in Europe/Oslo (CET).


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.say("maria", "start Checkout returns 502", channel="general")
    return harness


def error(h: Harness, user: str, text: str) -> Message:
    [reply] = h.say(user, text)
    assert isinstance(reply, Message) and reply.is_error, reply
    return reply


def test_a_milestone_is_set_at_the_time_written_and_moved_when_set_again(h: Harness) -> None:
    assert h.text("li", "milestone started 13:40") == (
        "Impact started at 13:40 Europe/Oslo (CET)."
    )
    assert h.incident.milestone(MilestoneKind.STARTED) == datetime(2025, 3, 4, 12, 40, tzinfo=UTC)
    assert h.text("li", "milestone impact 13:35") == (
        "Impact started moved from 13:40 to 13:35 Europe/Oslo (CET)."
    )
    assert h.text("li", "milestone impact 13:35") == (
        "Impact started is already at 13:35 Europe/Oslo (CET)."
    )


def test_without_a_time_the_milestone_is_the_message_time(h: Harness) -> None:
    h.text("li", "milestone started 13:40")
    h.later(10)
    said = h.text("li", "milestone detected")
    assert said == "Detected at 14:12 Europe/Oslo (CET). Time to detect 32 min."
    assert h.incident.milestone(MilestoneKind.DETECTED) == h.clock.now()


def test_a_future_time_is_refused_like_timeline_add(h: Harness) -> None:
    # A time of day alone is the latest one at or before the message, as `timeline add`
    # reads it; with a date it can lie ahead, and that is refused.
    reply = error(h, "li", "milestone mitigated 2025-03-04 15:30")
    assert "2025-03-04 15:30 is in the future; `milestone` records what already happened." in (
        reply.text
    )
    assert "Usage: `/incident milestone KIND [WHEN]`" in reply.text
    assert h.incident.milestones == []


def test_a_contradicting_milestone_is_refused_with_what_to_move(h: Harness) -> None:
    h.text("li", "milestone mitigated 13:50")
    reply = error(h, "li", "milestone started 13:55")
    assert reply.text.startswith(
        "Impact started at 13:55 would be after mitigated (13:50): impact starts before "
        "anything else"
    )
    assert "`milestone mitigated WHEN`" in reply.text
    assert h.incident.milestone(MilestoneKind.STARTED) is None


def test_status_changes_set_and_announce_their_milestones(h: Harness) -> None:
    h.later(5)
    assert h.text("maria", "status identified") == (
        "Status: identified. Identified milestone set to 14:07 Europe/Oslo (CET) "
        "(`milestone identified WHEN` moves it)."
    )
    h.text("li", "milestone mitigated 14:06")
    h.later(5)
    # Already set by a person: the status change leaves it where it is, and says nothing.
    assert h.text("maria", "status monitoring") == "Status: monitoring."
    assert h.incident.milestone(MilestoneKind.MITIGATED) == datetime(
        2025, 3, 4, 13, 6, tzinfo=UTC
    )
    h.later(5)
    assert h.text("maria", "resolve") == (
        "Incident 1 resolved at 14:17. Resolved milestone set to 14:17 Europe/Oslo (CET) "
        "(`milestone resolved WHEN` moves it)."
    )
    assert h.text("maria", "reopen") == (
        "Incident 1 reopened: status investigating. The resolved milestone (14:17) is "
        "cleared; resolving again sets it."
    )
    assert h.incident.milestone(MilestoneKind.RESOLVED) is None


def test_milestones_lists_them_in_time_order_with_the_durations(h: Harness) -> None:
    assert h.text("maria", "milestones").splitlines() == [
        "Milestones of incident 1 (times Europe/Oslo (CET)):",
        "Declared: 14:02 (by `start`)",
        "Impact started: not set; `/incident milestone started [WHEN]`",
        "Detected: not set; `/incident milestone detected [WHEN]`",
        "Identified: not set; `/incident milestone identified [WHEN]`",
        "Mitigated: not set; `/incident milestone mitigated [WHEN]`",
        "Resolved: not set; `/incident milestone resolved [WHEN]`",
        "No duration is known yet: it needs when the impact started.",
    ]
    h.text("li", "milestone started 2025-03-03 23:50")
    h.text("li", "milestone detected 13:55")
    h.text("li", "milestone mitigated 14:01")
    listing = h.text("maria", "milestone").splitlines()
    assert listing[1:5] == [
        "Impact started: 2025-03-03 23:50",
        "Detected: 2025-03-04 13:55",
        "Mitigated: 2025-03-04 14:01",
        "Declared: 2025-03-04 14:02 (by `start`)",
    ]
    assert listing[-1] == (
        "Impact duration 14 h 11 min; time to detect 14 h 5 min; time to mitigate 14 h 11 min."
    )


def test_clearing_a_milestone(h: Harness) -> None:
    h.text("li", "milestone started 13:40")
    assert h.text("li", "milestone clear impact") == (
        "Impact started cleared (it was 13:40 Europe/Oslo (CET))."
    )
    reply = error(h, "li", "milestone clear impact")
    assert "Impact started is not set; there is nothing to clear." in reply.text


def test_fields_are_set_listed_and_cleared(h: Harness) -> None:
    assert h.text("li", "set customers-impacted All") == (
        "Field `customers-impacted` (Customers Impacted) saved."
    )
    sections = h.text("li", "sections")
    assert "✓ Customers Impacted (field customers-impacted)" in sections
    assert "○ Support Cases Raised (field): `/incident set support-cases TEXT`" in sections
    assert "Also written" not in sections
    assert h.text("li", "clear customers-impacted") == "Field `customers-impacted` cleared."
    reply = error(h, "li", "clear customers-impacted")
    assert "Field `customers-impacted` is already empty." in reply.text
    reply = error(h, "li", "append support-cases 2")
    assert "is a field, one cell of a table" in reply.text


def test_a_field_outside_the_incidents_template_is_kept_for_templates_that_have_it(
    h: Harness,
) -> None:
    h.text("maria", "template retro")
    said = h.text("li", "set support-cases 4")
    assert said == (
        "Field `support-cases` saved. The `retro` template does not show it, but it is "
        "kept for templates that do."
    )
    assert "Also written, not in this template: support-cases." in h.text("li", "sections")


def test_the_draft_shows_fields_and_durations_only_when_known(h: Harness) -> None:
    h.text("li", "set customers-impacted All | every region")
    h.later(30)
    h.text("maria", "resolve")
    draft = export(h)
    assert "| Customers Impacted | Support Cases Raised |" in draft
    assert "| All \\| every region |  |" in draft  # a pipe stays text; empty cell stays empty
    # Marked as an empty section is: the label, its guidance, the command that fills it.
    mark = draft[draft.index("Support Cases Raised: How many support cases") :]
    assert "/incident set support-cases TEXT" in mark[:200]
    # Declared 14:02, resolved 14:32: yet nobody said when the impact started.
    assert "30 min" not in draft and "duration" not in draft.lower()
    h.text("li", "milestone started 13:50")
    draft = export(h)
    assert "Impact duration: 42 min." in draft
    assert "Time to detect" not in draft and "Time to mitigate" not in draft


def export(h: Harness) -> str:
    replies = h.say("maria", "export")
    [upload] = [r for r in replies if isinstance(r, FileUpload)]
    return upload.content.decode()


def test_milestone_needs_an_incident_channel(h: Harness) -> None:
    [reply] = h.say("maria", "milestone started", channel="general")
    assert isinstance(reply, Message) and "works in an incident's channel" in reply.text
    assert CHANNEL != "general"
