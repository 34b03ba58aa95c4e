"""What the incident list shows and how it is filtered: rules for every reader (the web
pages, and any other face), kept out of the adapter that draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from bot.domain import EntryKind, Incident, MilestoneKind, Role, Status, TimelineEntry
from bot.drafts.view import with_names
from bot.summary import IncidentSummary
from bot.timefmt import format_duration, format_moment, zone_label

NameOf = Callable[[str], str]


@dataclass(frozen=True)
class IncidentFilter:
    """What a reader asked the list for; empty fields match everything."""

    status: str | None = None  # a Status value, or "open" / "closed"
    severity: int | None = None
    query: str = ""  # words that must all appear in the title, any case

    def matches(self, incident: IncidentSummary) -> bool:
        if self.status == "open" and incident.is_closed:
            return False
        if self.status == "closed" and not incident.is_closed:
            return False
        if self.status in _STATUS_VALUES and incident.status.value != self.status:
            return False
        if self.severity is not None and incident.severity != self.severity:
            return False
        title = incident.title.casefold()
        return all(word in title for word in self.query.casefold().split())


_STATUS_VALUES = frozenset(status.value for status in Status)
STATUS_CHOICES: tuple[str, ...] = ("open", "closed", *(status.value for status in Status))


def read_filter(
    *, status: str | None, severity: str | None, query: str | None
) -> tuple[IncidentFilter, list[str]]:
    """A filter from what a reader typed, and what could not be understood (said back)."""
    problems: list[str] = []
    status = (status or "").strip().lower() or None
    if status is not None and status not in STATUS_CHOICES:
        problems.append(f"Status `{status}` is not one of {', '.join(STATUS_CHOICES)}.")
        status = None
    level: int | None = None
    severity_text = (severity or "").strip().upper().removeprefix("SEV")
    if severity_text:
        if severity_text in ("1", "2", "3", "4"):
            level = int(severity_text)
        else:
            problems.append(f"Severity `{severity}` is not 1, 2, 3 or 4.")
    return IncidentFilter(status=status, severity=level, query=(query or "")[:200]), problems


@dataclass(frozen=True)
class IncidentRow:
    workspace: str
    number: int
    title: str
    severity: str
    status: str
    closed: bool
    declared: str
    declared_at: datetime
    duration: str | None
    commander: str | None


def listed(incidents: Iterable[IncidentSummary], chosen: IncidentFilter) -> list[IncidentSummary]:
    """The incidents the filter lets through, newest first."""
    kept = [incident for incident in incidents if chosen.matches(incident)]
    kept.sort(key=lambda incident: (incident.declared_at, incident.number), reverse=True)
    return kept


def incident_rows(
    incidents: Iterable[IncidentSummary],
    chosen: IncidentFilter,
    names_for: Callable[[IncidentSummary], NameOf],
) -> list[IncidentRow]:
    """The incidents the filter lets through, newest first; `names_for` gives how each
    incident's people are named (they live on its platform)."""
    return [_row(incident, names_for(incident)) for incident in listed(incidents, chosen)]


def _row(incident: IncidentSummary, name_of: NameOf) -> IncidentRow:
    zone = zone_of(incident)
    commander = incident.commander
    return IncidentRow(
        workspace=incident.workspace,
        number=incident.number,
        title=incident.title,
        severity=severity_label(incident),
        status=incident.status.value,
        closed=incident.is_closed,
        declared=moment_label(incident.declared_at, zone),
        declared_at=incident.declared_at,
        duration=impact_duration(incident),
        commander=name_of(commander) if commander else None,
    )


def impact_duration(incident: Incident | IncidentSummary) -> str | None:
    """How long the impact lasted, from the milestones; None while they cannot say
    (declared to resolved is when people talked, not how long customers were hurt)."""
    impact = incident.durations().impact
    return None if impact is None else format_duration(impact)


