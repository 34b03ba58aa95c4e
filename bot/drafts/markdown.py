"""Escaping user text for Markdown so it can never become markup.

User text reaches a template only as data. This escaper makes sure that, once in the
document, it cannot start a heading, a list, a quote, a table row, a code fence, front
matter, a link, emphasis or raw HTML. Readability of the raw file matters too (people
read drafts as plain text), so only characters that could mean something are escaped.
"""

from __future__ import annotations

import re

_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# Constructs that are markup only at the start of a line (after optional spaces).
_LINE_START = re.compile(r"^(#|[-+=])")
_ORDERED_ITEM = re.compile(r"^([0-9]+)([.)])(?=\s|$)")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def escape_inline(text: str) -> str:
    """Escapes text that must stay on one line: a table cell, a list item, a heading."""
    # Joined on spaces it has no line break left: one line, escaped as `escape_block`
    # would escape it, without splitting it into lines (a draft escapes thousands).
    return _escape_line(" ".join(text.split()))


def escape_block(text: str) -> str:
    """Escapes a paragraph or several; line breaks are kept, as hard breaks."""
    # Markdown ends a line at \n, \r\n and a lone \r alike: a lone \r must not smuggle
    # in a line that starts a heading.
    lines = [_escape_line(line) for line in _LINE_BREAK.split(text)]
    out: list[str] = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        # A trailing backslash is Markdown's hard line break: keeps the writer's lines.
        out.append(line + "\\" if line and following else line)
    return "\n".join(out)


def backslash_escaped(text: str) -> str:
    """`text` with a backslash before each character that is markup wherever it stands:
    \\ ` * _ [ ] | ~.

    One `replace` a character, the backslash first (so the backslashes added after it
    are not doubled): three times quicker than `str.translate` with a table, which
    builds the text a character at a time, and a draft escapes every time, name and
    line of its timeline.
    """
    return (
        text.replace("\\", "\\\\")
        .replace("`", "\\`")
        .replace("*", "\\*")
        .replace("_", "\\_")
        .replace("[", "\\[")
        .replace("]", "\\]")
        .replace("|", "\\|")
        .replace("~", "\\~")
    )


def _escape_line(line: str) -> str:
    # Leading spaces would make an indented code block; they carry no meaning here.
    line = line.strip()
    if "&" in line:
        line = _ENTITY.sub("&amp;", line)
    line = backslash_escaped(line.replace("<", "&lt;").replace(">", "&gt;"))
    if _LINE_START.match(line):
        return "\\" + line
    # `1. item` would start a list; CommonMark escapes the dot, not the digit.
    return _escape_ordered_item(line) if line[:1].isdigit() else line


def _escape_ordered_item(line: str) -> str:
    """`1. item` as `1\\. item`; any other line as it is."""
    found = _ORDERED_ITEM.match(line)
    return f"{found[1]}\\{found[2]}{line[found.end() :]}" if found else line
