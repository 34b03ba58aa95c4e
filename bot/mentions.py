"""People named inside free text: the core's own reference form, resolved at render time.

A note, a tagged message, a section, an action item or a back-dated entry may name
people. The core keeps them as references, `{@USER_ID}` (the form the automatic
entries always used), never as the name they had when the message arrived, so a name
changed later shows its current form wherever the text is rendered: a reply, a draft,
`show` on the command line.

Adapters write references for the platform's own mentions (Slack `<@U…>`, Matrix pills
and user ids) and pass every other piece of what people typed through `literal`, which
breaks a typed `{@…}` look-alike with an invisible WORD JOINER. So only the adapter can
make a reference; a person typing `{@UCEO}` gets the characters they typed back, and
never a lookup of an arbitrary id. Names coming back from a platform are made literal
the same way before they are put into text, so a name that looks like a reference is
never resolved a second time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

NameOf = Callable[[str], str]

# A user id never holds whitespace or braces; anything else is left as text.
REFERENCE = re.compile(r"\{@([^{}\s]+)\}")
_LOOKALIKE = re.compile(r"\{(?=@)")
WORD_JOINER = "\u2060"


def reference(user: str) -> str:
    """How the core writes a mention of `user` inside free text."""
    return f"{{@{user}}}"


def literal(text: str) -> str:
    """Typed text with any `{@` look-alike broken, so it can never become a reference.

    The WORD JOINER is invisible in chat, Markdown, HTML and Word: people read back
    exactly the characters they typed.
    """
    return _LOOKALIKE.sub("{" + WORD_JOINER, text)


def parse_reference(token: str) -> str | None:
    """The user id of a token that is exactly one reference, else None."""
    match = REFERENCE.fullmatch(token.strip())
    return match.group(1) if match else None


def users_in(text: str) -> list[str]:
    """The user ids referenced in text, in order, once each."""
    return list(dict.fromkeys(match.group(1) for match in REFERENCE.finditer(text)))


def users_in_all(texts: Iterable[str | None]) -> list[str]:
    found: dict[str, None] = {}
    for text in texts:
        if text:
            found.update(dict.fromkeys(users_in(text)))
    return list(found)


def resolve(text: str, name_of: NameOf) -> str:
    """References replaced by the people's names, in one pass (a name is never resolved
    again, even if it looks like a reference)."""
    if "{@" not in text:
        return text  # most text names nobody: no need to run the pattern
    return REFERENCE.sub(lambda match: literal(name_of(match.group(1))), text)
