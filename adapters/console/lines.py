"""The console transcript format, one line at a time (design §5).

    # a comment
    [2024-10-24 08:07] alice: /incident start Customer instances unavailable
    [08:09] #inc-2-db alice: Pods are in CrashLoopBackOff
    [08:10] bob: +:pushpin: 3
    [2024-10-25 09:00]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

from bot.emoji import name_of

HANDLE = r"[a-z0-9._-]+"


class LineError(ValueError):
    """A line the console cannot read; says what is wrong and how to write it."""


@dataclass(frozen=True)
class Stamp:
    on: date | None  # None: the clock's current date
    at: time

    def moment(self, *, today: date, zone: tzinfo) -> datetime:
        return datetime.combine(self.on or today, self.at).replace(tzinfo=zone)


@dataclass(frozen=True)
class Post:
    user: str
    text: str


@dataclass(frozen=True)
class React:
    user: str
    emoji: str  # a short name (`pushpin`), or the emoji itself when it has no known name
    add: bool  # False: the reaction is taken off
    message: int | None  # message number in the channel; None: the latest


@dataclass(frozen=True)
class Line:
    stamp: Stamp | None
    channel: str | None
    action: Post | React | None  # None: only a stamp, which moves the clock


_STAMP = re.compile(
    r"^\[(?:(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}) )?"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?\]\s*"
)
_CHANNEL = re.compile(rf"^#(?P<channel>{HANDLE})\s+(?=[a-z0-9._-]+:)")
_SPEAKER = re.compile(rf"^(?P<user>{HANDLE}):(?:\s+(?P<text>.*))?$", re.DOTALL)
_REACTION = re.compile(
    r"^(?P<sign>[+-])(?P<emoji>:[a-z0-9_+-]+:|[^\x00-\x7f\s]{1,8})(?:\s+#?(?P<number>[0-9]+))?\s*$"
)

FORMAT_HELP = "write `[STAMP] USER: TEXT`, `[STAMP] #channel USER: TEXT` or a bare `[STAMP]`"


def is_comment(raw: str) -> bool:
    stripped = raw.strip()
    return not stripped or (stripped.startswith("#") and _CHANNEL.match(stripped) is None)


def parse_line(raw: str, *, default_user: str | None = None) -> Line:
    """Reads one non-comment line. `default_user` lets an interactive user skip `USER:`."""
    rest = raw.strip()
    stamp = None
    match = _STAMP.match(rest)
    if rest.startswith("[") and match is None:
        raise LineError(
            f"`{rest.split(']')[0]}]` is not a stamp; write [YYYY-MM-DD HH:MM], [HH:MM] "
            "or either with :SS"
        )
    if match:
        stamp = _stamp(match)
        rest = rest[match.end() :]
    if not rest:
        return Line(stamp, None, None)
    channel = None
    channel_match = _CHANNEL.match(rest)
    if channel_match:
        channel = channel_match.group("channel")
        rest = rest[channel_match.end() :]
    speaker = _SPEAKER.match(rest)
    if speaker is None:
        if default_user is None:
            raise LineError(f"no speaker in `{_short(rest)}`; {FORMAT_HELP}")
        user, text = default_user, rest
    else:
        user, text = speaker.group("user"), (speaker.group("text") or "").strip()
    if not text:
        raise LineError(f"{user} says nothing; {FORMAT_HELP}")
    reaction = _REACTION.match(text)
    if reaction:
        number = reaction.group("number")
        emoji = reaction.group("emoji")
        return Line(
            stamp,
            channel,
            React(
                user=user,
                emoji=emoji.strip(":") if emoji.startswith(":") else (name_of(emoji) or emoji),
                add=reaction.group("sign") == "+",
                message=int(number) if number else None,
            ),
        )
    return Line(stamp, channel, Post(user, text))


def _stamp(match: re.Match[str]) -> Stamp:
    on = None
    if match.group("date"):
        try:
            on = date.fromisoformat(match.group("date"))
        except ValueError:
            raise LineError(f"`{match.group('date')}` is not a real date") from None
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    second = int(match.group("second") or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise LineError(f"`{match.group(0).strip()}` is not a time of day (00:00 to 23:59:59)")
    return Stamp(on, time(hour, minute, second))


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
