"""Text any encoder and any XML writer can hold, whatever was recorded.

Chat text is cleaned when it arrives (`bot/service.py`), but a draft is made from what
is stored, which may come from an older version or straight from the database. So every
string of the view is cleaned once more before a format sees it: control characters
that XML 1.0 cannot hold and the two non-characters U+FFFE/U+FFFF go, and a lone UTF-16
surrogate (which no codec can encode) becomes U+FFFD, the replacement character.
Everything else (emoji, combining marks, right-to-left text) is kept as written.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
import re
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SURROGATES = re.compile("[\ud800-\udfff]")

T = TypeVar("T")


def clean_text(text: str) -> str:
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub("", _SURROGATES.sub("\ufffd", text))


def clean(value: T) -> T:
    """`value` with every string in it cleaned: dataclasses, tuples, lists and dicts are
    walked; an unchanged part is returned as the very same object."""
    return cast(T, _clean(value))


@functools.cache
def _init_fields(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls) if field.init)


def _clean(value: object) -> object:
    if isinstance(value, str):
        return clean_text(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for name in _init_fields(type(value)):
            old = getattr(value, name)
            # A timeline's 10,000 lines are mostly short clean strings: checked here
            # rather than through another call.
            if type(old) is str and _UNSAFE.search(old) is None:
                continue
            new = _clean(old)
            if new is not old:
                changes[name] = new
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, tuple | list):
        if len(value) > 1 and _clean_records(value):
            return value
        items = [_clean(item) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, dict):
        cleaned = {_clean(key): _clean(item) for key, item in value.items()}
        unchanged = all(
            key in value and cleaned[key] is value[key] for key in cleaned
        ) and len(cleaned) == len(value)
        return value if unchanged else cleaned
    return value


# Values whose text (`str`) can hold nothing to clean unless they are text themselves.
_FLAT_TYPES = frozenset({str, int, bool, float, type(None)})


def _clean_records(items: Sequence[object]) -> bool:
    """Whether `items` are instances of one dataclass holding only strings, numbers and
    None (a timeline's 10,000 lines), none of it to be cleaned: then `_clean` leaves
    them as they are. Found with one search over all their text instead of one call
    per field; False (clean them one by one) when unsure."""
    kind = type(items[0])
    if not dataclasses.is_dataclass(kind) or any(type(item) is not kind for item in items):
        return False
    values = list(itertools.chain.from_iterable(map(_fields_of(kind), items)))
    if not _FLAT_TYPES.issuperset(map(type, values)):
        return False
    # Joined, no unsafe character can appear or vanish: each is one character.
    return _UNSAFE.search("".join(map(str, values))) is None


@functools.cache
def _fields_of(cls: type) -> Callable[[object], tuple[object, ...]]:
    """The values of `cls`'s `__init__` fields of an instance, as a tuple."""
    names = _init_fields(cls)
    if not names:
        return lambda item: ()
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda item: (one(item),)
    return cast(Callable[[object], tuple[object, ...]], operator.attrgetter(*names))
