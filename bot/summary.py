"""An incident as lists and figures across incidents see it: its own fields, its
milestones, its commander and how many action items are open and done, never its
timeline.

The incident list, the insights and the metrics read thousands of these; storage
answers them with a few queries that touch no timeline entry
(`IncidentRepository.summaries`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Durations, Incident, MilestoneKind, Role, Status


@dataclass(frozen=True)
class IncidentSummary:
    workspace: str
    number: int
    title: str
    platform: str
    declared_at: datetime
    severity: int | None = None
    status: Status = Status.INVESTIGATING
    timezone: str = "UTC"
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    milestones: Mapping[MilestoneKind, datetime] = field(default_factory=dict)
    commander: str | None = None  # the current holder's user id
    actions_open: int = 0
    actions_done: int = 0

    @classmethod
    def of(cls, incident: Incident) -> IncidentSummary:
        """The summary of an incident held in memory (what storage computes in SQL)."""
        return cls(
            workspace=incident.workspace,
            number=incident.number,
            title=incident.title,
            platform=incident.platform,
            declared_at=incident.declared_at,
            severity=incident.severity,
            status=incident.status,
            timezone=incident.timezone,
            resolved_at=incident.resolved_at,
            closed_at=incident.closed_at,
            milestones={milestone.kind: milestone.at for milestone in incident.milestones},
            commander=incident.holder(Role.COMMANDER),
            actions_open=sum(1 for action in incident.actions if action.done_at is None),
            actions_done=sum(1 for action in incident.actions if action.done_at is not None),
        )

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def ended_at(self) -> datetime | None:
        return self.resolved_at or self.closed_at

    def milestone(self, kind: MilestoneKind) -> datetime | None:
        return self.milestones.get(kind)

    def durations(self) -> Durations:
        return Durations.between(self.milestones)
