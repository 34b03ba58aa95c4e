"""Renders a draft from a template and a view, with user text escaped for the format.

User text reaches a layout only as data, and each format has one mechanism that makes
escaping the default rather than something a layout must remember:

- md: every `{{ … }}` passes through `finalize`, which escapes it for Markdown unless it
  is `Safe` (already escaped by a filter of ours).
- html: Jinja's autoescape.
- docx: python-docx text runs, which Word never interprets (see `bot/drafts/docx.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from jinja2 import DictLoader, StrictUndefined
from jinja2.exceptions import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from bot.drafts.document import DocumentText, document_text, paragraphs
from bot.drafts.jekyll import liquid_literal
from bot.drafts.links import safe_url
from bot.drafts.markdown import escape_block, escape_inline
from bot.drafts.templates import (
    HTML_FILE,
    MD_FILE,
    MEDIA_TYPES,
    Template,
    TemplateError,
    TemplateRegistry,
)
from bot.drafts.view import DraftView, SectionView

SHARED_PAGE = "page.html.j2"


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


def _md_comment(value: object) -> Safe:
    """Template-author text inside `<!-- … -->`; a `--` could end the comment early."""
    return Safe(("" if value is None else str(value)).replace("--", "- -"))


def _md_yaml_string(value: object) -> Safe:
    """A double-quoted YAML scalar (JSON is YAML): for a front matter value."""
    return Safe(json.dumps(" ".join(str(value).split()), ensure_ascii=False))


_PLAIN_YAML = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]*")


def _md_yaml_plain(value: object) -> Safe:
    """A front matter value as the seed writes it (`layout: post`), quoted only if needed."""
    text = " ".join(str(value).split())
    return Safe(text) if _PLAIN_YAML.fullmatch(text) else _md_yaml_string(text)


def _md_url(value: object) -> Safe:
    """A link destination: http(s) only, %-encoded, so it cannot end the link early."""
    return Safe(safe_url(str(value)) or "#")


def _md_todo(section: SectionView, command: str | None = None) -> Safe:
    guidance = f" {section.guidance}" if section.guidance else ""
    return Safe(
        f"> **To be written.**{guidance}\n> Fill it in with `{command or section.fill_command}`."
    )


def _md_body(section: SectionView) -> Safe:
    """A written section's text, or the mark of one still to be written."""
    if section.filled and section.text is not None:
        return Safe(escape_block(section.text))
    return _md_todo(section)


def render(view: DraftView, template: Template, registry: TemplateRegistry, fmt: str) -> Draft:
    if fmt not in template.formats:
        raise TemplateError(
            template.name, f"has no `{fmt}` format; it has {', '.join(template.formats)}"
        )
    doc = document_text(view, template.layout, template.location or template.name)
    if fmt == "docx":
        # python-docx loads only when a Word file is asked for; no import cycle either way.
        from bot.drafts.docx import render_docx

        content = render_docx(view, template.layout, doc)
    elif fmt == "html":
        content = _render_html(view, template, registry, doc).encode("utf-8")
    else:
        content = _render_md(view, template, registry, doc).encode("utf-8")
    return Draft(f"{draft_name(view, template)}.{fmt}", content, MEDIA_TYPES[fmt], fmt)


_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def draft_name(view: DraftView, template: Template) -> str:
    """The draft's file name without extension, from the template's `filename`: the same
    wherever the draft is written or posted (a Jekyll post must be `YYYY-MM-DD-slug`)."""
    environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    try:
        raw = environment.from_string(template.filename).render(draft=view)
    except JinjaError as problem:
        where = f"{template.location or template.name}/template.toml (filename)"
        raise TemplateError(where, str(problem)) from None
    # Whatever the expression gives, the name stays one plain path segment.
    name = _UNSAFE_IN_NAME.sub("-", raw.strip()).strip("-.")
    return name or f"incident-{view.number}"


def _render_md(
    view: DraftView, template: Template, registry: TemplateRegistry, doc: DocumentText
) -> str:
    environment = SandboxedEnvironment(
        loader=DictLoader({**registry.shared_sources, "draft": template.sources["md"]}),
        undefined=StrictUndefined,
        finalize=_jekyll_finalize if template.jekyll else _md_finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters: dict[str, Callable[..., Safe]] = {
        "block": _md_block,
        "raw": _md_raw,
        "comment": _md_comment,
        "url": _md_url,
    }
    helpers: dict[str, Callable[..., Safe]] = {"body": _md_body, "todo": _md_todo}
    if template.jekyll:
        for table in (filters, helpers):
            table.update({name: _jekyll(function) for name, function in table.items()})
    # Front matter is YAML, which Jekyll never runs through Liquid: no Liquid escaping.
    filters["yaml_string"] = _md_yaml_string
    filters["yaml_plain"] = _md_yaml_plain
    environment.filters.update(filters)
    environment.globals.update(helpers)
    return _run(environment, f"{template.location}/{MD_FILE}", draft=view, doc=doc)


def _jekyll_finalize(value: object) -> object:
    # Safe values come from our filters, already made literal (see `_jekyll`).
    shown = _md_finalize(value)
    if isinstance(shown, Safe) or not isinstance(shown, str):
        return shown
    return Safe(liquid_literal(shown))


def _jekyll(function: Callable[..., Safe]) -> Callable[..., Safe]:
    """A filter or helper whose Markdown comes out of Liquid and kramdown as written."""
    return lambda *args, **kwargs: Safe(liquid_literal(function(*args, **kwargs)))


def _render_html(
    view: DraftView, template: Template, registry: TemplateRegistry, doc: DocumentText
) -> str:
    own = template.sources.get("html")
    page = own if own is not None else registry.shared_sources[SHARED_PAGE]
    environment = SandboxedEnvironment(
        loader=DictLoader({**registry.shared_sources, "draft": page}),
        undefined=StrictUndefined,
        autoescape=True,  # every value is HTML-escaped; nothing user-written is markup
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["paragraphs"] = paragraphs
    where = f"{template.location}/{HTML_FILE}" if own else f"_shared/{SHARED_PAGE}"
    return _run(environment, where, draft=view, doc=doc, layout=template.layout)


def _run(environment: SandboxedEnvironment, where: str, **context: object) -> str:
    try:
        return environment.get_template("draft").render(**context)
    except JinjaError as problem:
        # A team layout that names a field the draft lacks: say which file, not a traceback.
        raise TemplateError(where, f"cannot render: {problem}") from None
