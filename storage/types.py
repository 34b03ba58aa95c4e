"""Column types: UTC datetimes and string-valued enums.

The domain holds timezone-aware UTC datetimes and `StrEnum` members; these types
make sure that is exactly what comes back out of either database.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

E = TypeVar("E", bound=enum.StrEnum)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in time, stored in UTC and always read back timezone-aware in UTC.

    PostgreSQL stores it as `timestamp with time zone`; SQLite, which has no such
    type, as the naive UTC wall time. Naive datetimes are refused when binding: the
    domain only deals in aware UTC moments, and a naive value is almost always a
    local time that slipped through.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime expects a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"UTCDateTime refuses the naive datetime {value.isoformat()}")
        moment = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return moment
        return moment.replace(tzinfo=None)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime read a {type(value).__name__}, not a datetime")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any]:
        """`process_result_value` after the dialect's own reading, as TypeDecorator does,
        in one call a value instead of two: a timeline of 10,000 entries reads 40,000."""
        read = self.impl_instance.result_processor(dialect, coltype)
        finish = self.process_result_value

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            if read is not None:
                value = read(value)
            return finish(value, dialect)

        if dialect.name != "sqlite":
            return process

        def process_text(value: Any) -> datetime | None:
            # SQLite holds the naive UTC wall time as ISO text, which the dialect reads
            # with `fromisoformat`. Read with its offset, it comes out in UTC at once:
            # the same moment, and `replace(tzinfo=UTC)` alone costs several times more.
            if type(value) is str:
                try:
                    return datetime.fromisoformat(value + "+00:00")
                except ValueError:
                    pass  # not naive ISO text: the usual way, whatever it says
            return process(value)

        return process_text


class StrEnumType(TypeDecorator[E]):
    """A `StrEnum` stored as its string value (a plain VARCHAR, no database enum type).

    Binding accepts a member or its value; reading returns the member.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum_class: type[E], length: int = 32) -> None:
        super().__init__(length)
        self.enum_class = enum_class
        # Read for every row (an entry's kind): a look-up rather than the enum's call.
        self._members: dict[str, E] = {member.value: member for member in enum_class}

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum_class(value).value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> E | None:
        if value is None:
            return None
        member = self._members.get(value)
        return member if member is not None else self.enum_class(value)
