"""Slack as the core's ChatPlatform: channels via conversations.*, people by display name."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from adapters.slack.links import channel_link
from adapters.slack.text import own_mention
from bot.ports import ChannelLink, ChannelRef

log = logging.getLogger(__name__)

COMMAND_PREFIX = "/incident"
CHANNEL_NAME_LIMIT = 80
TOPIC_LIMIT = 250
NAME_ATTEMPTS = 20  # `inc-3-db`, `inc-3-db-2`, … before giving up


def api_error(error: SlackApiError) -> str:
    """The error code Slack answered with (`channel_not_found`), never the request."""
    code = error.response.get("error") if error.response is not None else None
    return str(code or f"HTTP {error.response.status_code if error.response else '?'}")


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")

class DisplayNames:
    """People's display names from users.info, cached: drafts name many people many times.

    It also keeps track of which names the core has been told, per workspace, so the
    core stores a name only when it is new or has changed, never on every event.
    """

    def __init__(self, client: WebClient, *, ttl_seconds: float = 3600.0) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._names: dict[str, tuple[str, float]] = {}
        self._told: dict[tuple[str, str], str] = {}  # (workspace, user) -> name stored
        self._lock = threading.Lock()

    def __call__(self, user: str) -> str:
        with self._lock:
            cached = self._names.get(user)
        if cached is not None and time.monotonic() - cached[1] < self._ttl:
            return cached[0]
        if not USER_ID.match(user):
            return cached[0] if cached else user  # a bot (`B…`) or no id: nothing to ask
        try:
            response = self._client.users_info(user=user)
        except SlackApiError as error:
            # Not cached: the next draft tries again.
            log.warning("users.info for %s failed: %s", user, api_error(error))
            return cached[0] if cached else user
        name = name_of_user(response.get("user") or {}) or user
        with self._lock:
            self._names[user] = (name, time.monotonic())
        return name

    def changed(self, user: str, name: str) -> None:
        """Slack says someone's profile changed (`user_change`, sent for everyone in the
        workspace): current at once for people this process already knows."""
        with self._lock:
            if user in self._names:
                self._names[user] = (name, time.monotonic())

    def untold(self, workspace: str, users: Iterable[str]) -> dict[str, str]:
        """The names of these people (looked up, cached) that the core has not been told
        for this workspace, or told differently."""
        names: dict[str, str] = {}
        for user in users:
            name = self(user)
            if name == user:
                continue  # no name known: nothing worth storing
            with self._lock:
                if self._told.get((workspace, user)) != name:
                    names[user] = name
        return names

    def told(self, workspace: str, names: Mapping[str, str]) -> None:
        with self._lock:
            self._told.update({(workspace, user): name for user, name in names.items()})

    def renamed(self, workspace: str, user: str, name: str) -> None:
        """The core updated a stored name itself (`user_change`)."""
        with self._lock:
            if (workspace, user) in self._told:
                self._told[(workspace, user)] = name


USER_ID = re.compile(r"^[UW][A-Z0-9]+$")


def name_of_user(user: dict[str, Any]) -> str | None:
    """The name Slack shows for a user object (users.info, `user_change`)."""
    details = user.get("profile") or {}
    name = (
        details.get("display_name")
        or details.get("real_name")
        or user.get("real_name")
        or user.get("name")
    )
    return str(name) if name else None


class SlackPlatform:
    """One event's view of Slack."""

    name = "slack"
    command_prefix = COMMAND_PREFIX

    def __init__(
        self,
        *,
        client: WebClient,
        names: DisplayNames,
        bot_user: str | None = None,
    ) -> None:
        self._client = client
        self._names = names
        self._bot_user = bot_user
        self.opened: list[ChannelRef] = []  # channels this event created

    def open_incident_channel(
        self, *, name: str, topic: str, invite: Sequence[str]
    ) -> ChannelRef:
        channel = self._create_channel(name[:CHANNEL_NAME_LIMIT])
        self._client.conversations_setTopic(channel=channel.id, topic=topic[:TOPIC_LIMIT])
        self.invite_to_channel(channel, invite)
        self.opened.append(channel)
        return channel

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        people = [user for user in dict.fromkeys(users) if user != self._bot_user]
        self._invite(channel.id, people)

    def _create_channel(self, name: str) -> ChannelRef:
        for attempt in range(1, NAME_ATTEMPTS + 1):
            suffix = "" if attempt == 1 else f"-{attempt}"
            candidate = name[: CHANNEL_NAME_LIMIT - len(suffix)] + suffix
            try:
                response = self._client.conversations_create(name=candidate, is_private=False)
            except SlackApiError as error:
                if api_error(error) == "name_taken":
                    continue  # e.g. an archived channel from an earlier bot database
                raise
            created = response["channel"]
            return ChannelRef(id=created["id"], name=created.get("name", candidate))
        raise SlackApiError(  # type: ignore[no-untyped-call]
            f"every channel name from {name} to {name}-{NAME_ATTEMPTS} is taken",
            {"ok": False, "error": "name_taken"},
        )

    def _invite(self, channel: str, people: Sequence[str]) -> None:
        if not people:
            return
        try:
            self._client.conversations_invite(channel=channel, users=",".join(people))
            return
        except SlackApiError as error:
            log.info("inviting %d people at once failed (%s); one by one", len(people),
                     api_error(error))
        for user in people:
            try:
                self._client.conversations_invite(channel=channel, users=user)
            except SlackApiError as error:
                if api_error(error) != "already_in_channel":
                    log.warning("could not invite %s to %s: %s", user, channel, api_error(error))

    def display_name(self, user: str) -> str:
        return self._names(user)

    def mention(self, user: str) -> str:
        # Slack shows `<@U…>` as the person's current display name (and notifies them).
        return own_mention(user)

    def parse_mention(self, token: str) -> str | None:
        # Only `<@U…>` (with an optional `|label`); a bare `@word` is text Slack could
        # not match to anyone.
        match = _MENTION.fullmatch(token)
        return match.group(1) if match else None

    def channel_link(self, *, workspace: str, channel_id: str) -> ChannelLink | None:
        return channel_link(workspace=workspace, channel_id=channel_id)
