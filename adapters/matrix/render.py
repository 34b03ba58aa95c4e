"""Text in and out of Matrix: commands from message bodies, and the core's plain
replies as HTML with a plain fallback.

Inbound, a person named in a message (a pill, or a user id typed out) becomes the core's
reference to them (`{@@bob:example.org}`), which is resolved to their current display
name whenever the text is rendered; everything else is what they typed, made literal
(see `bot.mentions`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote

from bot.mentions import literal, reference
from bot.ports import ChannelLink

COMMAND_PREFIX = "!incident"
_COMMAND = re.compile(r"^!incident(?:\s+(?P<rest>.*))?$", re.IGNORECASE | re.DOTALL)
# A Matrix user id as people write it in a message: `@per:example.org`, `@a:localhost:8008`.
USER_ID = r"@[a-z0-9._=\-/+]+:[a-z0-9.\-]+(?::[0-9]+)?"
_USER_ID_TOKEN = re.compile(rf"^{USER_ID}$", re.IGNORECASE)
_USER_ID_IN_TEXT = re.compile(rf"(?<![\w@]){USER_ID}", re.IGNORECASE)
_PILL_LINK = re.compile(r"^https://matrix\.to/#/(?P<id>(?:@|%40)[^?/]+)", re.IGNORECASE)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_ROOM_NAME = re.compile(r"#(inc-[0-9]+-[a-z0-9-]+)")


def room_link(room_id: str, *, via: str = "") -> ChannelLink:
    """A matrix.to permalink to the room, routed via `via` (the bot's server, which is
    in the room as long as the bot is), else via the server in the room id, if any
    (room ids of room version 12 have none)."""
    server = via or (room_id.split(":", 1)[1] if ":" in room_id else "")
    link = f"https://matrix.to/#/{quote(room_id, safe='!:')}"
    return ChannelLink("Matrix", f"{link}?via={quote(server, safe=':')}" if server else link)


def parse_mention(token: str) -> str | None:
    """`@per:example.org` or a matrix.to link to a user -> the full user id."""
    link = _PILL_LINK.match(token)
    if link:
        token = unquote(link.group("id"))
    return token if _USER_ID_TOKEN.match(token) else None


def command_text(content: Mapping[str, Any]) -> str | None:
    """The command of a `!incident …` message without its prefix, or None.

    Pills (links to users in the formatted body) become the user ids they point
    at, so `role comms <pill>` reads as `role comms @jonas:example.org`.
    """
    text = message_text(content)
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    return (match.group("rest") or "").strip()


def message_text(content: Mapping[str, Any]) -> str:
    """What a person wrote, people in it as references, without a quoted reply fallback.

    The plain `body` is what was typed, Markdown and line breaks included (Element
    renders the formatted body from it), so it is the text kept; the formatted body
    only says which names in it are pills, and those become references to the people.
    """
    raw = content.get("body")
    body = strip_reply_fallback(raw if isinstance(raw, str) else "")
    formatted = content.get("formatted_body")
    if content.get("format") != "org.matrix.custom.html" or not isinstance(formatted, str):
        return with_references(body)
    shown = _HtmlText.text_of(formatted).strip()
    if not _typed_in(body, _HtmlText.plain_of(formatted)):
        return shown  # a body that is not what the formatted one shows: trust the latter
    pills = _HtmlText.pills_of(formatted)
    written = _with_pills(body, pills) if pills else with_references(body)
    return written if written is not None else shown


def _typed_in(body: str, shown: str) -> bool:
    """Whether `body` could be what was typed to show `shown`: its letters and digits
    hold the shown ones in order (Markdown adds syntax, and link targets, never text)."""
    letters = iter(char for char in body if char.isalnum())
    return all(char in letters for char in shown if char.isalnum())


def _with_pills(body: str, pills: list[tuple[str, str]]) -> str | None:
    """`role comms Per Olsen` + the pill (`@per:x`, `Per Olsen`) -> `role comms {@@per:x}`;
    None when a pill's name is not found in the body, in order."""
    out: list[str] = []
    position = 0
    for user, shown in pills:
        found = body.find(shown, position) if shown else -1
        if found < 0:
            return None
        out += [with_references(body[position:found]), reference(user)]
        position = found + len(shown)
    out.append(with_references(body[position:]))
    return "".join(out)


def with_references(typed: str) -> str:
    """Typed text with each user id in it as a reference, the rest made literal."""
    out: list[str] = []
    position = 0
    for match in _USER_ID_IN_TEXT.finditer(typed):
        user = match.group(0).rstrip(".")  # `… ask @bob:example.org.` ends a sentence
        out += [literal(typed[position : match.start()]), reference(user)]
        position = match.start() + len(user)
    out.append(literal(typed[position:]))
    return "".join(out)


