"""Helpers for the draft tests: an incident whose every user-written field holds a
given text, rendered through a template in md, html or docx, and each format's
structure read back (markdown-it-py, html.parser, python-docx)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import docx
from markdown_it import MarkdownIt

from bot.domain import WRITTEN_SECTION_IDS, Incident, Role
from bot.drafts.render import render
from bot.drafts.templates import TemplateRegistry, builtin_registry
from bot.drafts.view import build_view

BUILTINS = ("standard", "retro", "blameless", "blog", "report")
REGISTRY = builtin_registry()
MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")
T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)


def incident_with(text: str, title: str, sections: str | None = None) -> Incident:
    """`text` in every chat message (timeline, action item), `sections` (else `text`)
    in every section."""
    minute = timedelta(minutes=1)
    incident = Incident.declare(
        workspace="w", number=7, title=title, platform="console", channel_id="inc-7",
        channel_name="inc-7", declared_by="maria", declared_at=T0, captured_at=T0,
        template="standard", timezone="Europe/Oslo",
    )
    incident.assign_role(Role.COMMANDER, "maria", by="maria", at=T0, now=T0)
    incident.assign_role(Role.OPS, "li", by="maria", at=T0 + minute, now=T0 + minute)
    incident.add_backdated(text, author="li", occurred_at=T0 - 20 * minute, now=T0 + 2 * minute)
    incident.add_note(text, author="li", at=T0 + 5 * minute, now=T0 + 5 * minute, source_ref=None)
    for section_id in WRITTEN_SECTION_IDS:
        incident.set_section(
            section_id, text if sections is None else sections, by="jonas", now=T0 + 9 * minute
        )
    for field_id in sorted(REGISTRY.field_ids()):  # the templates' table cells
        incident.set_section(field_id, text, by="jonas", now=T0 + 9 * minute)
    incident.add_action(text, owner="li", by="li", now=T0 + 10 * minute)
    incident.resolve(by="maria", at=T0 + 30 * minute, now=T0 + 30 * minute)
    return incident


def draft(
    incident: Incident, name: str, fmt: str, registry: TemplateRegistry = REGISTRY
) -> bytes:
    template = registry.get(name)
    assert template is not None, name
    view = build_view(
        incident, template, zone=ZoneInfo(incident.timezone), name_of=lambda user: user,
        command_prefix="/incident", now=T0 + timedelta(hours=2),
    )
    return render(view, template, registry, fmt).content


PLAIN = {"text", "softbreak", "hardbreak"}


def md_skeleton(markdown: str) -> list[tuple[str, ...]]:
    """Every block the Markdown makes (headings, list items, table rows, rules, fences,
    HTML blocks…) and every inline markup (links, code, emphasis), paragraphs aside:
    user text may make more paragraphs, never anything else."""
    skeleton: list[tuple[str, ...]] = []
    for token in MD.parse(markdown):
        if token.type in ("paragraph_open", "paragraph_close"):
            continue
        if token.type == "inline":
            markup = tuple(c.type for c in token.children or [] if c.type not in PLAIN)
            if markup:
                skeleton.append(("inline", *markup))
            continue
        skeleton.append((token.type, token.tag))
    return skeleton


ALLOWED_INLINE = {
    "code_inline", "em_open", "em_close", "strong_open", "strong_close", "link_open",
    "link_close", "s_open", "s_close",
}


def md_frame(markdown: str) -> list[tuple[str, ...]]:
    """The skeleton without the inline markup people may use in a timeline line or an
    action item (code, emphasis, links): what no chat message may change."""
    frame = []
    for block in md_skeleton(markdown):
        if block[0] == "inline":
            block = tuple(kind for kind in block if kind not in ALLOWED_INLINE)
            if block == ("inline",):
                continue
        frame.append(block)
    return frame


def md_links(markdown: str) -> list[str]:
    return [
        str(child.attrs.get("href", ""))
        for token in MD.parse(markdown) if token.type == "inline"
        for child in token.children or [] if child.type == "link_open"
    ]


def md_tables(markdown: str) -> list[tuple[str, int]]:
    """Each table as (its header row's text, how many rows it has)."""
    tables: list[tuple[str, int]] = []
    tokens = MD.parse(markdown)
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            end = next(i for i in range(index, len(tokens)) if tokens[i].type == "table_close")
            rows = [t for t in tokens[index:end] if t.type == "tr_open"]
            header_end = next(i for i in range(index, end) if tokens[i].type == "tr_close")
            header = "|".join(t.content for t in tokens[index:header_end] if t.type == "inline")
            tables.append((header, len(rows)))
    return tables


def md_headings(markdown: str) -> list[tuple[str, str]]:
    tokens = MD.parse(markdown)
    return [
        (token.tag, tokens[index + 1].content)
        for index, token in enumerate(tokens)
        if token.type == "heading_open"
    ]


class Page(HTMLParser):
    """An HTML page read back: its tags with their attributes, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.text: list[str] = []
        self.headings: list[tuple[str, str]] = []
        self._heading: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(attrs)))
        if tag in ("h1", "h2", "h3"):
            self._heading = tag
            self.headings.append((tag, ""))

    def handle_endtag(self, tag: str) -> None:
        self.tags.append((f"/{tag}", ()))
        if tag == self._heading:
            self._heading = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading is not None:
            tag, text = self.headings[-1]
            self.headings[-1] = (tag, text + data)


def word(content: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(content))


def word_headings(document: docx.document.Document) -> list[tuple[str, str]]:
    return [
        (p.style.name, p.text)
        for p in document.paragraphs
        if p.style is not None and p.style.name is not None
        and (p.style.name.startswith("Heading") or p.style.name == "Title")
    ]


def word_text(document: docx.document.Document) -> str:
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


# Liquid's own tokenizer (Liquid 4 `TemplateParser`): a tag `{% … %}` or an output
# `{{ … }}`, the output ending at the first `}` or `}}`.
LIQUID_TOKEN = re.compile(r"\{%.*?%\}|\{\{.*?\}\}?", re.DOTALL)
LIQUID_STRING_OUTPUT = re.compile(r'\{\{ "([^"]*)" \}\}')


def liquid_pass(markdown: str) -> str:
    """What Jekyll's Liquid pass makes of a post body in which every Liquid token is a
    string output (the only Liquid a blog draft may hold): a token of any other kind
    fails the test, since Liquid would run it."""

    def output(match: re.Match[str]) -> str:
        literal = LIQUID_STRING_OUTPUT.fullmatch(match.group(0))
        assert literal is not None, f"Liquid would run {match.group(0)!r}"
        return literal.group(1)

    return LIQUID_TOKEN.sub(output, markdown)
