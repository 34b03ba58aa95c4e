"""What every format of a draft shares before it is written out: the layout's title
lines rendered to plain text.

Both the renderer (`bot/drafts/render.py`) and the Word writer (`bot/drafts/docx.py`)
use these, so they live here and neither of those modules imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2.exceptions import TemplateError as JinjaError

from bot.drafts.environments import expression
from bot.drafts.templates import DocumentLayout, TemplateError
from bot.drafts.view import DraftView


@dataclass(frozen=True)
class DocumentText:
    """The layout's title lines, rendered to plain text (each format escapes them)."""

    title: str
    title_block: tuple[str, ...]
    overline: str = ""  # the line above the title on a report's cover


def document_text(view: DraftView, layout: DocumentLayout, location: str) -> DocumentText:
    def text(source: str) -> str:
        try:
            return " ".join(expression(source).render(draft=view).split())
        except JinjaError as problem:
            raise TemplateError(f"{location}/template.toml ([document])", str(problem)) from None

    return DocumentText(
        title=text(layout.title),
        title_block=tuple(line for line in map(text, layout.title_block) if line),
        overline=text(layout.overline),
    )
