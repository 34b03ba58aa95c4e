"""Timeline look-ups answered by indexed queries (the core's `TimelineEntries` port).

Handling one chat event reads the entries it touches and nothing else, so a note costs
the same on a 10,000-entry incident as on a 10-entry one: the next number comes from
`max(seq)` on the UNIQUE (incident_id, seq) index, a tagged message's entry from the
(incident_id, source_ref) index.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.orm import Session

from bot.domain import Incident, TimelineEntry
from bot.timeline import ListTimelineEntries, TimelineEntries
from storage.conflicts import flush, flush_if_new
from storage.orm import start_mappers, timeline_entries

start_mappers()

# Built once: building a statement and its cache key costs more CPU than running it.
_HIGHEST_SEQ = select(func.max(timeline_entries.c.seq)).where(
    timeline_entries.c.incident_id == bindparam("incident_id")
)
_BY_SEQ = select(TimelineEntry).where(
    timeline_entries.c.incident_id == bindparam("incident_id"),
    timeline_entries.c.seq == bindparam("seq"),
)
# No ORDER BY in SQL: with one, SQLite walks the (incident_id, seq) index in order and
# filters, reading the whole timeline; a message has one entry or two.
_FOR_MESSAGE = select(TimelineEntry).where(
    timeline_entries.c.incident_id == bindparam("incident_id"),
    timeline_entries.c.source_ref == bindparam("source_ref"),
)

# References asked for in one IN (…) list at most.
_IN_BATCH = 500

# Whole timelines, to be read (drafts, `show`): every column, each row as plain values.
_TIMELINES_OF = (
    select(*timeline_entries.c)
    .where(timeline_entries.c.incident_id.in_(bindparam("incident_ids", expanding=True)))
    .order_by(timeline_entries.c.incident_id, timeline_entries.c.seq)
)


def _entry_attributes() -> tuple[str, ...]:
    """The entry's attribute for each column of `_TIMELINES_OF`, in order."""
    by_column = {
        prop.columns[0].key: prop.key for prop in inspect(TimelineEntry).column_attrs
    }
    return tuple(by_column[column.key] for column in timeline_entries.c)


_ENTRY_ATTRIBUTES = _entry_attributes()


class EntryAsRead(TimelineEntry):
    """A timeline entry read for a draft or `show`: a `TimelineEntry` in every way but
    one, its fields are plain attributes.

    The mapped class reads each field through SQLAlchemy's descriptor, a Python call
    per read (a 10,000-entry draft reads some 200,000). The names set on this class
    below are no descriptors, so the entry's own values stand in front of them: a read
    is a dictionary look-up. The class is not mapped; its entries are never stored.
    """


for _attribute in _ENTRY_ATTRIBUTES:
    setattr(EntryAsRead, _attribute, None)


def attach_timelines_to_read(session: Session, found: Sequence[Incident]) -> None:
    """Detaches these incidents from the session and gives each its whole timeline, the
    entries made straight from their rows: what an export or `show` reads.

    An entry loaded by the ORM costs about 20 µs (its tracked state, the identity map):
    0.2 s of a 10,000-entry export. These hold the same values (`EntryAsRead`), made as
    the ORM makes its entries, without `__init__`, but untracked: the incidents are
    detached, so nothing of them is ever written back. An incident read this way is
    for reading; one to change is taken with `get_for_change` or `get_by_channel`.
    """
    timelines: dict[int, list[TimelineEntry]] = {}
    for incident in found:
        identity = inspect(incident).identity
        assert identity is not None, "only stored incidents are read whole"
        timelines[int(identity[0])] = []
        # Before its entries are put in: a session's next flush would look at them.
        session.expunge(incident)
    if not timelines:
        return
    attributes = _ENTRY_ATTRIBUTES
    incident_column = attributes.index("incident_id")
    new = object.__new__
    for row in session.execute(_TIMELINES_OF, {"incident_ids": list(timelines)}).all():
        entry: TimelineEntry = new(EntryAsRead)
        entry.__dict__.update(zip(attributes, row, strict=True))
        timelines[row[incident_column]].append(entry)
    for incident, timeline in zip(found, timelines.values(), strict=True):
        # A plain list, as a detached incident's loaded value: the ORM's own list would
        # track each entry it is given (and a copy of the incident would give it again).
        incident.__dict__["timeline"] = timeline


