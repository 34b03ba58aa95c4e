"""Milestones in the aggregate: set, moved, cleared, set by status changes, kept in a
sensible order, and the durations they give (and refuse to guess)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import Durations, Incident, IncidentError, MilestoneKind, Role, Status

T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)
STARTED, DETECTED = MilestoneKind.STARTED, MilestoneKind.DETECTED
IDENTIFIED = MilestoneKind.IDENTIFIED
MITIGATED, RESOLVED = MilestoneKind.MITIGATED, MilestoneKind.RESOLVED


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def declared() -> Incident:
    return Incident.declare(
        workspace="w", number=1, title="Checkout returns 502", platform="fake",
        channel_id="C1", channel_name="inc-1-checkout", declared_by="maria",
        declared_at=T0, captured_at=T0, template="standard",
    )


def test_without_the_impact_start_no_duration_is_known() -> None:
    incident = declared()
    incident.set_milestone(DETECTED, minutes(-5), by="li", now=minutes(1))
    incident.set_status(Status.MONITORING, by="maria", at=minutes(20), now=minutes(20))
    incident.resolve(by="maria", at=minutes(95), now=minutes(95))
    # Declared -> resolved is 1 h 35 min, but nobody said when customers started to hurt.
    assert incident.durations() == Durations(None, None, None)


def test_durations_come_from_the_milestones() -> None:
    incident = declared()
    incident.set_milestone(STARTED, minutes(-60), by="li", now=minutes(1))
    assert incident.durations() == Durations(None, None, None)
    incident.resolve(by="maria", at=minutes(30), now=minutes(30))
    # Resolved stands in for the impact's end only while mitigation is unknown.
    assert incident.durations() == Durations(timedelta(minutes=90), None, None)
    incident.set_milestone(DETECTED, minutes(-45), by="li", now=minutes(31))
    incident.set_milestone(MITIGATED, minutes(10), by="li", now=minutes(32))
    assert incident.durations() == Durations(
        impact=timedelta(minutes=70),
        to_detect=timedelta(minutes=15),
        to_mitigate=timedelta(minutes=70),
    )


def test_setting_again_moves_the_milestone_and_says_where_it_was() -> None:
    incident = declared()
    first = incident.set_milestone(STARTED, minutes(-30), by="li", now=minutes(1))
    assert first.previous is None
    moved = incident.set_milestone(STARTED, minutes(-40), by="jonas", now=minutes(2))
    assert moved.previous == minutes(-30) and moved.at == minutes(-40)
    assert incident.milestone(STARTED) == minutes(-40)
    [record] = incident.milestones
    assert (record.set_by, record.set_at) == ("jonas", minutes(2))


def test_status_changes_set_their_milestone_only_when_it_is_not_set() -> None:
    incident = declared()
    incident.set_milestone(IDENTIFIED, minutes(3), by="li", now=minutes(4))
    incident.set_status(Status.IDENTIFIED, by="maria", at=minutes(5), now=minutes(5))
    assert incident.milestone(IDENTIFIED) == minutes(3)  # what a person wrote wins
    incident.set_status(Status.MONITORING, by="maria", at=minutes(20), now=minutes(20))
    assert incident.milestone(MITIGATED) == minutes(20)
    incident.set_status(Status.INVESTIGATING, by="maria", at=minutes(25), now=minutes(25))
    incident.set_status(Status.MONITORING, by="maria", at=minutes(30), now=minutes(30))
    assert incident.milestone(MITIGATED) == minutes(20)  # the first mitigation stands
    incident.set_status(Status.RESOLVED, by="maria", at=minutes(40), now=minutes(40))
    assert incident.milestone(RESOLVED) == minutes(40)


def test_closing_an_unresolved_incident_resolves_it_and_reopening_clears_resolved() -> None:
    incident = declared()
    incident.close(by="maria", at=minutes(50), now=minutes(50))
    assert incident.milestone(RESOLVED) == minutes(50)
    incident.reopen(by="maria", at=minutes(60), now=minutes(60))
    assert incident.milestone(RESOLVED) is None
    incident.resolve(by="maria", at=minutes(90), now=minutes(90))
    assert incident.milestone(RESOLVED) == minutes(90)


def test_impact_cannot_start_after_what_followed_it() -> None:
    incident = declared()
    incident.set_milestone(MITIGATED, minutes(10), by="li", now=minutes(11))
    with pytest.raises(IncidentError, match="contradicts mitigated"):
        incident.set_milestone(STARTED, minutes(12), by="li", now=minutes(13))
    assert incident.milestone_conflict(STARTED, minutes(12)) is not None
    incident.set_milestone(RESOLVED, minutes(30), by="li", now=minutes(31))
    assert incident.milestone_conflict(MITIGATED, minutes(31)) is not None
    # Detection after the impact ended is allowed: some outages are found in the logs.
    incident.set_milestone(STARTED, minutes(-10), by="li", now=minutes(32))
    incident.set_milestone(DETECTED, minutes(20), by="li", now=minutes(33))
    assert incident.durations().to_detect == timedelta(minutes=30)


def test_a_status_change_that_would_contradict_a_milestone_sets_nothing() -> None:
    incident = declared()
    incident.set_milestone(RESOLVED, minutes(5), by="li", now=minutes(6))
    incident.set_status(Status.MONITORING, by="maria", at=minutes(10), now=minutes(10))
    assert incident.milestone(MITIGATED) is None
    assert incident.status is Status.MONITORING


def test_clearing_a_milestone() -> None:
    incident = declared()
    incident.set_milestone(STARTED, minutes(-5), by="li", now=minutes(1))
    assert incident.clear_milestone(STARTED) == minutes(-5)
    assert incident.milestones == []
    with pytest.raises(IncidentError, match="Impact started is not set"):
        incident.clear_milestone(STARTED)


def test_milestones_are_not_timeline_entries() -> None:
    incident = declared()
    incident.assign_role(Role.COMMANDER, "maria", by="maria", at=T0, now=T0)
    before = len(incident.timeline)
    incident.set_milestone(STARTED, minutes(-5), by="li", now=minutes(1))
    assert len(incident.timeline) == before
