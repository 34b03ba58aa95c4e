"""Renders a draft from a template and a view, with user text escaped for the format."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import DictLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.domain import slugify
from bot.drafts.markdown import escape_block, escape_inline
from bot.drafts.templates import MEDIA_TYPES, Template, TemplateError, TemplateRegistry
from bot.drafts.view import DraftView, SectionView


class Safe(str):
    """Text already escaped for the output format; the renderer leaves it alone."""


@dataclass(frozen=True)
class Draft:
    filename: str
    content: bytes
    media_type: str
    format: str


def _md_finalize(value: object) -> object:
    # Every `{{ … }}` passes through here: user text is escaped unless a filter
    # already produced escaped markup. This is what makes escaping the default.
    if value is None:
        return ""
    if isinstance(value, Safe | int):
        return value
    return escape_inline(str(value))


def _md_block(value: object) -> Safe:
    return Safe(escape_block("" if value is None else str(value)))


def _md_raw(value: object) -> Safe:
    """For template-author text (guidance), which may be Markdown on purpose."""
    return Safe("" if value is None else str(value))


def _md_body(section: SectionView) -> Safe:
    """A written section's text, or the mark of one still to be written."""
    if section.filled and section.text is not None:
        return Safe(escape_block(section.text))
    guidance = f" {section.guidance}" if section.guidance else ""
    return Safe(f"> **To be written.**{guidance}\n> Fill it in with `{section.fill_command}`.")


def render(view: DraftView, template: Template, registry: TemplateRegistry, fmt: str) -> Draft:
    source = template.sources.get(fmt)
    if source is None:
        raise TemplateError(
            template.name, f"has no `{fmt}` format; it has {', '.join(template.formats)}"
        )
    environment = SandboxedEnvironment(
        loader=DictLoader({**registry.shared_sources, "draft": source}),
        undefined=StrictUndefined,
        finalize=_md_finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["block"] = _md_block
    environment.filters["raw"] = _md_raw
    environment.globals["body"] = _md_body
    text = environment.get_template("draft").render(draft=view)
    filename = f"incident-{view.number}-{slugify(view.title)}-{template.name}.{fmt}"
    return Draft(filename, text.encode("utf-8"), MEDIA_TYPES[fmt], fmt)
