"""Slack's message markup, both ways.

Inbound: Slack escapes `&`, `<` and `>` and writes mentions, channels and links as
`<…>` tokens. The core gets plain text in which a mention is the core's reference to
the person (`{@U123}`), resolved to their current name whenever the text is rendered;
what people typed is otherwise kept as typed (a typed `{@…}` look-alike is made
literal, see `bot.mentions`). Outbound: the core's replies are plain text with
`code spans`; everything but the mentions and channel links the adapter itself put in
is escaped, so user text cannot ping `@channel`, forge a link, or forge a mention.

The adapter's own mentions travel through the core as `MARK@U123MARK` (MARK a Unicode
private-use character that inbound text never keeps) and become `<@U123>` only at
`escape`; a person who types `<@U123>` gets those characters back, not a ping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.mentions import literal, reference

NameOf = Callable[[str], str]

# `<@U123>`, `<@U123|alice>`, `<#C123|general>`, `<!here>`, `<https://x|label>`
_TOKEN = re.compile(r"<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
MARK = "\ue000"  # private use: stripped from everything Slack delivers
_MARKED = re.compile(MARK + r"([@#])([UWC][A-Z0-9]+)" + MARK)
SECTION_LIMIT = 3000  # characters in one section block's text
HEADER_LIMIT = 150  # characters in a header block
BLOCK_LIMIT = 50  # blocks in one message


def mentioned_users(text: str) -> list[str]:
    """The user ids `<@U…>` tokens in Slack text mention, in order, once each."""
    found: list[str] = []
    for match in _TOKEN.finditer(text):
        user = match.group(2)
        if match.group(1) == "@" and _USER_ID.match(user) and user not in found:
            found.append(user)
    return found


def plain_text(text: str) -> str:
    """Slack message text as the core keeps it: `<@U1> see <#C2|ops>` -> `@{@U1} see #ops`.

    The mention is a reference the core resolves to the person's name when it renders
    the text; everything else is what the person typed, made literal.
    """
    out: list[str] = []
    typed = ""  # text between references, made literal as a whole (a `{` and an `@`
    position = 0  # from two pieces must not form a look-alike either)
    for match in _TOKEN.finditer(text):
        typed += _unescape(text[position : match.start()])
        sigil, target = match.group(1), match.group(2)
        if sigil == "@" and _USER_ID.match(target):
            # `@Ada Lovelace`, as Slack showed the mention to the people in the channel.
            out += [literal(typed + "@"), reference(target)]
            typed = ""
        else:
            typed += _unescape(_token_text(match))
        position = match.end()
    typed += _unescape(text[position:])
    out.append(literal(typed))
    return "".join(out)


def _token_text(match: re.Match[str]) -> str:
    """A channel, special mention or link token as a person reads it."""
    sigil, target, label = match.group(1), match.group(2), match.group(3)
    if sigil == "@":
        return f"@{label or target}"
    if sigil == "#":
        return f"#{label or target}"
    if sigil == "!":
        if label:
            return label  # `<!subteam^S1|@oncall>`, `<!date^…|fallback>`
        return f"@{target}"  # `<!here>`, `<!channel>`, `<!everyone>`
    if label and label != target:
        return f"{label} ({target})"
    return target


def command_text(text: str) -> str:
    """A slash command's text for the core's parser.

    `role` and `action` name a person in their last word, which the parser reads as a
    mention (`<@U…>`), so that one stays a mention; every other mention is free text
    and becomes a reference the core resolves to the person's name when it renders it.
    """
    words = text.split()
    if len(words) > 1 and words[0].lower() in ("start", "declare"):
        return _start_text(text)
    if len(words) > 1 and words[0].lower() in ("role", "action"):
        last = words[-1]
        if _TOKEN.fullmatch(last) and last.startswith("<@"):
            head = text[: text.rstrip().rfind(last)]
            return f"{plain_text(head)}{_mention_only(last)}"
    return plain_text(text)


_INVITE_OPTION = re.compile(r"(?:^|\s)--invite(?=\s|$)")


def _start_text(text: str) -> str:
    """`start DB down, cc <@U2>` -> `start DB down, cc @{@U2} --invite <@U2>`.

    Everyone the command mentions is invited, as Slack users expect; the core reads
    whom to invite from `--invite`, and writes the title with the names, not the ids.
    """
    head, *tail = _INVITE_OPTION.split(text, maxsplit=1)
    invite = [f"<@{user}>" for user in mentioned_users(text)]
    # Anything else after `--invite` goes to the core, which says it is no mention.
    invite += [word for word in " ".join(tail).split() if not _TOKEN.fullmatch(word)]
    title = plain_text(head).rstrip()
    return f"{title} --invite {' '.join(invite)}" if invite else title


def _mention_only(token: str) -> str:
    """`<@U1|ada>` -> `<@U1>`: the label is Slack's legacy username, not a display name."""
    match = _TOKEN.fullmatch(token)
    return f"<@{match.group(2)}>" if match else token


def _unescape(text: str) -> str:
    text = text.replace(MARK, "")  # nobody types the adapter's own mention mark
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def own_mention(user: str) -> str:
    """A mention the adapter writes: a ping in what Slack shows, never forgeable."""
    return f"{MARK}@{user}{MARK}"


def own_channel_link(channel_id: str) -> str:
    return f"{MARK}#{channel_id}{MARK}"


def link_channels(text: str, channels: Mapping[str, str]) -> str:
    """`Join #inc-3-db.` -> `Join <#C123>.`: a link Slack shows with the channel's name."""
    for name, channel_id in channels.items():
        link = own_channel_link(channel_id)  # ids are [A-Z0-9]: nothing for re to expand
        text = re.sub(rf"#{re.escape(name)}(?![a-z0-9_-])", link, text)
    return text


def escape(text: str) -> str:
    """Plain text for Slack: `&`, `<`, `>` escaped; only the mentions and channel links
    the adapter put in (`own_mention`, `own_channel_link`) become `<@U…>` and `<#C…>`."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKED.sub(lambda match: f"<{match.group(1)}{match.group(2)}>", text)


def names_only(text: str, name_of: NameOf) -> str:
    """Text for places Slack shows as plain text (headers): mentions become names."""
    return _MARKED.sub(
        lambda match: f"@{name_of(match.group(2))}" if match.group(1) == "@" else match.group(0),
        text,
    ).replace(MARK, "")


def blocks(text: str, name_of: NameOf, *, is_error: bool = False) -> list[dict[str, Any]]:
    """Block Kit for a reply: a header for a titled listing or summary, then sections."""
    first, _, rest = text.partition("\n")
    out: list[dict[str, Any]] = []
    titled = first.endswith(":") or re.match(r"^Incident \d+:", first) is not None
    if rest and not is_error and titled and len(first) <= HEADER_LIMIT and "`" not in first:
        header = names_only(first, name_of)[:HEADER_LIMIT]
        out.append({"type": "header", "text": {"type": "plain_text", "text": header}})
        text = rest
    for chunk in _chunks(escape(text)):
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return out[:BLOCK_LIMIT]


def _chunks(text: str) -> list[str]:
    """Splits at line ends into pieces a section block can hold."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > SECTION_LIMIT:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:SECTION_LIMIT])
            line = line[SECTION_LIMIT:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > SECTION_LIMIT:
            chunks.append(current)
            candidate = line
        current = candidate
    if current.strip():
        chunks.append(current)
    return chunks or [" "]
