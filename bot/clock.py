"""Clocks. Everything in the core reads time from one injected clock."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """The same moment as an aware UTC datetime (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to, and never backwards.

    The console's transcript player and the tests drive time with it.
    """

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> datetime:
        """Moves to `moment` unless that is in the past; returns the clock's time."""
        moment = utc(moment)
        if moment > self._now:
            self._now = moment
        return self._now