def strip_reply_fallback(body: str) -> str:
    lines = body.split("\n")
    if lines and lines[0].startswith("> <"):
        while lines and lines[0].startswith(">"):
            lines.pop(0)
        if lines and not lines[0].strip():
            lines.pop(0)
    return "\n".join(lines)


class _Pill:
    """A link to a user in a formatted body: Element's mention."""

    def __init__(self, user: str) -> None:
        self.user = user


class _HtmlText(HTMLParser):
    """Plain text of a formatted body; a link to a user is that user's id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str | _Pill] = []
        self._skip = 0  # inside <mx-reply>: the quoted message we are replying to
        self._pill: list[bool] = []
        self.pills: list[tuple[str, str]] = []  # (user id, the name shown), outside replies
        self.shown: list[str] = []  # all the text shown, pills' names included

    @classmethod
    def text_of(cls, formatted: str) -> str:
        parser = cls()
        parser.feed(formatted)
        parser.close()
        # Typed text and pills come out as separate parts: typed text (user ids typed
        # out included) is made literal as a whole, a pill is a reference.
        out: list[str] = []
        typed = ""
        for part in parser.parts:
            if isinstance(part, _Pill):
                out += [with_references(typed), reference(part.user)]
                typed = ""
            else:
                typed += part
        out.append(with_references(typed))
        return "".join(out)

    @classmethod
    def plain_of(cls, formatted: str) -> str:
        """The formatted body's text as shown, pills by their names, replies left out."""
        parser = cls()
        parser.feed(formatted)
        parser.close()
        return "".join(parser.shown)

    @classmethod
    def pills_of(cls, formatted: str) -> list[tuple[str, str]]:
        """The pills of a formatted body, in order: (user id, the name shown)."""
        parser = cls()
        parser.feed(formatted)
        parser.close()
        return parser.pills

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "mx-reply":
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            user = parse_mention(href)
            if user and not self._skip:
                self.parts.append(_Pill(user))
                self.pills.append((user, ""))
            self._pill.append(user is not None)

    def handle_endtag(self, tag: str) -> None:
        if tag == "mx-reply":
            self._skip = max(0, self._skip - 1)
        elif tag == "a" and self._pill:
            self._pill.pop()
        elif tag == "p" and not self._skip:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.shown.append(data)
        if self._pill and self._pill[-1] and not self._skip and self.pills:
            user, shown = self.pills[-1]
            self.pills[-1] = (user, shown + data)
        if self._skip or (self._pill and self._pill[-1]):
            return  # a pill's text is a display name; its user id was written instead
        self.parts.append(data)


def pill(user_id: str, name: str) -> str:
    return f'<a href="https://matrix.to/#/{html.escape(user_id)}">{html.escape(name)}</a>'


def to_html(
    text: str,
    *,
    name_of: Callable[[str], str],
    room_links: Mapping[str, str],
) -> str:
    """A core reply (plain text, `code spans` its only markup) as Matrix HTML.

    User ids become pills, `#inc-N-…` names of rooms we know become room links.
    """
    pieces: list[str] = []
    for index, part in enumerate(_CODE_SPAN.split(text)):
        if index % 2:
            pieces.append(f"<code>{html.escape(part)}</code>")
        else:
            pieces.append(_linked(part, name_of=name_of, room_links=room_links))
    return "".join(pieces).replace("\n", "<br/>")


def _linked(text: str, *, name_of: Callable[[str], str], room_links: Mapping[str, str]) -> str:
    out: list[str] = []
    position = 0
    users = [(m.start(), "user", m.group(0).rstrip(".")) for m in _USER_ID_IN_TEXT.finditer(text)]
    rooms = [(m.start(), "room", m.group(1)) for m in _ROOM_NAME.finditer(text)]
    for start, kind, value in sorted(users + rooms):
        if start < position:
            continue
        end = start + len(value) + (1 if kind == "room" else 0)
        out.append(html.escape(text[position:start]))
        if kind == "user":
            out.append(pill(value, name_of(value)))
        elif value in room_links:
            room_id = room_links[value]
            out.append(f'<a href="https://matrix.to/#/{html.escape(room_id)}">#{value}</a>')
        else:
            out.append(html.escape(f"#{value}"))
        position = end
    out.append(html.escape(text[position:]))
    return "".join(out)


def notice(
    text: str,
    *,
    name_of: Callable[[str], str],
    room_links: Mapping[str, str],
    is_error: bool = False,
) -> dict[str, Any]:
    """An `m.notice` (what bots send) with a plain body and its HTML twin."""
    formatted = to_html(text, name_of=name_of, room_links=room_links)
    if is_error:
        formatted = f"⚠️ {formatted}"
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": f"⚠️ {text}" if is_error else text,
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
    }
    mentioned = sorted({m.group(0).rstrip(".") for m in _USER_ID_IN_TEXT.finditer(text)})
    content["m.mentions"] = {"user_ids": mentioned} if mentioned else {}
    return content
