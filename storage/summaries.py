"""Reads across incidents and of an incident's state that load no aggregate and no
timeline entry: the rows are plain tuples, never mapped objects.

- Incident summaries (bot/summary.py) in four queries, whatever the number of incidents
  or entries: the incidents' own columns, their milestones, their current commanders,
  and their action items counted in SQL.
- An incident's change marker in one query, for the live page's poll.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, func, select
from sqlalchemy.orm import Session

from bot.domain import MilestoneKind, Role
from bot.summary import IncidentSummary
from storage.orm import (
    action_items,
    incidents,
    milestones,
    role_assignments,
    section_texts,
    timeline_entries,
)


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


def change_marker(session: Session, workspace: str, number: int) -> tuple[Any, ...] | None:
    """Counts and latest moments that move with every change a reader can see: an entry
    added (count), edited (latest edit), removed or shown again (count and latest
    removal); a role handed over, an action added or done, a section written or cleared,
    a milestone set, moved or cleared; the incident's own fields.

    One statement. The entries are aggregated over the (incident_id, seq) index range
    of this incident, reading two columns of each row: no text, no mapped object. The
    other tables hold a handful of rows per incident.
    """
    entries = timeline_entries
    row = session.execute(
        select(
            incidents.c.title,
            incidents.c.status,
            incidents.c.severity,
            incidents.c.template,
            incidents.c.resolved_at,
            incidents.c.closed_at,
            func.count(entries.c.id),
            func.count(entries.c.removed_at),
            func.max(entries.c.edited_at),
            func.max(entries.c.removed_at),
            _per_incident(role_assignments, func.count()),
            _per_incident(role_assignments, func.count(role_assignments.c.relieved_at)),
            _per_incident(action_items, func.count()),
            _per_incident(action_items, func.count(action_items.c.done_at)),
            _per_incident(section_texts, func.count()),
            _per_incident(section_texts, func.max(section_texts.c.updated_at)),
            _per_incident(milestones, func.count()),
            _per_incident(milestones, func.max(milestones.c.set_at)),
        )
        .select_from(incidents)
        .outerjoin(entries, entries.c.incident_id == incidents.c.id)
        .where(incidents.c.workspace == workspace, incidents.c.number == number)
        .group_by(incidents.c.id)
    ).one_or_none()
    return None if row is None else tuple(row)


def _per_incident(table: Table, aggregate: ColumnElement[Any]) -> Any:
    return select(aggregate).where(table.c.incident_id == incidents.c.id).scalar_subquery()
