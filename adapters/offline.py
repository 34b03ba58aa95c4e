"""An incident's platform when no connection to it is open: the command line and the web
pages render drafts and listings through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from adapters.matrix.render import room_link
from adapters.slack.links import channel_link
from bot.commands import default_mention
from bot.domain import IncidentError
from bot.people import fallback_name
from bot.ports import ChannelLink, ChannelRef

PREFIXES = {"matrix": "!incident"}


class OfflinePlatform:
    """Stands in for an incident's platform when the command line renders it: people
    are named by the names the adapters stored, never by a raw platform id."""

    def __init__(self, platform: str, names: Mapping[str, str] | None = None) -> None:
        self.name = platform
        self.command_prefix = PREFIXES.get(platform, "/incident")
        self._names = dict(names or {})

    def open_incident_channel(self, *, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
        raise IncidentError("The command line cannot open channels.")

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        raise IncidentError("The command line cannot invite anyone.")

    def display_name(self, user: str) -> str:
        return self._names.get(user) or fallback_name(user)

    def mention(self, user: str) -> str:
        return self.display_name(user)

    def parse_mention(self, token: str) -> str | None:
        return default_mention(token)

    def channel_link(self, *, workspace: str, channel_id: str) -> ChannelLink | None:
        # Both platforms' links are made from ids alone: no connection needed.
        if self.name == "slack":
            return channel_link(workspace=workspace, channel_id=channel_id)
        if self.name == "matrix":
            return room_link(channel_id, via=workspace)
        return None
