"""The sandboxed Jinja environments drafts render in, made once and reused.

Compiling a layout takes tens of milliseconds, more than rendering a short draft. An
environment is cached by everything it is made from: the format, the sources it can load
(a team's layout as it is now, the shared partials) and, for md, whether the template is a
Jekyll post. A changed file is other source text, hence another environment; nothing
stale can be rendered. The caches are bounded (a team editing its layout makes a few).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from jinja2 import DictLoader, StrictUndefined
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment


class DraftEnvironment(SandboxedEnvironment):
    """The sandbox, with a quick path for reading the view's fields (a timeline of
    10,000 lines reads 30,000): the same answer as the sandbox gives, sooner.

    The view is dataclass instances. For those the sandbox's rule is simply "no
    attribute starting with `_`": they are not functions, methods, types, code, frames
    or generators, whose other attributes it also refuses."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if _is_view(type(obj)) and not attribute.startswith("_"):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        # `draft.timeline | groupby("date")` reads each line's field this way. The
        # sandbox tries `obj[argument]` first, which a view cannot answer (TypeError),
        # then reads the attribute as `getattr` does: the same answer, without the
        # exception for each of 10,000 lines.
        if (
            type(argument) is str
            and _is_view(type(obj))
            and not _is_subscriptable(type(obj))
            and not argument.startswith("_")
        ):
            try:
                return getattr(obj, argument)
            except AttributeError:
                pass
        return super().getitem(obj, argument)


# Answers by class, asked for every field a layout reads: a few classes, 30,000 reads.
_VIEW_CLASSES: dict[type, bool] = {}
_SUBSCRIPTABLE: dict[type, bool] = {}


def _is_view(kind: type) -> bool:
    """Whether `kind`'s instances are dataclass instances (a view's parts), not classes."""
    known = _VIEW_CLASSES.get(kind)
    if known is None:
        known = _VIEW_CLASSES[kind] = (
            hasattr(kind, "__dataclass_fields__") and not issubclass(kind, type)
        )
    return known


def _is_subscriptable(kind: type) -> bool:
    known = _SUBSCRIPTABLE.get(kind)
    if known is None:
        known = _SUBSCRIPTABLE[kind] = hasattr(kind, "__getitem__")
    return known


_PLAIN = DraftEnvironment(undefined=StrictUndefined, autoescape=False)


@functools.lru_cache(maxsize=256)
def expression(source: str) -> JinjaTemplate:
    """A one-line template (a title, a file name) in a plain sandbox, compiled once."""
    return _PLAIN.from_string(source)


@functools.lru_cache(maxsize=32)
def environment(
    sources: tuple[tuple[str, str], ...],
    make: Callable[[DictLoader], DraftEnvironment],
) -> DraftEnvironment:
    """The environment `make` builds over these sources (name, text), made once."""
    return make(DictLoader(dict(sources)))