def severity_label(incident: Incident | IncidentSummary) -> str:
    return f"SEV{incident.severity}" if incident.severity else "not set"


def zone_of(incident: Incident | IncidentSummary) -> tzinfo:
    return ZoneInfo(incident.timezone)


def moment_label(moment: datetime, zone: tzinfo) -> str:
    """`2025-03-04 14:02 CET`: with the abbreviation in force at that moment."""
    label = zone_label(zone, moment)
    short = label.split("(")[-1].rstrip(")") if "(" in label else label
    return f"{format_moment(moment, zone, with_date=True)} {short}"


@dataclass(frozen=True)
class TimelineLine:
    seq: int
    when: str
    occurred_at: datetime
    kind: str
    who: str | None
    text: str
    automatic: bool


def timeline_lines(incident: Incident, name_of: NameOf) -> list[TimelineLine]:
    """The whole visible timeline, in time order, kinds told apart."""
    zone = zone_of(incident)
    return [_line(entry, zone, name_of) for entry in incident.visible_timeline()]


def _line(entry: TimelineEntry, zone: tzinfo, name_of: NameOf) -> TimelineLine:
    automatic = entry.kind is EntryKind.AUTOMATIC  # the bot's bookkeeping
    return TimelineLine(
        seq=entry.seq,
        when=moment_label(entry.occurred_at, zone),
        occurred_at=entry.occurred_at,
        kind=entry.kind.value,
        who=None
        if automatic or entry.author is None or entry.kind is EntryKind.BACKDATED
        else name_of(entry.author),
        text=with_names(entry.text, name_of) if automatic else entry.text,
        automatic=automatic,
    )


@dataclass(frozen=True)
class RoleLine:
    title: str
    holder: str | None
    since: str | None
    earlier: tuple[tuple[str, str, str], ...]  # (who, from, until) for each handover


def role_lines(incident: Incident, name_of: NameOf) -> list[RoleLine]:
    zone = zone_of(incident)
    lines: list[RoleLine] = []
    for role in Role:
        assignments = [a for a in incident.roles if a.role is role]
        current = incident.current_assignment(role)
        lines.append(
            RoleLine(
                title=role.label,
                holder=name_of(current.user) if current else None,
                since=moment_label(current.assigned_at, zone) if current else None,
                earlier=tuple(
                    (
                        name_of(a.user),
                        moment_label(a.assigned_at, zone),
                        moment_label(a.relieved_at, zone),
                    )
                    for a in assignments
                    if a.relieved_at is not None
                ),
            )
        )
    return lines


def span(incident: Incident, now: datetime) -> tuple[datetime, datetime]:
    """The stretch of time a picture of the incident covers: from its earliest moment to
    its end (or now, while it is open)."""
    moments: Sequence[datetime] = [
        incident.declared_at,
        *(entry.occurred_at for entry in incident.visible_timeline()),
        *(milestone.at for milestone in incident.milestones),
    ]
    start = min(moments)
    end = incident.ended_at() or now
    end = max(end, *moments)
    return start, end


@dataclass(frozen=True)
class MilestoneLine:
    label: str
    when: str | None  # None: not recorded yet


def milestone_lines(incident: Incident) -> list[MilestoneLine]:
    """Declared, then each milestone in its order, recorded or not."""
    zone = zone_of(incident)
    lines = [MilestoneLine("Declared", moment_label(incident.declared_at, zone))]
    for kind in MilestoneKind:
        moment = incident.milestone(kind)
        lines.append(MilestoneLine(kind.label, moment_label(moment, zone) if moment else None))
    return lines


def duration_lines(incident: Incident) -> list[tuple[str, str]]:
    """The durations the milestones give; the unknown ones are left out."""
    known = incident.durations()
    named = (
        ("Impact duration", known.impact),
        ("Time to detect", known.to_detect),
        ("Time to mitigate", known.to_mitigate),
    )
    return [(name, format_duration(value)) for name, value in named if value is not None]
