"""The tagging emoji (📌 by default): one setting, written as Slack's short name or as the
emoji itself, because Slack names reactions (`pushpin`) while Matrix and the console
use the character (📌). Each platform takes the half it needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VARIATION_SELECTOR = "\ufe0f"  # "show as emoji"; some clients add it, some do not

# Slack short names and their emoji, for the emoji a team is likely to tag with and
# the ones the bot itself uses. Another emoji is written as `NAME EMOJI`.
KNOWN: dict[str, str] = {
    "pushpin": "📌",
    "round_pushpin": "📍",
    "bookmark": "🔖",
    "bookmark_tabs": "📑",
    "star": "⭐",
    "star2": "🌟",
    "memo": "📝",
    "pencil2": "✏️",
    "spiral_note_pad": "🗒️",
    "clipboard": "📋",
    "paperclip": "📎",
    "triangular_flag_on_post": "🚩",
    "eyes": "👀",
    "rotating_light": "🚨",
    "white_check_mark": "✅",
    "warning": "⚠️",
}
CONFIRMATION = "white_check_mark"  # the bot's ✅ on a tagged message
_NAME = re.compile(r"^[a-z0-9_+'-]{1,100}$")


def bare(emoji: str) -> str:
    """The emoji without variation selectors, for comparing what clients send."""
    return emoji.replace(VARIATION_SELECTOR, "")


def char_of(name: str) -> str:
    """The emoji for a short name the bot knows; the name itself otherwise."""
    return KNOWN.get(name, name)


def name_of(emoji: str) -> str | None:
    """The short name of a known emoji character (with or without a variation selector)."""
    wanted = bare(emoji)
    return next((name for name, char in KNOWN.items() if bare(char) == wanted), None)


@dataclass(frozen=True)
class TagEmoji:
    """The reaction that puts a message on the timeline."""

    name: str = "pushpin"  # Slack's short name, without colons
    char: str = "📌"  # the emoji itself: Matrix's annotation key, the console's `+📌`

    def matches(self, key: str) -> bool:
        """Whether a reaction written as `key` (📌, 📌️, :pushpin: or pushpin) is this one."""
        key = key.strip()
        return bare(key) == bare(self.char) or key.strip(":") == self.name

    def describe(self) -> str:
        return f"{self.name} ({self.char})"


class TagEmojiError(ValueError):
    """A tag emoji setting that cannot be used; the message says how to write it."""


def parse_tag_emoji(text: str) -> TagEmoji:
    """`pushpin`, `:pushpin:`, `📌`, or `NAME EMOJI` for an emoji not in the table."""
    words = text.split()
    if len(words) == 2:
        name, char = words[0].strip(":"), words[1]
        if not _NAME.match(name) or not _is_emoji(char):
            raise TagEmojiError(_help(text))
        tag = TagEmoji(name, char)
    elif len(words) == 1:
        word = words[0]
        name = word.strip(":")
        if name in KNOWN:
            tag = TagEmoji(name, KNOWN[name])
        elif (known := name_of(word)) is not None:
            tag = TagEmoji(known, KNOWN[known])
        else:
            raise TagEmojiError(_help(text))
    else:
        raise TagEmojiError(_help(text))
    if tag.name == CONFIRMATION or bare(tag.char) == bare(KNOWN[CONFIRMATION]):
        raise TagEmojiError(
            f"`{text}`: ✅ is how the bot confirms a tagged message, so it cannot also be "
            "the tagging emoji; choose another, e.g. pushpin (📌)"
        )
    return tag


def _is_emoji(text: str) -> bool:
    return bool(text) and all(not char.isascii() and not char.isspace() for char in text)


def _help(text: str) -> str:
    known = ", ".join(
        f"{name} ({char})" for name, char in KNOWN.items() if name != CONFIRMATION
    )
    return (
        f"`{text}` is not an emoji the bot knows. Write a Slack short name or the emoji "
        f"itself: {known}; for another emoji write both, its Slack name and the emoji, "
        "e.g. `hammer_and_wrench 🛠️`"
    )
