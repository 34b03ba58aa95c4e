"""Matrix as the core sees it: rooms, user ids, display names.

The core calls these synchronously from a worker thread while it handles an event;
what needs the homeserver (creating a room) is run on the adapter's event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from adapters.matrix.render import COMMAND_PREFIX, room_link
from adapters.matrix.render import parse_mention as parse_matrix_mention
from bot.ports import ChannelLink, ChannelRef

RoomOpener = Callable[[str, str, Sequence[str]], ChannelRef]
Inviter = Callable[[ChannelRef, Sequence[str]], None]
NameLookup = Callable[[str], str | None]


class MatrixPlatform:
    name = "matrix"
    command_prefix = COMMAND_PREFIX

    def __init__(
        self, *, open_room: RoomOpener, invite: Inviter, known_name: NameLookup
    ) -> None:
        self._open_room = open_room
        self._invite = invite
        self._known_name = known_name

    def open_incident_channel(
        self, *, name: str, topic: str, invite: Sequence[str]
    ) -> ChannelRef:
        return self._open_room(name, topic, invite)

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        self._invite(channel, users)

    def display_name(self, user: str) -> str:
        """The name the person chose in Matrix, else the localpart of their id."""
        known = self._known_name(user)
        if known:
            return known
        return user[1:].split(":", 1)[0] if user.startswith("@") else user

    def mention(self, user: str) -> str:
        # The full id in the plain body; the HTML rendering turns it into a pill.
        return user

    def parse_mention(self, token: str) -> str | None:
        return parse_matrix_mention(token)

    def channel_link(self, *, workspace: str, channel_id: str) -> ChannelLink | None:
        return room_link(channel_id, via=workspace)
