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
        if (
            not attribute.startswith("_")
            and hasattr(type(obj), "__dataclass_fields__")
            and not isinstance(obj, type)
        ):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass
        return super().getattr(obj, attribute)


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
