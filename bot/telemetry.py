"""What the bot counts while it works, said to whoever listens (the metrics endpoint).

A port like the others: the core calls it, an adapter (adapters/telemetry.py) turns it
into Prometheus metrics. `NoTelemetry` is what the core uses when nobody listens.
"""

from __future__ import annotations

from typing import Protocol

from bot.events import (
    CommandReceived,
    InboundEvent,
    MessageDeleted,
    MessageEdited,
    MessageTagged,
    MessageUntagged,
)

# Command verbs counted by name; anything else is `other`, so a typo cannot grow the
# number of label values (and with it the metrics endpoint) without bound.
COUNTED_VERBS = frozenset(
    {
        "start", "role", "roles", "severity", "status", "note", "timeline", "set",
        "append", "clear", "sections", "action", "actions", "template", "templates",
        "resolve", "close", "reopen", "export", "remind", "help", "milestone",
        "milestones",
    }
)  # fmt: skip


class Telemetry(Protocol):
    def event_handled(self, *, platform: str, kind: str, seconds: float) -> None:
        """One inbound event handled (whatever its outcome), and how long it took."""

    def reminder_sent(self, *, platform: str, delivered: bool) -> None:
        """One reminder posted, or one that the platform refused (tried again later)."""

    def slack_acked(self, *, seconds: float) -> None:
        """How long Slack waited for our acknowledgement of one request."""

    def matrix_synced(self, *, lag_seconds: float) -> None:
        """How far behind the newest event of a sync was when the bot handled it."""


class NoTelemetry:
    def event_handled(self, *, platform: str, kind: str, seconds: float) -> None:
        pass

    def reminder_sent(self, *, platform: str, delivered: bool) -> None:
        pass

    def slack_acked(self, *, seconds: float) -> None:
        pass

    def matrix_synced(self, *, lag_seconds: float) -> None:
        pass


def event_kind(event: InboundEvent) -> str:
    """`command:note`, `tagged`, …: what an event was, in a bounded set of names."""
    if isinstance(event, CommandReceived):
        words = event.text.split()
        verb = words[0].lower() if words else ""
        return f"command:{verb if verb in COUNTED_VERBS else 'other'}"
    if isinstance(event, MessageTagged):
        return "tagged"
    if isinstance(event, MessageUntagged):
        return "untagged"
    if isinstance(event, MessageEdited):
        return "edited"
    assert isinstance(event, MessageDeleted)
    return "deleted"
