"""Closing a sync gap: the events a `limited` sync left out, fetched with /messages.

A homeserver caps how many events one sync carries per room (Synapse: 100, whatever the
filter asks). When more arrived since the saved sync token, the sync says `limited` and
hands over only the newest; its `prev_batch` marks where they start. The events between
the saved token and `prev_batch` are paged through forwards, oldest first, so the bot
applies every event of the room in the order it was sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import nio  # type: ignore[import-untyped]  # nio ships no type information

log = logging.getLogger("adapters.matrix")

# Synapse serves at most 1,000 events per /messages call; smaller pages keep each
# response (and its decryption) short.
PAGE_SIZE = 250


class BackfillFailed(Exception):
    """The homeserver refused a /messages page; the message says which and why."""


@dataclass(frozen=True)
class Gap:
    events: list[Any]  # in the order they were sent, oldest first
    complete: bool  # False when the limit cut it short


async def missed_events(
    client: nio.AsyncClient, room_id: str, *, since: str, until: str | None, limit: int
) -> Gap:
    """The room's events after the sync token `since` and before `until` (the limited
    timeline's `prev_batch`), at most `limit` of them, oldest first.

    Raises BackfillFailed when a page cannot be fetched: the caller keeps its sync token,
    so the whole batch (gap included) is fetched again later.
    """
    events: list[Any] = []
    start = since
    while len(events) < limit:
        page = await client.room_messages(
            room_id,
            start=start,
            end=until,
            direction=nio.MessageDirection.front,
            limit=min(PAGE_SIZE, limit - len(events)),
        )
        if not isinstance(page, nio.RoomMessagesResponse):
            status = getattr(page, "status_code", None)
            message = getattr(page, "message", None) or type(page).__name__
            raise BackfillFailed(
                f"fetching the events missed in {room_id} failed ({status or ''} {message})"
            )
        events.extend(page.chunk)
        if not page.chunk or not page.end or page.end == start:
            return Gap(events, complete=True)
        start = page.end
    # The limit is reached: is anything left before `until`?
    probe = await client.room_messages(
        room_id, start=start, end=until, direction=nio.MessageDirection.front, limit=1
    )
    more = isinstance(probe, nio.RoomMessagesResponse) and bool(probe.chunk)
    return Gap(events, complete=not more)


def in_order_once(missed: list[Any], timeline: list[Any]) -> list[Any]:
    """The gap, then the sync's own timeline, each event once (pages may overlap the
    timeline at their edges)."""
    seen: set[str] = set()
    merged: list[Any] = []
    for event in [*missed, *timeline]:
        source = event.source if isinstance(event.source, dict) else {}
        event_id = source.get("event_id")
        if isinstance(event_id, str):
            if event_id in seen:
                continue
            seen.add(event_id)
        merged.append(event)
    return merged
