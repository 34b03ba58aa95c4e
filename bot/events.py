"""Platform-neutral events an adapter hands to the core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class ChatEvent:
    workspace: str  # Slack team, Matrix homeserver, `console`: incidents are numbered per workspace
    channel: str  # the platform's channel or room id
    user: str  # who did it (platform user id)
    event_id: str | None = None  # the platform's id; a redelivered event is applied once


@dataclass(frozen=True, kw_only=True)
class CommandReceived(ChatEvent):
    text: str  # the command without its prefix: `role comms @jonas`
    posted_at: datetime  # UTC: the message's own time
    message_ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class MessageTagged(ChatEvent):
    """`user` reacted with 📌 to a message by `author`."""

    message_ref: str
    author: str
    text: str
    posted_at: datetime  # UTC: when the tagged message was posted


@dataclass(frozen=True, kw_only=True)
class MessageUntagged(ChatEvent):
    message_ref: str


@dataclass(frozen=True, kw_only=True)
class MessageEdited(ChatEvent):
    message_ref: str
    text: str


@dataclass(frozen=True, kw_only=True)
class MessageDeleted(ChatEvent):
    message_ref: str


InboundEvent = CommandReceived | MessageTagged | MessageUntagged | MessageEdited | MessageDeleted
