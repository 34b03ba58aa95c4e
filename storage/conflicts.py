"""Telling a lost race from a real failure: both backends' ways of saying "someone else
got there first" become the core's `ConcurrentChange`, which the core retries."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from bot.ports import ConcurrentChange

# PostgreSQL: a deadlock between two writers (one of them is chosen to fail), and a
# serialization failure; both leave nothing behind and succeed when tried again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_unique_violation(problem: IntegrityError) -> bool:
    # PostgreSQL names it by SQLSTATE; SQLite only in the message.
    if getattr(problem.orig, "sqlstate", None) == "23505":
        return True
    return "UNIQUE constraint failed" in str(problem.orig)


def is_retryable(problem: DBAPIError) -> bool:
    return getattr(problem.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def flush(session: Session) -> None:
    """Flushes, turning a lost race (a unique key taken meanwhile) into ConcurrentChange
    as `SqlAlchemyUnitOfWork.commit()` does."""
    try:
        session.flush()
    except IntegrityError as problem:
        session.rollback()
        if is_unique_violation(problem):
            raise ConcurrentChange(str(problem.orig)) from problem
        raise


def flush_if_new(session: Session, *kinds: type) -> bool:
    """Flushes when the session holds a new object of one of `kinds` (a query about
    them must see it; a reminder must find its new incident), and says whether it did.

    Otherwise nothing is flushed yet: the unit of work's writes go out together, in one
    flush at commit, rather than a flush before every query (each costs CPU).
    """
    if any(isinstance(pending, kinds) for pending in session.new):
        flush(session)
        return True
    return False
