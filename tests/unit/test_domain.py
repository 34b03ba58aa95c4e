"""The incident aggregate's rules, without storage or platforms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import EntryKind, Incident, IncidentError, Role, Status, slugify

T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def declared() -> Incident:
    return Incident.declare(
        workspace="w",
        number=1,
        title="Checkout returns 502",
        platform="fake",
        channel_id="C1",
        channel_name="inc-1-checkout",
        declared_by="maria",
        declared_at=T0,
        captured_at=T0,
        template="standard",
    )


def texts(incident: Incident) -> list[str]:
    return [entry.text for entry in incident.visible_timeline()]


def test_declaring_puts_the_declaration_on_the_timeline() -> None:
    incident = declared()
    [entry] = incident.visible_timeline()
    assert entry.kind is EntryKind.AUTOMATIC
    assert entry.occurred_at == T0
    assert "Checkout returns 502" in entry.text


def test_a_message_tagged_three_times_is_one_entry_at_its_posting_time() -> None:
    incident = declared()
    for tagger in ("maria", "jonas", "maria"):
        incident.tag_message(
            source_ref="m1", author="li", text="LB logs", posted_at=minutes(3), tagger=tagger,
            now=minutes(9),
        )
    tagged = [e for e in incident.visible_timeline() if e.kind is EntryKind.TAGGED]
    assert len(tagged) == 1
    assert tagged[0].occurred_at == minutes(3)
    assert tagged[0].captured_at == minutes(9)
    assert tagged[0].tagged_by == ["maria", "jonas"]


def test_an_entry_stays_while_anyone_still_has_a_pin_on_it() -> None:
    incident = declared()
    for tagger in ("maria", "jonas"):
        incident.tag_message(
            source_ref="m1", author="li", text="x", posted_at=minutes(3), tagger=tagger,
            now=minutes(4),
        )
    assert not incident.untag_message(source_ref="m1", tagger="maria", now=minutes(5))
    assert "x" in texts(incident)
    assert incident.untag_message(source_ref="m1", tagger="jonas", now=minutes(6))
    assert "x" not in texts(incident)
    # Pinning it again brings back the same entry, with the same number.
    outcome = incident.tag_message(
        source_ref="m1", author="li", text="x", posted_at=minutes(3), tagger="li", now=minutes(7)
    )
    assert outcome.created and outcome.entry.seq == 2
    assert "x" in texts(incident)


def test_editing_a_tagged_message_updates_its_entry_and_deleting_removes_it() -> None:
    incident = declared()
    incident.tag_message(
        source_ref="m1", author="li", text="typo", posted_at=minutes(3), tagger="a", now=minutes(3)
    )
    assert incident.message_edited(source_ref="m1", text="fixed", now=minutes(4))
    assert "fixed" in texts(incident) and "typo" not in texts(incident)
    assert not incident.message_edited(source_ref="unknown", text="x", now=minutes(4))
    assert incident.message_deleted(source_ref="m1", now=minutes(5))
    assert "fixed" not in texts(incident)


def test_the_timeline_is_in_order_of_occurrence_not_of_capture() -> None:
    incident = declared()
    incident.add_note("later", author="li", at=minutes(20), now=minutes(20), source_ref=None)
    incident.add_backdated("earlier", author="li", occurred_at=minutes(-22), now=minutes(21))
    assert texts(incident)[0] == "earlier"
    assert texts(incident)[-1] == "later"


def test_a_new_holder_is_a_handover_on_the_timeline() -> None:
    incident = declared()
    assert incident.assign_role(Role.COMMS, "sb", by="maria", at=minutes(1), now=minutes(1)) == (
        "assigned"
    )
    assert incident.assign_role(Role.COMMS, "tb", by="maria", at=minutes(48), now=minutes(48)) == (
        "handover"
    )
    assert incident.holder(Role.COMMS) == "tb"
    assert any("handed over from {@sb} to {@tb}" in t for t in texts(incident))
    with pytest.raises(IncidentError, match="already held"):
        incident.assign_role(Role.COMMS, "tb", by="maria", at=minutes(49), now=minutes(49))


def test_one_person_may_hold_several_roles() -> None:
    incident = declared()
    incident.assign_role(Role.COMMANDER, "maria", by="maria", at=T0, now=T0)
    incident.assign_role(Role.REPORTING, "maria", by="maria", at=T0, now=T0)
    assert incident.current_roles() == {Role.COMMANDER: "maria", Role.REPORTING: "maria"}


def test_severity_and_status_changes_are_recorded() -> None:
    incident = declared()
    incident.set_severity(2, by="m", at=minutes(1), now=minutes(1))
    incident.set_severity(1, by="m", at=minutes(2), now=minutes(2))
    incident.set_status(Status.MONITORING, by="m", at=minutes(3), now=minutes(3))
    assert texts(incident)[1:] == [
        "Severity set to SEV2",
        "Severity changed from SEV2 to SEV1",
        "Status: monitoring",
    ]
    with pytest.raises(IncidentError, match="already SEV1"):
        incident.set_severity(1, by="m", at=minutes(4), now=minutes(4))


def test_closing_resolves_and_a_closed_incident_must_be_reopened_to_change_status() -> None:
    incident = declared()
    incident.close(by="m", at=minutes(40), now=minutes(40))
    assert incident.status is Status.RESOLVED and incident.resolved_at == minutes(40)
    with pytest.raises(IncidentError, match="already closed"):
        incident.close(by="m", at=minutes(41), now=minutes(41))
    with pytest.raises(IncidentError, match="reopen"):
        incident.set_status(Status.MONITORING, by="m", at=minutes(41), now=minutes(41))
    incident.reopen(by="m", at=minutes(42), now=minutes(42))
    assert not incident.is_closed and incident.status is Status.INVESTIGATING
    with pytest.raises(IncidentError, match="nothing to reopen"):
        incident.reopen(by="m", at=minutes(43), now=minutes(43))


def test_removed_entries_are_kept_out_of_sight_not_lost() -> None:
    incident = declared()
    note = incident.add_note("oops", author="li", at=minutes(1), now=minutes(1), source_ref=None)
    incident.remove_entry(note.seq, now=minutes(2))
    assert "oops" not in texts(incident)
    assert any(entry.text == "oops" for entry in incident.timeline)
    with pytest.raises(IncidentError, match=f"no timeline entry #{note.seq}"):
        incident.edit_entry(note.seq, "again", now=minutes(3))


def test_sections_and_action_items() -> None:
    incident = declared()
    incident.set_section("summary", "First.", by="j", now=minutes(1))
    incident.append_section("summary", "Second.", by="j", now=minutes(2))
    assert incident.section_text("summary") == "First.\n\nSecond."
    assert incident.clear_section("summary") and incident.section_text("summary") is None
    action = incident.add_action("Validate chain", owner="li", by="j", now=minutes(3))
    incident.complete_action(action.seq, by="li", now=minutes(4))
    with pytest.raises(IncidentError, match="already done"):
        incident.complete_action(action.seq, by="li", now=minutes(5))
    with pytest.raises(IncidentError, match="no action item #9"):
        incident.complete_action(9, by="li", now=minutes(5))


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Checkout returns 502!", "checkout-returns-502"),
        ("Ærlig talt: DNS", "rlig-talt-dns"),
        ("🔥🔥", "incident"),
        ("a" * 60, "a" * 40),
    ],
)
def test_channel_slugs(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_every_automatic_entry_says_what_kind_of_bookkeeping_it_is() -> None:
    from bot.domain import AutomaticEvent

    incident = declared()
    incident.assign_role(Role.COMMANDER, "maria", by="maria", at=minutes(1), now=minutes(1))
    incident.assign_role(Role.COMMANDER, "li", by="maria", at=minutes(2), now=minutes(2))
    incident.set_severity(2, by="maria", at=minutes(3), now=minutes(3))
    incident.set_severity(1, by="maria", at=minutes(4), now=minutes(4))
    incident.set_status(Status.IDENTIFIED, by="maria", at=minutes(5), now=minutes(5))
    incident.add_note("people's words", author="li", at=minutes(6), now=minutes(6), source_ref=None)
    incident.resolve(by="maria", at=minutes(7), now=minutes(7))
    incident.close(by="maria", at=minutes(8), now=minutes(8))
    incident.reopen(by="maria", at=minutes(9), now=minutes(9))
    assert [entry.event for entry in incident.visible_timeline()] == [
        AutomaticEvent.DECLARED, AutomaticEvent.ROLE, AutomaticEvent.ROLE,
        AutomaticEvent.SEVERITY, AutomaticEvent.SEVERITY, AutomaticEvent.STATUS, None,
        AutomaticEvent.RESOLVED, AutomaticEvent.CLOSED, AutomaticEvent.REOPENED,
    ]


def test_appending_a_list_item_continues_the_list() -> None:
    incident = declared()
    incident.set_section("impact", "- API down", by="li", now=minutes(1))
    incident.append_section("impact", "- web slow", by="li", now=minutes(2))
    incident.append_section("impact", "Both recovered by 15:00.", by="li", now=minutes(3))
    incident.append_section("impact", "1. first", by="li", now=minutes(4))
    assert incident.section_text("impact") == (
        "- API down\n- web slow\n\nBoth recovered by 15:00.\n\n1. first"
    )
