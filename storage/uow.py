"""The SQLAlchemy implementations of the core's ports: repository and unit of work."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Collection, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, and_, bindparam, event, func, inspect, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, CursorResult, ExceptionContext
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.alerts import AlertGroup
from bot.domain import Incident
from bot.ports import (
    AlertGroupRepository,
    ConcurrentChange,
    IncidentRepository,
    PeopleRepository,
    ProcessedEvents,
    ReminderRepository,
    UnitOfWork,
)
from bot.reminders import Reminder, ReminderControl, ReminderState
from bot.summary import IncidentSummary
from storage.conflicts import flush as _flush
from storage.conflicts import flush_if_new, is_retryable, is_unique_violation
from storage.database import make_engine
from storage.orm import (
    alert_groups,
    incidents,
    people,
    processed_events,
    reminder_controls,
    reminders,
    start_mappers,
    timeline_entries,
)
from storage.summaries import change_marker, incident_summaries
from storage.timeline import SqlTimelineEntries, attach_timelines_to_read


class SqlAlchemyIncidentRepository(IncidentRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, incident: Incident) -> None:
        # A new incident's few entries are in memory; the relationship inserts them.
        self.session.add(incident)

    def remove(self, incident: Incident) -> None:
        # Its entries, roles … go with it (ORM cascade), its reminders by ON DELETE CASCADE.
        self.session.delete(incident)

    def get(self, workspace: str, number: int, *, timeline: bool = True) -> Incident | None:
        query = select(Incident).where(
            incidents.c.workspace == workspace, incidents.c.number == number
        )
        if not timeline:
            found = self.session.scalars(query.options(*_WHOLE_BUT_TIMELINE)).one_or_none()
            return self._attached(found)
        with _no_collection_while_loading():
            found = self.session.scalars(query.options(*_WHOLE)).one_or_none()
        return self._attached(found)

    def numbered(self, number: int, workspace: str | None = None) -> Sequence[Incident]:
        # One query for the incidents and one for all their entries, however many
        # incidents the workspace holds: no other incident's timeline is read. For
        # reading (export, `show`): the incidents are detached and their entries made
        # straight from the rows, untracked (storage.timeline.attach_timelines_to_read).
        query = (
            select(Incident)
            .where(incidents.c.number == number)
            .order_by(incidents.c.workspace)
            .options(*_WHOLE_BUT_TIMELINE)
        )
        if workspace is not None:
            query = query.where(incidents.c.workspace == workspace)
        with _no_collection_while_loading():
            found = self.session.scalars(query).all()
            attach_timelines_to_read(self.session, found)
        for incident in found:
            self._attached(incident)
        return found

    def get_by_channel(self, platform: str, channel_id: str) -> Incident | None:
        # FOR UPDATE (_BY_CHANNEL): writers to one incident take turns (PostgreSQL;
        # SQLite's BEGIN IMMEDIATE already does), so each reads what the one before it
        # committed: the next entry number, the entry of a message tagged twice at once.
        found = self.session.scalars(
            _BY_CHANNEL, {"platform": platform, "channel_id": channel_id}
        ).one_or_none()
        return self._attached(found)

    def get_for_change(self, workspace: str, number: int) -> Incident | None:
        found = self.session.scalars(
            select(Incident)
            .where(incidents.c.workspace == workspace, incidents.c.number == number)
            .with_for_update(of=incidents)
        ).one_or_none()
        return self._attached(found)

    def find_by_channel(self, platform: str, channel_id: str) -> Incident | None:
        found = self.session.scalars(
            select(Incident)
            .where(incidents.c.platform == platform, incidents.c.channel_id == channel_id)
            .options(*_WHOLE_BUT_TIMELINE)
        ).one_or_none()
        return self._attached(found)

    def _attached(self, incident: Incident | None) -> Incident | None:
        if incident is not None:
            incident.use_timeline_entries(SqlTimelineEntries(self.session, incident))
        return incident

    def entry_count(self, incident: Incident) -> int:
        state = inspect(incident)
        if state.persistent and state.session is self.session:
            # Entries are never deleted, so they are numbered 1..N: the count is the
            # highest number, which the event asks for anyway to number its new entry
            # (one indexed look-up, asked once per unit of work: storage.timeline).
            return incident.timeline_count()
        # Autoflush writes this unit of work's new entries first; the count uses the
        # (incident_id, seq) unique index.
        incident_id = (
            select(incidents.c.id)
            .where(
                incidents.c.workspace == incident.workspace,
                incidents.c.number == incident.number,
            )
            .scalar_subquery()
        )
        return self.session.scalar(
            select(func.count())
            .select_from(timeline_entries)
            .where(timeline_entries.c.incident_id == incident_id)
        ) or 0

    def next_number(self, workspace: str) -> int:
        highest = self.session.scalar(
            select(func.max(incidents.c.number)).where(incidents.c.workspace == workspace)
        )
        return (highest or 0) + 1

    def list(self, workspace: str | None = None) -> Sequence[Incident]:
        query = (
            select(Incident)
            .order_by(incidents.c.workspace, incidents.c.number)
            .options(*_WHOLE)
        )
        if workspace is not None:
            query = query.where(incidents.c.workspace == workspace)
        with _no_collection_while_loading():
            found = self.session.scalars(query).all()
        for incident in found:
            self._attached(incident)
        return found

    def summaries(self, workspace: str | None = None) -> Sequence[IncidentSummary]:
        return incident_summaries(self.session, workspace)

    def change_marker(self, workspace: str, number: int) -> Hashable | None:
        return change_marker(self.session, workspace, number)


@contextmanager
def _no_collection_while_loading() -> Iterator[None]:
    """Pauses Python's cycle collector while a timeline loads. Each of its thousands of
    entries is several new objects, none of them garbage, and the collector would run
    over and over, each time looking at everything loaded so far: half the time of
    loading 10,000 entries. Whoever paused it resumes it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class SqlAlchemyProcessedEvents(ProcessedEvents):
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, platform: str, event_id: str, at: datetime) -> bool:
        values = {"platform": platform, "event_id": event_id, "processed_at": at}
        dialect = self.session.get_bind().dialect.name
        statement = _RECORD_EVENT.get(dialect)
        if statement is None:
            raise NotImplementedError(
                f"incident-bot stores its data in SQLite or PostgreSQL, not {dialect}"
            )
        # ON CONFLICT DO NOTHING: a duplicate inserts nothing and raises nothing, so the
        # transaction goes on. The row count of an INSERT is only kept when asked for.
        result = self.session.execute(
            statement, values, execution_options={"preserve_rowcount": True}
        )
        assert isinstance(result, CursorResult)
        return result.rowcount == 1

    def keep_answer(self, platform: str, event_id: str, answer: str | None) -> None:
        self.session.execute(
            processed_events.update()
            .where(
                processed_events.c.platform == platform,
                processed_events.c.event_id == event_id,
            )
            .values(answer=answer)
        )

    def kept_answer(self, platform: str, event_id: str) -> str | None:
        return self.session.scalar(
            select(processed_events.c.answer).where(
                processed_events.c.platform == platform,
                processed_events.c.event_id == event_id,
            )
        )

    def forget(self, platform: str, event_id: str) -> None:
        self.session.execute(
            processed_events.delete().where(
                processed_events.c.platform == platform, processed_events.c.event_id == event_id
            )
        )

    def prune(self, *, before: datetime, limit: int) -> int:
        oldest = (
            select(processed_events.c.platform, processed_events.c.event_id)
            .where(processed_events.c.processed_at < before)
            .order_by(processed_events.c.processed_at)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            # Replicas pruning at once pass each other's rows by instead of queueing.
            oldest = oldest.with_for_update(skip_locked=True)
        keys = self.session.execute(oldest).all()
        if not keys:
            return 0
        result = self.session.execute(
            processed_events.delete().where(
                tuple_(processed_events.c.platform, processed_events.c.event_id).in_(
                    [tuple(key) for key in keys]
                )
            )
        )
        assert isinstance(result, CursorResult)
        return result.rowcount


class SqlAlchemyAlertGroupRepository(AlertGroupRepository):
    """Alert groups with SQLAlchemy Core. A group is found by the SHA-256 of its key
    (a key can be long); the row is locked while it is changed (PostgreSQL)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._ids: dict[int, int] = {}  # id(group) -> row id, for the groups read here

    def get(self, workspace: str, group_key: str) -> AlertGroup | None:
        row = self.session.execute(
            select(alert_groups)
            .where(
                alert_groups.c.workspace == workspace,
                alert_groups.c.group_hash == _group_hash(group_key),
            )
            .with_for_update()
        ).one_or_none()
        return self._group(row) if row is not None else None

    def save(self, group: AlertGroup) -> None:
        values = {
            "workspace": group.workspace,
            "group_hash": _group_hash(group.group_key),
            "group_key": group.group_key,
            "source": group.source,
            "incident_number": group.incident_number,
            "summary_at": group.summary_at,
            "pending_fired": group.pending_fired,
            "pending_resolved": group.pending_resolved,
            "pending_names": list(group.pending_names),
            "firing_now": group.firing_now,
        }
        row_id = self._ids.get(id(group))
        if row_id is None:
            result = self.session.execute(alert_groups.insert().values(values))
            assert isinstance(result, CursorResult)
            key = result.inserted_primary_key
            assert key is not None
            self._ids[id(group)] = int(key[0])
        else:
            self.session.execute(
                update(alert_groups).where(alert_groups.c.id == row_id).values(values)
            )

    def pending_since(self, before: datetime, limit: int) -> list[AlertGroup]:
        query = (
            select(alert_groups)
            .where(
                (alert_groups.c.pending_fired > 0) | (alert_groups.c.pending_resolved > 0),
                alert_groups.c.summary_at.is_(None) | (alert_groups.c.summary_at < before),
            )
            .order_by(alert_groups.c.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [self._group(row) for row in self.session.execute(query).all()]

    def _group(self, row: Any) -> AlertGroup:
        group = AlertGroup(
            workspace=row.workspace,
            group_key=row.group_key,
            incident_number=row.incident_number,
            source=row.source,
            summary_at=row.summary_at,
            pending_fired=row.pending_fired,
            pending_resolved=row.pending_resolved,
            pending_names=tuple(row.pending_names or ()),
            firing_now=row.firing_now,
        )
        self._ids[id(group)] = row.id
        return group


def _group_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode("utf-8", "surrogatepass")).hexdigest()


class SqlAlchemyPeopleRepository(PeopleRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def remember(
        self, platform: str, workspace: str, names: Mapping[str, str], at: datetime
    ) -> int:
        written = 0
        for user, name in names.items():
            values = {
                "platform": platform,
                "workspace": workspace,
                "user_id": user,
                "display_name": name,
                "updated_at": at,
            }
            insert = _insert_for(self.session, people).values(values)
            # One statement per name, no read first: a new person is inserted, a changed
            # name updated, an unchanged one left alone (the WHERE keeps the row as is).
            statement = insert.on_conflict_do_update(
                index_elements=[people.c.platform, people.c.workspace, people.c.user_id],
                set_={
                    "display_name": insert.excluded.display_name,
                    "updated_at": insert.excluded.updated_at,
                },
                where=people.c.display_name != insert.excluded.display_name,
            )
            result = self.session.execute(
                statement, execution_options={"preserve_rowcount": True}
            )
            assert isinstance(result, CursorResult)
            written += max(result.rowcount, 0)
        return written

    def rename(
        self, platform: str, workspace: str, names: Mapping[str, str], at: datetime
    ) -> int:
        written = 0
        for user, name in names.items():
            result = self.session.execute(
                update(people)
                .where(
                    people.c.platform == platform,
                    people.c.workspace == workspace,
                    people.c.user_id == user,
                    people.c.display_name != name,
                )
                .values(display_name=name, updated_at=at),
                execution_options={"preserve_rowcount": True},
            )
            assert isinstance(result, CursorResult)
            written += max(result.rowcount, 0)
        return written

    def names(self, platform: str, workspace: str, users: Collection[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(users))
        found: dict[str, str] = {}
        # By primary key, in slices that keep the statement's parameter count modest.
        for start in range(0, len(wanted), 500):
            rows = self.session.execute(
                select(people.c.user_id, people.c.display_name).where(
                    people.c.platform == platform,
                    people.c.workspace == workspace,
                    people.c.user_id.in_(wanted[start : start + 500]),
                )
            )
            found.update({str(user): str(name) for user, name in rows})
        return found


def _insert_for(session: Session, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(
        f"incident-bot stores its data in SQLite or PostgreSQL, not {dialect}"
    )


class SqlAlchemyReminderRepository(ReminderRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, reminder: Reminder) -> None:
        # The reminder refers to its incident by foreign key, but no relationship tells
        # the flush to insert the incident first: flush a new incident before. (In one
        # flush, the UPDATE that cancels a reminder goes before the INSERT that arms the
        # next: SQLAlchemy emits a table's updates before its inserts, so the one pending
        # reminder of a kind, uq_reminders_one_pending_per_kind, holds.)
        flush_if_new(self.session, Incident)
        self.session.add(reminder)

    def for_incident(self, workspace: str, number: int) -> list[Reminder]:
        # Flushing now (rather than by autoflush inside the query) reports a lost race
        # for a new incident's number as ConcurrentChange.
        _flush(self.session)
        return list(
            self.session.scalars(
                select(Reminder)
                .where(reminders.c.workspace == workspace, reminders.c.incident_number == number)
                .order_by(reminders.c.id)
            )
        )

    def in_force(self, workspace: str, number: int) -> list[Reminder]:
        # Only new reminders (and a new incident) must be stored before the query finds
        # them; the event's other writes (its timeline entry) wait for the commit.
        # Flushing now (rather than by autoflush inside the query) reports a lost race
        # for a new incident's number as ConcurrentChange.
        flush_if_new(self.session, Reminder, Incident)
        with self.session.no_autoflush:
            found = self.session.scalars(
                _IN_FORCE_OF, {"workspace": workspace, "number": number}
            ).all()
        return sorted(found, key=lambda reminder: reminder.id or 0)

    def in_force_and_control(
        self, workspace: str, number: int
    ) -> tuple[list[Reminder], ReminderControl]:
        # One round trip instead of two: the incident's row, its control (if any) and
        # its reminders in force, outer-joined.
        flush_if_new(self.session, Reminder, ReminderControl, Incident)
        with self.session.no_autoflush:
            rows = self.session.execute(
                _IN_FORCE_AND_CONTROL_OF, {"workspace": workspace, "number": number}
            ).all()
        control = next((row[0] for row in rows if row[0] is not None), None)
        found = {reminder for _, reminder in rows if reminder is not None}
        in_force = sorted(found, key=lambda reminder: reminder.id or 0)
        if control is None:
            return in_force, self.control(workspace, number)
        return in_force, control

    def next_due(self, platforms: Collection[str]) -> datetime | None:
        due: datetime | None = self.session.scalar(
            select(func.min(reminders.c.due_at)).where(
                reminders.c.state == ReminderState.PENDING,
                reminders.c.platform.in_(list(platforms)),
            )
        )
        return due

    def control(self, workspace: str, number: int) -> ReminderControl:
        flush_if_new(self.session, ReminderControl)
        with self.session.no_autoflush:
            found = self.session.scalars(
                _CONTROL_OF, {"workspace": workspace, "number": number}
            ).one_or_none()
        if found is None:
            found = ReminderControl(workspace=workspace, incident_number=number)
            _flush(self.session)
            self.session.add(found)
        return found

    def get(self, reminder_id: int) -> Reminder | None:
        return self.session.get(Reminder, reminder_id)

    def claim_due(
        self, *, now: datetime, platforms: Collection[str], limit: int, claimant: str
    ) -> list[Reminder]:
        # PostgreSQL: FOR UPDATE SKIP LOCKED hands each due row to one sweeping
        # transaction and lets the others pass it by; a row another process claimed and
        # committed meanwhile is re-checked against the WHERE clause and left out.
        # SQLite renders no FOR UPDATE; its BEGIN IMMEDIATE already makes claims take
        # turns (storage.database).
        due = list(
            self.session.scalars(
                select(Reminder)
                .where(
                    reminders.c.state == ReminderState.PENDING,
                    reminders.c.due_at <= now,
                    reminders.c.platform.in_(list(platforms)),
                )
                .order_by(reminders.c.due_at, reminders.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for reminder in due:
            reminder.state = ReminderState.CLAIMED
            reminder.claimed_at = now
            reminder.claimed_by = claimant
        self.session.flush()
        return due

    def stale_claims(self, *, claimed_before: datetime, limit: int) -> list[Reminder]:
        return list(
            self.session.scalars(
                select(Reminder)
                .where(
                    reminders.c.state == ReminderState.CLAIMED,
                    reminders.c.claimed_at < claimed_before,
                )
                .order_by(reminders.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )


class SqlAlchemyUnitOfWork(UnitOfWork):
    """One session, hence one transaction, per `with` block.

    Leaving the block without `commit()` discards the work. The session does not
    expire objects on commit, so the aggregate stays readable after `commit()` and
    after the block ends: whole for `get`, `numbered` and `list`, which load the
    timeline; for `find_by_channel` and `get(…, timeline=False)`, all but the timeline.
    An incident from `get_by_channel` (taken for a change) has its timeline, sections,
    action items and milestones only if they were read in the block.
    """

    incidents: SqlAlchemyIncidentRepository
    events: SqlAlchemyProcessedEvents
    reminders: SqlAlchemyReminderRepository
    people: SqlAlchemyPeopleRepository
    alert_groups: SqlAlchemyAlertGroupRepository

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._session

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        if self._session is not None:
            raise RuntimeError("the unit of work is already in use")
        self._session = self.session_factory()
        self.incidents = SqlAlchemyIncidentRepository(self._session)
        self.events = SqlAlchemyProcessedEvents(self._session)
        self.reminders = SqlAlchemyReminderRepository(self._session)
        self.people = SqlAlchemyPeopleRepository(self._session)
        self.alert_groups = SqlAlchemyAlertGroupRepository(self._session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        # close() rolls back whatever was not committed and releases the connection,
        # without expiring the objects (rollback() would, making them unreadable once
        # detached).
        session.close()

    def commit(self) -> None:
        try:
            self.session.commit()
        except IntegrityError as problem:
            self.session.rollback()
            if is_unique_violation(problem):
                raise ConcurrentChange(str(problem.orig)) from problem
            raise

    def rollback(self) -> None:
        self.session.rollback()


_IN_FORCE = [state for state in ReminderState if state is not ReminderState.CANCELLED]


def _relationship(name: str) -> Any:
    start_mappers()
    return inspect(Incident).relationships[name].class_attribute


# Where an incident is read to be used after its unit of work: what is loaded only when
# first read (storage.orm) is loaded with it.
_WHOLE_BUT_TIMELINE = (
    selectinload(_relationship("sections")),
    selectinload(_relationship("actions")),
    selectinload(_relationship("milestones")),
)
_WHOLE = (selectinload(_relationship("timeline")), *_WHOLE_BUT_TIMELINE)

# The statements every chat event runs, built once: building a statement (and its cache
# key) on every call cost more CPU than running it.
_BY_CHANNEL = (
    select(Incident)
    .where(
        incidents.c.platform == bindparam("platform"),
        incidents.c.channel_id == bindparam("channel_id"),
    )
    .with_for_update(of=incidents)
)
# Sorted by the caller, not by ORDER BY id: with one, SQLite walks the table by id and
# reads the cancelled rows too.
_IN_FORCE_OF = select(Reminder).where(
    reminders.c.workspace == bindparam("workspace"),
    reminders.c.incident_number == bindparam("number"),
    reminders.c.state.in_(_IN_FORCE),
)
_IN_FORCE_AND_CONTROL_OF = (
    select(ReminderControl, Reminder)
    .select_from(incidents)
    .outerjoin(
        reminder_controls,
        and_(
            reminder_controls.c.workspace == incidents.c.workspace,
            reminder_controls.c.incident_number == incidents.c.number,
        ),
    )
    .outerjoin(
        reminders,
        and_(
            reminders.c.workspace == incidents.c.workspace,
            reminders.c.incident_number == incidents.c.number,
            reminders.c.state.in_(_IN_FORCE),
        ),
    )
    .where(incidents.c.workspace == bindparam("workspace"))
    .where(incidents.c.number == bindparam("number"))
)
_CONTROL_OF = select(ReminderControl).where(
    reminder_controls.c.workspace == bindparam("workspace"),
    reminder_controls.c.incident_number == bindparam("number"),
)
_RECORD_EVENT: dict[str, Any] = {
    "postgresql": postgresql.insert(processed_events).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(processed_events).on_conflict_do_nothing(),
}


def _retry_lost_races(engine: Engine) -> None:
    """A PostgreSQL deadlock or serialization failure, wherever in a unit of work it
    happens, is a lost race: the core handles the event again (ConcurrentChange)."""
    if getattr(engine, "_incident_bot_races", False):
        return
    engine._incident_bot_races = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        problem = context.sqlalchemy_exception
        if problem is not None and isinstance(problem, DBAPIError) and is_retryable(problem):
            raise ConcurrentChange(str(problem.orig)) from problem


class SqlAlchemyUnitOfWorkFactory:
    """Makes a fresh unit of work per call; all share one engine (and its pool)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session_factory = sessionmaker(bind=engine, expire_on_commit=False)

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.session_factory)

    def dispose(self) -> None:
        """Closes the engine's pooled connections."""
        self.engine.dispose()


def unit_of_work_factory(url_or_engine: str | URL | Engine) -> SqlAlchemyUnitOfWorkFactory:
    """Maps the domain (once) and returns a factory of units of work on the database."""
    start_mappers()
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    _retry_lost_races(engine)
    return SqlAlchemyUnitOfWorkFactory(engine)


__all__ = [
    "SqlAlchemyIncidentRepository",
    "SqlAlchemyPeopleRepository",
    "SqlAlchemyProcessedEvents",
    "SqlAlchemyReminderRepository",
    "SqlAlchemyUnitOfWork",
    "SqlAlchemyUnitOfWorkFactory",
    "unit_of_work_factory",
]
