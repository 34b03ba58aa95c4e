"""Reading times people write and showing times in the workspace's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from bot import limits
from bot.commands import When
from bot.domain import IncidentError


def resolve_when(
    when: When, *, zone: tzinfo, posted_at: datetime, usage: str = "timeline add WHEN TEXT"
) -> datetime:
    """The UTC moment a `timeline add` time means, seen from a message posted at `posted_at`.

    Without a date, the time is the latest one at or before the message: `23:50` written
    at 00:10 means yesterday. A time that does not exist on the wall clock (skipped by a
    daylight-saving change) or lies in the future is refused.
    """
    offset_zone: tzinfo = zone if when.utc_offset is None else timezone(when.utc_offset)
    local_posted = posted_at.astimezone(offset_zone)
    day = when.on or local_posted.date()
    command = " ".join(word for word in usage.split() if word.islower())
    limits.check_backdate(day, local_posted.date(), usage, command)
    if day > local_posted.date() + timedelta(days=1):  # before any sum could overflow
        raise IncidentError(
            f"{day.isoformat()} is in the future; `{command}` records what already happened.",
            usage,
        )
    moment = _wall_clock(datetime.combine(day, when.at), offset_zone, usage)
    if when.on is None and moment > posted_at:
        moment = _wall_clock(
            datetime.combine(day - timedelta(days=1), when.at), offset_zone, usage
        )
    if moment > posted_at + timedelta(minutes=1):
        raise IncidentError(
            f"{format_moment(moment, offset_zone, with_date=True)} is in the future; "
            f"`{command}` records what already happened.",
            usage,
        )
    return moment.astimezone(UTC)


def _wall_clock(naive: datetime, zone: tzinfo, usage: str) -> datetime:
    aware = naive.replace(tzinfo=zone)
    round_trip = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        raise IncidentError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone_name(zone)}: the clocks "
            "skipped it for daylight saving. Write the time in UTC, e.g. `13:40Z`.",
            usage,
        )
    return aware


def zone_name(zone: tzinfo) -> str:
    if isinstance(zone, ZoneInfo):
        return zone.key
    return str(zone)


def zone_label(zone: tzinfo, at: datetime) -> str:
    """`Europe/Oslo (CET)`, `UTC`: the zone named as people read it."""
    name = zone_name(zone)
    abbreviation = at.astimezone(zone).tzname()
    if abbreviation and abbreviation != name and not abbreviation.startswith(("+", "-")):
        return f"{name} ({abbreviation})"
    return name


def format_moment(moment: datetime, zone: tzinfo, *, with_date: bool) -> str:
    # Minutes, as people write timelines; the stored moment keeps its seconds.
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M}" if with_date else f"{local:%H:%M}"


def needs_dates(moments: list[datetime], zone: tzinfo) -> bool:
    """Dates are shown when the moments fall on more than one local day."""
    return len({moment.astimezone(zone).date() for moment in moments}) > 1


def format_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    return " ".join(parts)


def abbreviation(zone: tzinfo, at: datetime) -> str:
    """The zone's abbreviation in force at `at` (`BST`, `GMT`), or its offset (`UTC+03:00`)
    where the zone has none."""
    return local_abbreviation(at.astimezone(zone))


def local_abbreviation(local: datetime) -> str:
    """`abbreviation(zone, at)` for `at` already in the zone (`at.astimezone(zone)`)."""
    name = local.tzname()
    if name and not name.startswith(("+", "-")):
        return name
    return _offset_label(local.utcoffset() or timedelta(0))


def utc_offset(zone: tzinfo, at: datetime) -> str:
    return _offset_label(at.astimezone(zone).utcoffset() or timedelta(0))


def _offset_label(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    hours, rest = divmod(int(abs(offset).total_seconds()) // 60, 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def offset_changes(moments: list[datetime], zone: tzinfo) -> list[datetime]:
    """The instants between the first and last of `moments` at which the zone's offset
    changes (daylight saving), to the second, in order."""
    ordered = sorted(moments)
    offsets = [_offset(zone, moment) for moment in ordered]  # once each: a draft's 10,000
    changes: list[datetime] = []
    for index in range(1, len(ordered)):
        if offsets[index - 1] != offsets[index]:
            changes.extend(_changes_between(ordered[index - 1], ordered[index], zone))
    return changes


def _offset(zone: tzinfo, at: datetime) -> timedelta | None:
    return at.astimezone(zone).utcoffset()


def _changes_between(start: datetime, end: datetime, zone: tzinfo) -> list[datetime]:
    # Offsets change at most a few times a year: look day by day, then bisect the day.
    found: list[datetime] = []
    step = timedelta(days=1)
    low = start
    while low < end:
        high = min(low + step, end)
        if _offset(zone, low) != _offset(zone, high):
            # Offsets change on a whole second: bisect whole seconds since `low`.
            a, b = 0, int((high - low).total_seconds()) + 1
            while b - a > 1:
                middle = (a + b) // 2
                if _offset(zone, low + timedelta(seconds=middle)) == _offset(zone, low):
                    a = middle
                else:
                    b = middle
            found.append(low + timedelta(seconds=b))
        low = high
    return found
