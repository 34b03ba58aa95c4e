"""Renders a draft from a template and a view, with user text made safe for the format.

User text reaches a layout only as data, and each format has one mechanism that makes
escaping the default rather than something a layout must remember:

- md: every `{{ … }}` passes through `finalize`, which escapes it for Markdown unless it
  is `Safe` (made safe by a filter of ours). The Markdown people write (a section's
  text through `body()`/`markdown`, a timeline line through `inline`) is rewritten by
  `bot/drafts/user_markdown.py`, which keeps its formatting and drops what may not be.
- html: Jinja's autoescape; the same filters give HTML rendered from that safe Markdown.
- docx: python-docx text runs, which Word never interprets (see `bot/drafts/docx.py`).

Text for the team, not the reader (what an empty section needs, who generated the
draft), is an HTML comment in md and html: invisible once rendered.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from jinja2 import DictLoader, StrictUndefined
from jinja2.exceptions import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from bot.drafts import environments, user_markdown
from bot.drafts.document import DocumentText, document_text
from bot.drafts.environments import DraftEnvironment
from bot.drafts.jekyll import liquid_literal
from bot.drafts.links import safe_url
from bot.drafts.markdown import escape_inline
from bot.drafts.safe_text import clean
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
    return _escaped_inline(str(value))


@functools.lru_cache(maxsize=4096)
def _escaped_inline(text: str) -> str:
    # A timeline's times and names repeat from line to line (10,000 lines, a few
    # thousand minutes, a few people): each is escaped once.
    return escape_inline(text)


def _md_block(value: object) -> Safe:
    """A section's text: the Markdown the team wrote, made safe (see user_markdown)."""
    return Safe(user_markdown.section("" if value is None else str(value)))


def _md_inline(value: object) -> Safe:
    """A timeline line or action item: inline Markdown only, on one line."""
    return Safe(user_markdown.inline("" if value is None else str(value)))


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


def _comment_text(value: object) -> str:
    # Inside `<!-- … -->`, a `--` could end the comment early, and so could `>` after it.
    return ("" if value is None else str(value)).replace("--", "- -").replace(">", "&gt;")


def todo_text(guidance: str, command: str, *, with_guidance: bool = True) -> str:
    """What an empty section needs, in one form for every template and format."""
    lead = f"To be written. {guidance}" if with_guidance and guidance else "To be written."
    return f"{lead} Fill it in with: {command}"


def _md_todo(
    section: SectionView, command: str | None = None, *, guidance: bool = True
) -> Safe:
    text = todo_text(section.guidance, command or section.fill_command, with_guidance=guidance)
    return Safe(f"<!-- {_comment_text(text)} -->")


def _md_body(section: SectionView) -> Safe:
    """A written section's text, or the comment saying how to write it."""
    if section.filled and section.text is not None:
        return _md_block(section.text)
    return _md_todo(section)


def _md_generator(view: DraftView) -> Safe:
    return Safe(f"<!-- Draft generated by {_comment_text(view.generator)}. -->")


def _html_markdown(value: object) -> Markup:
    return Markup(user_markdown.to_html(user_markdown.section("" if value is None else str(value))))


def _html_inline(value: object) -> Markup:
    return Markup(user_markdown.inline_as_html("" if value is None else str(value)))


def _html_todo(guidance: str, command: str, with_guidance: bool = True) -> Markup:
    text = todo_text(guidance, command, with_guidance=with_guidance)
    return Markup(f"<!-- {escape(text)} -->")


def render(view: DraftView, template: Template, registry: TemplateRegistry, fmt: str) -> Draft:
    if fmt not in template.formats:
        raise TemplateError(
            template.name, f"has no `{fmt}` format; it has {', '.join(template.formats)}"
        )
    view = clean(view)  # whatever was stored: every encoder and XML writer can take it
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
    try:
        raw = environments.expression(template.filename).render(draft=view)
    except JinjaError as problem:
        where = f"{template.location or template.name}/template.toml (filename)"
        raise TemplateError(where, str(problem)) from None
    # Whatever the expression gives, the name stays one plain path segment.
    name = _UNSAFE_IN_NAME.sub("-", raw.strip()).strip("-.")
    return name or f"incident-{view.number}"


def _render_md(
    view: DraftView, template: Template, registry: TemplateRegistry, doc: DocumentText
) -> str:
    sources = (*registry.shared_sources.items(), ("draft", template.sources["md"]))
    make = _jekyll_md_environment if template.jekyll else _md_environment
    return _run(
        environments.environment(sources, make),
        f"{template.location}/{MD_FILE}",
        draft=view,
        doc=doc,
        layout=template.layout,
    )


def _md_environment(loader: DictLoader, *, jekyll: bool = False) -> DraftEnvironment:
    environment = DraftEnvironment(
        loader=loader,
        undefined=StrictUndefined,
        finalize=_jekyll_finalize if jekyll else _md_finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters: dict[str, Callable[..., Safe]] = {
        "block": _md_block,
        "markdown": _md_block,
        "inline": _md_inline,
        "raw": _md_raw,
        "comment": _md_comment,
        "url": _md_url,
    }
    helpers: dict[str, Callable[..., Safe]] = {
        "body": _md_body,
        "todo": _md_todo,
        "generator": _md_generator,
    }
    if jekyll:
        for table in (filters, helpers):
            table.update({name: _jekyll(function) for name, function in table.items()})
    # Front matter is YAML, which Jekyll never runs through Liquid: no Liquid escaping.
    filters["yaml_string"] = _md_yaml_string
    filters["yaml_plain"] = _md_yaml_plain
    environment.filters.update(filters)
    environment.globals.update(helpers)
    return environment


def _jekyll_md_environment(loader: DictLoader) -> DraftEnvironment:
    return _md_environment(loader, jekyll=True)


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
    sources = (*registry.shared_sources.items(), ("draft", page))
    where = f"{template.location}/{HTML_FILE}" if own else f"_shared/{SHARED_PAGE}"
    return _run(
        environments.environment(sources, _html_environment),
        where,
        draft=view,
        doc=doc,
        layout=template.layout,
    )


def _html_environment(loader: DictLoader) -> DraftEnvironment:
    environment = DraftEnvironment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=True,  # every value is HTML-escaped; nothing user-written is markup
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["markdown"] = _html_markdown
    environment.filters["inline"] = _html_inline
    environment.globals["todo_comment"] = _html_todo
    return environment


def _run(environment: SandboxedEnvironment, where: str, **context: object) -> str:
    try:
        return environment.get_template("draft").render(**context)
    except JinjaError as problem:
        # A team layout that names a field the draft lacks: say which file, not a traceback.
        raise TemplateError(where, f"cannot render: {problem}") from None
