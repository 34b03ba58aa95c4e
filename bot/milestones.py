"""The milestone commands' replies: setting, moving and clearing a milestone, listing
them with the durations they give, and saying which milestone a status change set.

Times are shown in the incident's zone, with the date when the moments shown fall on
more than one day, like every other listing.
"""

from __future__ import annotations

from datetime import datetime

from bot import commands as c
from bot.domain import (
    STATUS_MILESTONES,
    Incident,
    IncidentError,
    MilestoneKind,
    Status,
)
from bot.listings import local_time, zone_of
from bot.ports import ChatPlatform
from bot.timefmt import format_duration, needs_dates, resolve_when, zone_label


def set_milestone(
    incident: Incident, command: c.SetMilestone, *, by: str, at: datetime, now: datetime
) -> str:
    """Applies `milestone KIND [WHEN]` and says what changed."""
    zone = zone_of(incident)
    moment = (
        at
        if command.when is None
        else resolve_when(command.when, zone=zone, posted_at=at, usage=c.MILESTONE_USAGE)
    )
    kind = command.kind
    conflict = incident.milestone_conflict(kind, moment)
    if conflict is not None:
        shown = [moment, conflict.at]
        with_date = needs_dates(shown, zone)
        relation = "before" if conflict.at > moment else "after"
        raise IncidentError(
            f"{kind.label} at {local_time(incident, moment, with_date)} would be {relation} "
            f"{conflict.kind.label.lower()} ({local_time(incident, conflict.at, with_date)}): "
            "impact starts before anything else and is mitigated before it is resolved. "
            f"Move {conflict.kind.label.lower()} first with "
            f"`milestone {conflict.kind.value} WHEN`.",
            c.MILESTONE_USAGE,
        )
    previous = incident.milestone(kind)
    if previous == moment:
        when = local_time(incident, moment, needs_dates([moment, at], zone))
        return f"{kind.label} is already at {when} {zone_label(zone, moment)}."
    change = incident.set_milestone(kind, moment, by=by, now=now)
    with_date = needs_dates([moment, at, *([previous] if previous else [])], zone)
    when = f"{local_time(incident, moment, with_date)} {zone_label(zone, moment)}"
    if change.previous is None:
        said = f"{kind.label} at {when}."
    else:
        said = (
            f"{kind.label} moved from {local_time(incident, change.previous, with_date)} "
            f"to {when}."
        )
    return said + _durations_sentence(incident)


def clear_milestone(incident: Incident, kind: MilestoneKind) -> str:
    was = incident.clear_milestone(kind)
    zone = zone_of(incident)
    when = local_time(incident, was, needs_dates([was, incident.declared_at], zone))
    return f"{kind.label} cleared (it was {when} {zone_label(zone, was)})."


def milestones_text(platform: ChatPlatform, incident: Incident) -> str:
    zone = zone_of(incident)
    moments = [incident.declared_at, *(m.at for m in incident.milestones)]
    with_date = needs_dates(moments, zone)
    prefix = platform.command_prefix
    lines = [
        f"Milestones of incident {incident.number} "
        f"(times {zone_label(zone, incident.declared_at)}):"
    ]
    rows: list[tuple[datetime | None, str]] = []
    for kind in MilestoneKind:
        moment = incident.milestone(kind)
        if moment is None:
            rows.append((None, f"{kind.label}: not set; `{prefix} milestone {kind.value} [WHEN]`"))
        else:
            rows.append((moment, f"{kind.label}: {local_time(incident, moment, with_date)}"))
    declared = f"Declared: {local_time(incident, incident.declared_at, with_date)} (by `start`)"
    rows.append((incident.declared_at, declared))
    known = sorted((row for row in rows if row[0] is not None), key=lambda row: row[0] or 0)
    lines += [text for _, text in known] + [text for moment, text in rows if moment is None]
    sentence = _durations_sentence(incident).strip()
    lines.append(sentence or "No duration is known yet: it needs when the impact started.")
    return "\n".join(lines)


def status_note(incident: Incident, status: Status, before: datetime | None) -> str:
    """What a status change did to its milestone, for the status reply."""
    kind = STATUS_MILESTONES.get(status)
    if kind is None:
        return ""
    now_at = incident.milestone(kind)
    if now_at is None or now_at == before:
        return ""
    zone = zone_of(incident)
    return (
        f" {kind.label} milestone set to {local_time(incident, now_at)} "
        f"{zone_label(zone, now_at)} (`milestone {kind.value} WHEN` moves it)."
    )


def _durations_sentence(incident: Incident) -> str:
    durations = incident.durations()
    parts = [
        (label, value)
        for label, value in (
            ("impact duration", durations.impact),
            ("time to detect", durations.to_detect),
            ("time to mitigate", durations.to_mitigate),
        )
        if value is not None
    ]
    if not parts:
        return ""
    text = "; ".join(f"{label} {format_duration(value)}" for label, value in parts)
    return f" {text[0].upper()}{text[1:]}."
