"""Numbers across incidents: how many, how bad, how fast they were detected and
mitigated, and what is left to do. Pure: incident summaries in (bot/summary.py: no
timeline needed), figures out, for the insights page, its CSV, and the metrics endpoint
alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from math import ceil

from bot.summary import IncidentSummary

SEVERITY_NAMES = ("SEV1", "SEV2", "SEV3", "SEV4", "none")


def severity_name(incident: IncidentSummary) -> str:
    return f"SEV{incident.severity}" if incident.severity else "none"


@dataclass(frozen=True)
class Durations:
    """Seconds, where the incident's milestones say; None where they cannot."""

    time_to_detect: float | None = None
    time_to_mitigate: float | None = None
    impact: float | None = None


def durations_of(incident: IncidentSummary) -> Durations:
    """In seconds, from the incident's milestones (see `Incident.durations`)."""
    known = incident.durations()
    return Durations(
        time_to_detect=_seconds(known.to_detect),
        time_to_mitigate=_seconds(known.to_mitigate),
        impact=_seconds(known.impact),
    )


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


@dataclass(frozen=True)
class RecordSummary:
    declared_by_severity: dict[str, int]
    open_by_severity: dict[str, int]
    time_to_detect: list[float] = field(default_factory=list)
    time_to_mitigate: list[float] = field(default_factory=list)
    impact_duration: list[float] = field(default_factory=list)


def record_summary(incidents: Iterable[IncidentSummary], now: datetime) -> RecordSummary:
    declared: Counter[str] = Counter()
    open_now: Counter[str] = Counter()
    detect: list[float] = []
    mitigate: list[float] = []
    impact: list[float] = []
    for incident in incidents:
        name = severity_name(incident)
        declared[name] += 1
        if not incident.is_closed:
            open_now[name] += 1
            continue
        durations = durations_of(incident)
        if durations.time_to_detect is not None:
            detect.append(durations.time_to_detect)
        if durations.time_to_mitigate is not None:
            mitigate.append(durations.time_to_mitigate)
        if durations.impact is not None:
            impact.append(durations.impact)
    return RecordSummary(
        declared_by_severity={name: declared.get(name, 0) for name in SEVERITY_NAMES},
        open_by_severity={name: open_now.get(name, 0) for name in SEVERITY_NAMES},
        time_to_detect=detect,
        time_to_mitigate=mitigate,
        impact_duration=impact,
    )


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (the value a reader can find in the list); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Period:
    start: date
    label: str
    counts: dict[str, int]  # severity name -> incidents declared in the period

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def periods(
    incidents: Iterable[IncidentSummary], *, by: str
) -> list[Period]:
    """Incidents declared per ISO week (`by="week"`) or calendar month, by severity,
    from the first period with an incident to the last, empty periods included."""
    if by not in ("week", "month"):
        raise ValueError(f"periods by week or month, not {by!r}")
    counted: dict[date, Counter[str]] = {}
    for incident in incidents:
        day = incident.declared_at.date()
        start = day - timedelta(days=day.weekday()) if by == "week" else day.replace(day=1)
        counted.setdefault(start, Counter())[severity_name(incident)] += 1
    if not counted:
        return []
    result: list[Period] = []
    cursor, last = min(counted), max(counted)
    while cursor <= last:
        counts = counted.get(cursor, Counter())
        label = (
            f"{cursor.isocalendar().year}-W{cursor.isocalendar().week:02d}"
            if by == "week"
            else f"{cursor:%Y-%m}"
        )
        result.append(Period(cursor, label, {n: counts.get(n, 0) for n in SEVERITY_NAMES}))
        cursor = cursor + timedelta(days=7) if by == "week" else _next_month(cursor)
    return result


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class DurationStats:
    severity: str
    count: int
    median: float | None
    p90: float | None


def duration_stats(incidents: Iterable[IncidentSummary], measure: str) -> list[DurationStats]:
    """Median and p90 of one measure (`time_to_detect`, `time_to_mitigate`, `impact`)
    per severity, over closed incidents whose milestones give it."""
    by_severity: dict[str, list[float]] = {name: [] for name in SEVERITY_NAMES}
    for incident in incidents:
        if not incident.is_closed:
            continue
        value = getattr(durations_of(incident), measure)
        if value is not None:
            by_severity[severity_name(incident)].append(value)
    return [
        DurationStats(name, len(values), percentile(values, 0.5), percentile(values, 0.9))
        for name, values in by_severity.items()
    ]


@dataclass(frozen=True)
class ActionCounts:
    open: int
    done: int


def action_counts(incidents: Iterable[IncidentSummary]) -> ActionCounts:
    open_count = done = 0
    for incident in incidents:
        open_count += incident.actions_open
        done += incident.actions_done
    return ActionCounts(open=open_count, done=done)
