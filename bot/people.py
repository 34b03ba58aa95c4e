"""People's display names, as the bot last saw them on their platform.

Adapters learn names while they work (Slack's users.info, Matrix member state, console
handles) and tell the core when one is new or has changed; the core keeps them per
platform and workspace, so a draft or `show` rendered later, from the command line
with no platform connection, names people rather than printing `U0123…` or
`@bob:example.org`.
"""

from __future__ import annotations

from bot.domain import Incident
from bot.mentions import users_in_all

NAME_LIMIT = 255  # characters kept of a display name (the column's width)


def people_of(incident: Incident) -> list[str]:
    """Every user id the incident names, in its fields or inside its free text."""
    found: dict[str, None] = {incident.declared_by: None}
    for assignment in incident.roles:
        found.update(dict.fromkeys([assignment.user, assignment.assigned_by]))
    for entry in incident.timeline:
        if entry.author:
            found[entry.author] = None
    for action in incident.actions:
        if action.owner:
            found[action.owner] = None
    texts = [entry.text for entry in incident.timeline]
    texts += [section.text for section in incident.sections]
    texts += [action.text for action in incident.actions]
    found.update(dict.fromkeys(users_in_all([incident.title, *texts])))
    return list(found)


def clean_name(name: str) -> str:
    """A display name as stored: one line, no surrounding space, bounded."""
    return " ".join(name.split())[:NAME_LIMIT]


def fallback_name(user: str) -> str:
    """A readable stand-in when nobody told us the name: a Matrix id's localpart, else
    the id itself."""
    if user.startswith("@") and ":" in user:
        return user[1:].split(":", 1)[0]
    return user
