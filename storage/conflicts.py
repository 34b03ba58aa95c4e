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
