"""Incident summaries (bot/summary.py) in four queries, whatever the number of incidents
or entries: the incidents' own columns, their milestones, their current commanders, and
their action items counted in SQL. No timeline entry is read and no aggregate is
loaded: the rows are plain tuples, never mapped objects.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot.domain import MilestoneKind, Role
from bot.summary import IncidentSummary
from storage.orm import action_items, incidents, milestones, role_assignments


def incident_summaries(session: Session, workspace: str | None = None) -> list[IncidentSummary]:
    main = select(
        incidents.c.id,
        incidents.c.workspace,
        incidents.c.number,
        incidents.c.title,
        incidents.c.platform,
        incidents.c.declared_at,
        incidents.c.severity,
        incidents.c.status,
        incidents.c.timezone,
        incidents.c.resolved_at,
        incidents.c.closed_at,
    ).order_by(incidents.c.workspace, incidents.c.number)
    if workspace is not None:
        main = main.where(incidents.c.workspace == workspace)
    found = session.execute(main).all()
    if not found:
        return []

    marks: dict[int, dict[MilestoneKind, datetime]] = defaultdict(dict)
    for incident_id, kind, at in session.execute(
        _scoped(select(milestones.c.incident_id, milestones.c.kind, milestones.c.at), workspace)
    ):
        marks[incident_id][kind] = at

    commanders: dict[int, str] = {}
    for incident_id, user in session.execute(
        _scoped(
            select(role_assignments.c.incident_id, role_assignments.c.user_id).where(
                role_assignments.c.role == Role.COMMANDER,
                role_assignments.c.relieved_at.is_(None),
            ),
            workspace,
        )
    ):
        commanders[incident_id] = user

    actions: dict[int, tuple[int, int]] = {}
    for incident_id, total, done in session.execute(
        _scoped(
            select(
                action_items.c.incident_id,
                func.count(),
                func.count(action_items.c.done_at),
            ).group_by(action_items.c.incident_id),
            workspace,
        )
    ):
        actions[incident_id] = (total - done, done)

    return [
        IncidentSummary(
            workspace=row.workspace,
            number=row.number,
            title=row.title,
            platform=row.platform,
            declared_at=row.declared_at,
            severity=row.severity,
            status=row.status,
            timezone=row.timezone,
            resolved_at=row.resolved_at,
            closed_at=row.closed_at,
            milestones=marks.get(row.id, {}),
            commander=commanders.get(row.id),
            actions_open=actions.get(row.id, (0, 0))[0],
            actions_done=actions.get(row.id, (0, 0))[1],
        )
        for row in found
    ]


def _scoped(query: Select[Any], workspace: str | None) -> Select[Any]:
    """The rows of one workspace's incidents only, when one is named."""
    if workspace is None:
        return query
    table = query.get_final_froms()[0]
    return query.join(incidents, incidents.c.id == table.c.incident_id).where(
        incidents.c.workspace == workspace
    )