class SqlTimelineEntries(TimelineEntries):
    """One stored incident's entries, looked up in the session's transaction.

    Once the unit of work is over (the incident detached from its session), look-ups
    answer from the timeline loaded with it, as an incident read whole is used after
    its unit of work (`get`, `list`): the session is never used again from here.
    """

    def __init__(self, session: Session, incident: Incident) -> None:
        self._session = session
        self._incident = incident
        # What this unit of work already asked, kept up to date by `add`: the incident's
        # row is locked (get_by_channel), so nobody else adds to its timeline meanwhile,
        # and one event asks for the next number (the room check, then the new entry)
        # and for a tagged message's entry (the room check, then the tag) twice.
        self._next_seq: int | None = None
        self._by_message: dict[str, TimelineEntry | None] = {}

    def __deepcopy__(self, memo: dict[int, object]) -> None:
        # A copy of the incident is no longer in this session: it answers from the
        # entries it holds (Incident._entries falls back to them).
        return None

    @property
    def _incident_id(self) -> int:
        incident_id = inspect(self._incident).identity
        assert incident_id is not None, "the incident is stored before its entries"
        return int(incident_id[0])

    def _loaded(self) -> ListTimelineEntries | None:
        if inspect(self._incident).detached:
            return ListTimelineEntries(self._incident.timeline)
        return None

    def next_seq(self) -> int:
        if (loaded := self._loaded()) is not None:
            return loaded.next_seq()
        if self._next_seq is None:
            # Entries added before count (and a lost race says so); the event's other
            # writes wait for the commit's flush.
            flush_if_new(self._session, TimelineEntry)
            with self._session.no_autoflush:
                highest = self._session.scalar(
                    _HIGHEST_SEQ, {"incident_id": self._incident_id}
                )
            self._next_seq = (highest or 0) + 1
        return self._next_seq

    def by_seq(self, seq: int) -> TimelineEntry | None:
        if (loaded := self._loaded()) is not None:
            return loaded.by_seq(seq)
        return self._session.scalars(
            _BY_SEQ, {"incident_id": self._incident_id, "seq": seq}
        ).one_or_none()

    def for_message(self, source_ref: str) -> TimelineEntry | None:
        if (loaded := self._loaded()) is not None:
            return loaded.for_message(source_ref)
        if source_ref in self._by_message:
            return self._by_message[source_ref]
        found = self._session.scalars(
            _FOR_MESSAGE, {"incident_id": self._incident_id, "source_ref": source_ref}
        ).all()
        first = min(found, key=lambda entry: entry.seq, default=None)
        self._by_message[source_ref] = first
        return first

    def with_refs(self, source_refs: Collection[str]) -> set[str]:
        if (loaded := self._loaded()) is not None:
            return loaded.with_refs(source_refs)
        flush(self._session)
        wanted = list(dict.fromkeys(source_refs))
        found: set[str] = set()
        for start in range(0, len(wanted), _IN_BATCH):  # (incident_id, source_ref) index
            found.update(
                self._session.scalars(
                    select(timeline_entries.c.source_ref).where(
                        timeline_entries.c.incident_id == self._incident_id,
                        timeline_entries.c.source_ref.in_(wanted[start : start + _IN_BATCH]),
                    )
                )
            )
        return found

    def add(self, entry: TimelineEntry) -> None:
        if self._next_seq is not None:
            self._next_seq = max(self._next_seq, entry.seq + 1)
        if entry.source_ref is not None and self._by_message.get(entry.source_ref, entry) is None:
            self._by_message[entry.source_ref] = entry  # the first entry of its message
        state = inspect(self._incident)
        if state.detached or "timeline" in state.dict:
            # The whole timeline was read in this unit of work (a draft, `timeline`):
            # keep that list whole; the relationship inserts the entry.
            self._incident.timeline.append(entry)
            return
        # Otherwise insert the entry alone, without reading the others. A later read of
        # `incident.timeline` in this unit of work flushes it first and finds it.
        entry.incident_id = self._incident_id  # type: ignore[attr-defined]
        self._session.add(entry)
