"""A picture of an incident along time: marks for what happened, bars for who held
which role. Only numbers are computed here; the page template draws the SVG, so every
text in it passes through Jinja's autoescape like the rest of the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot import overview
from bot.domain import Incident, MilestoneKind, Role

WIDTH = 1000.0
LEFT = 130.0  # room for the role names
RIGHT = 20.0


@dataclass(frozen=True)
class Mark:
    x: float
    label: str  # the tooltip: time and text
    kind: str


@dataclass(frozen=True)
class Bar:
    row: int
    x: float
    width: float
    label: str


@dataclass(frozen=True)
class Picture:
    width: float
    height: float
    marks: tuple[Mark, ...]
    milestones: tuple[Mark, ...]
    bars: tuple[Bar, ...]
    rows: tuple[str, ...]
    start_label: str
    end_label: str
    axis_y: float


def incident_picture(
    incident: Incident,
    lines: list[overview.TimelineLine],
    now: datetime,
    name_of: overview.NameOf,
) -> Picture:
    start, end = overview.span(incident, now)
    seconds = max((end - start).total_seconds(), 60.0)
    usable = WIDTH - LEFT - RIGHT

    def x_of(moment: datetime) -> float:
        return round(LEFT + usable * (moment - start).total_seconds() / seconds, 1)

    zone = overview.zone_of(incident)
    marks = tuple(
        Mark(x=x_of(line.occurred_at), label=f"{line.when}: {line.text[:120]}", kind=line.kind)
        for line in lines
        if not line.automatic
    )
    milestones = [Mark(x=x_of(incident.declared_at), label="declared", kind="declared")]
    for kind in MilestoneKind:
        moment = incident.milestone(kind)
        if moment is not None:
            milestones.append(Mark(x=x_of(moment), label=kind.label.lower(), kind=kind.value))
    rows = tuple(role.label for role in Role)
    bars: list[Bar] = []
    for row, role in enumerate(Role):
        for assignment in (a for a in incident.roles if a.role is role):
            until = assignment.relieved_at or end
            left = x_of(assignment.assigned_at)
            bars.append(
                Bar(
                    row=row,
                    x=left,
                    width=round(max(x_of(until) - left, 2.0), 1),
                    label=f"{role.label}: {name_of(assignment.user)}",
                )
            )
    axis_y = 40.0 + 22.0 * len(rows)
    return Picture(
        width=WIDTH,
        height=axis_y + 30.0,
        marks=marks,
        milestones=tuple(milestones),
        bars=tuple(bars),
        rows=rows,
        start_label=overview.moment_label(start, zone),
        end_label=overview.moment_label(end, zone),
        axis_y=axis_y,
    )
