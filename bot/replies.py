"""Platform-neutral replies; each adapter renders them its own way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Message:
    channel: str
    text: str  # plain text; `code spans` are the only markup
    is_error: bool = False


@dataclass(frozen=True, kw_only=True)
class Reaction:
    """Confirms an action on a message, e.g. ✅ on a tagged one."""

    channel: str
    message_ref: str
    emoji: str = "white_check_mark"


@dataclass(frozen=True, kw_only=True)
class ReactionRemoved:
    """Takes the bot's own reaction off a message, e.g. its ✅ once the entry is gone."""

    channel: str
    message_ref: str
    emoji: str = "white_check_mark"


@dataclass(frozen=True, kw_only=True)
class FileUpload:
    channel: str
    filename: str
    content: bytes
    media_type: str
    comment: str  # the message that goes with the file


Reply = Message | Reaction | ReactionRemoved | FileUpload
