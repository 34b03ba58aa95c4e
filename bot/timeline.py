"""The look-ups an incident makes in its timeline while it handles one event.

A chat event touches at most a few entries: it numbers a new one, finds the entry of a
tagged message or the entry `timeline remove N` names, and adds one. `TimelineEntries`
is that port, so that storage can answer each by an indexed query instead of loading
every entry of a 10,000-entry incident (`storage.timeline`). The whole timeline
(`Incident.timeline`) is read only where everything is shown: drafts, `timeline`, `show`.

`ListTimelineEntries` answers from the entries in memory: an incident declared but not
yet stored, and the core's unit tests.
"""

from __future__ import annotations

import abc
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.domain import TimelineEntry


class TimelineEntries(abc.ABC):
    """One incident's timeline entries, each look-up answered on its own."""

    @abc.abstractmethod
    def next_seq(self) -> int:
        """The number the next entry gets: 1 + the highest so far (1 for the first).

        Entries are never deleted (a removed one is only marked), so numbers run 1..N
        without gaps and this is also `count() + 1`.
        """

    @abc.abstractmethod
    def by_seq(self, seq: int) -> TimelineEntry | None:
        """The entry numbered `seq`, removed or not."""

    @abc.abstractmethod
    def for_message(self, source_ref: str) -> TimelineEntry | None:
        """The first entry (lowest number) made from this platform message, if any."""

    @abc.abstractmethod
    def add(self, entry: TimelineEntry) -> None:
        """Stores a new entry (numbered with `next_seq()`)."""

    def with_refs(self, source_refs: Collection[str]) -> set[str]:
        """Which of these references already have an entry (an alert storm asks for a
        thousand at once)."""
        return {ref for ref in source_refs if self.for_message(ref) is not None}

    def count(self) -> int:
        """How many entries the incident has, removed ones included."""
        return self.next_seq() - 1


class ListTimelineEntries(TimelineEntries):
    """The look-ups over a list of entries held in memory."""

    def __init__(self, entries: list[TimelineEntry]) -> None:
        self._entries = entries

    def next_seq(self) -> int:
        return max((entry.seq for entry in self._entries), default=0) + 1

    def by_seq(self, seq: int) -> TimelineEntry | None:
        return next((entry for entry in self._entries if entry.seq == seq), None)

    def for_message(self, source_ref: str) -> TimelineEntry | None:
        matches = [entry for entry in self._entries if entry.source_ref == source_ref]
        return min(matches, key=lambda entry: entry.seq, default=None)

    def add(self, entry: TimelineEntry) -> None:
        self._entries.append(entry)

    def count(self) -> int:
        return len(self._entries)
