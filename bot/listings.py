"""What the bot says when asked to list things: roles, timeline, sections, action
items, templates, reminders and help. Plain text with `code spans`, for every platform.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from bot import commands as c
from bot.domain import Incident, Role
from bot.drafts.templates import Template, TemplateRegistry
from bot.drafts.view import with_names
from bot.ports import ChatPlatform
from bot.reminders import IncidentReminders, recipient
from bot.timefmt import format_moment, needs_dates, zone_label


def zone_of(incident: Incident) -> ZoneInfo:
    """An incident is shown in the zone its workspace had when it was declared."""
    return ZoneInfo(incident.timezone)


def local_time(incident: Incident, moment: datetime, with_date: bool = False) -> str:
    return format_moment(moment, zone_of(incident), with_date=with_date)


def quote(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return f"“{flat}”"
    # A reference cut in half would show as raw text; cut before it instead.
    cut = _PARTIAL_REFERENCE.sub("", flat[: limit - 1])
    return f"“{cut}…”"


_PARTIAL_REFERENCE = re.compile(r"\{@[^{}\s]*$")


def roles_text(platform: ChatPlatform, incident: Incident) -> str:
    lines = [f"Roles in incident {incident.number}:"]
    for role in Role:
        holder = incident.holder(role)
        lines.append(f"{role.label}: {platform.mention(holder) if holder else 'unassigned'}")
    return "\n".join(lines)


def timeline_text(platform: ChatPlatform, incident: Incident) -> str:
    entries = incident.visible_timeline()
    if not entries:
        return f"The timeline of incident {incident.number} is empty."
    with_date = needs_dates([entry.occurred_at for entry in entries], zone_of(incident))
    lines = [
        f"Timeline of incident {incident.number} "
        f"(times {zone_label(zone_of(incident), entries[0].occurred_at)}):"
    ]
    for entry in entries:
        text = with_names(entry.text, platform.display_name)
        who = (
            ""
            if entry.kind.value == "automatic" or not entry.author
            else (f"{platform.display_name(entry.author)}: ")
        )
        when = local_time(incident, entry.occurred_at, with_date)
        lines.append(f"#{entry.seq} {when} {who}{text}")
    lines.append(
        f"Correct it with `{platform.command_prefix} timeline edit N TEXT` or `timeline remove N`."
    )
    return "\n".join(lines)


def sections_text(
    platform: ChatPlatform, incident: Incident, template: Template, *, tag_emoji: str = "📌"
) -> str:
    prefix = platform.command_prefix
    lines = [f"Sections of the `{template.name}` template (✓ written, ○ to be written):"]
    for section in template.sections:
        if section.generated:
            how = {
                "timeline": f"add with {tag_emoji} or `{prefix} note TEXT`",
                "team": f"`{prefix} role ROLE @user`",
                "action-items": f"`{prefix} action TEXT @owner`",
            }.get(section.id, "from the incident's record")
            lines.append(f"· {section.heading} ({section.id}): generated; {how}")
        elif (incident.section_text(section.id) or "").strip():
            lines.append(f"✓ {section.heading} ({section.id})")
        else:
            optional = "" if section.required else " (optional)"
            lines.append(f"○ {section.heading}{optional}: `{prefix} set {section.id} TEXT`")
    for item in template.fields:
        if (incident.section_text(item.id) or "").strip():
            lines.append(f"✓ {item.label} (field {item.id})")
        else:
            lines.append(f"○ {item.label} (field): `{prefix} set {item.id} TEXT`")
    kept = [
        s.section_id
        for s in incident.sections
        if template.section(s.section_id) is None and template.field_named(s.section_id) is None
    ]
    if kept:
        lines.append(f"Also written, not in this template: {', '.join(kept)}.")
    return "\n".join(lines)


def section_saved(
    templates: TemplateRegistry, incident: Incident, section_id: str, what: str
) -> str:
    template = templates.get(incident.template)
    section = template.section(section_id) if template else None
    if section is None:
        return (
            f"Section `{section_id}` {what}. The `{incident.template}` template does not "
            "show it, but it is kept for templates that do."
        )
    return f"Section `{section_id}` ({section.heading}) {what}."


def field_saved(templates: TemplateRegistry, incident: Incident, field_id: str) -> str:
    template = templates.get(incident.template)
    item = template.field_named(field_id) if template else None
    if item is None:
        return (
            f"Field `{field_id}` saved. The `{incident.template}` template does not show it, "
            "but it is kept for templates that do."
        )
    return f"Field `{field_id}` ({item.label}) saved."


def actions_text(platform: ChatPlatform, incident: Incident) -> str:
    if not incident.actions:
        return f"No action items yet; add one with `{platform.command_prefix} action TEXT @owner`."
    lines = [f"Action items of incident {incident.number}:"]
    for action in sorted(incident.actions, key=lambda action: action.seq):
        mark = "x" if action.done_at else " "
        owner = f" ({platform.mention(action.owner)})" if action.owner else ""
        lines.append(f"[{mark}] #{action.seq} {action.text}{owner}")
    return "\n".join(lines)


def templates_text(templates: TemplateRegistry, incident: Incident | None) -> str:
    lines = ["Postmortem templates:"]
    for template in templates.all():
        chosen = incident is not None and incident.template == template.name
        current = " (this incident's)" if chosen else ""
        team = "" if template.origin == "built-in" else f" [team: {template.location}]"
        lines.append(f"{template.name}{current}: {template.description}{team}")
    for problem in templates.errors:
        lines.append(f"Broken template, not loaded: {problem}")
    return "\n".join(lines)


def reminders_text(platform: ChatPlatform, schedule: IncidentReminders, now: datetime) -> str:
    incident = schedule.incident
    prefix = platform.command_prefix
    if schedule.control.off:
        return (
            f"Reminders for incident {incident.number} are off; "
            f"`{prefix} remind on` turns them back on."
        )
    pending = sorted((r for r in schedule.reminders if r.is_pending), key=lambda r: r.due_at)
    if not pending:
        return f"No reminders are scheduled for incident {incident.number}."
    zone = zone_of(incident)
    with_date = needs_dates([now, *(r.due_at for r in pending)], zone)
    lines = [f"Reminders scheduled for incident {incident.number}:"]
    for reminder in pending:
        to = recipient(incident, reminder.kind)
        whom = f" to {platform.mention(to)}" if to else " to the channel"
        retry = f" (retry {reminder.attempts + 1})" if reminder.attempts else ""
        when = local_time(incident, reminder.due_at, with_date)
        lines.append(
            f"{reminder.kind.label}{whom} at {when} {zone_label(zone, reminder.due_at)}{retry}"
        )
    snoozed = schedule.control.snoozed_until
    if snoozed is not None and snoozed > now:
        lines.append(f"Snoozed until {local_time(incident, snoozed, with_date)}.")
    lines.append(
        f"`{prefix} remind snooze 2h` quiets them for a while; `{prefix} remind off` stops them."
    )
    return "\n".join(lines)


def help_text(topic: str | None, prefix: str) -> str:
    if topic is not None:
        usage = c.USAGES[topic]
        forms = "\n".join(f"  {prefix} {form}" for form in usage.forms)
        return f"{topic}: {usage.summary}\n{forms}"
    lines = ["Commands (in an incident's channel unless noted):"]
    for usage in c.USAGES.values():
        lines.append(f"  {prefix} {usage.forms[0]}: {usage.summary}")
    lines.append(f"`{prefix} help COMMAND` shows one command's usage.")
    return "\n".join(lines)
