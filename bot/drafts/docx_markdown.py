"""User Markdown in a Word document: paragraphs of runs (bold, italic, code, struck
through), real hyperlinks, list paragraphs, tables, quotes and code blocks.

It walks the tree of the safe Markdown `bot/drafts/user_markdown.py` produced, so the
same limits hold as in the other formats: headings below the section's, links to web
and mail addresses only. Every piece of text is a python-docx run: Word never
interprets it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from docx.document import Document as WordDocument
from docx.shared import Pt
from docx.text.paragraph import Paragraph
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from bot.drafts import user_markdown
from bot.drafts.word import add_hyperlink

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
CODE_FONT = "Consolas"


def clean(text: str) -> str:
    """Characters XML cannot hold at all are dropped; everything else is kept."""
    return _NOT_XML.sub("", text)


@dataclass(frozen=True)
class _Look:
    bold: bool = False
    italic: bool = False
    strike: bool = False
    code: bool = False


def add_section(document: WordDocument, markdown: str) -> None:
    """A section's text (safe Markdown) as Word blocks."""
    for node in user_markdown.parse(markdown).children:
        _block(document, node, list_depth=0, quote=False)


def add_inline(paragraph: Paragraph, markdown: str) -> None:
    """One line of safe inline Markdown (a timeline entry) as runs of `paragraph`.

    Read as a line, not as a document: `# 3 pods *down*` or `- see **this**` is that
    text, not a heading or a list that a paragraph cannot hold (and that lost the text)."""
    _runs(paragraph, user_markdown.parse_inline(markdown))


def _block(document: WordDocument, node: SyntaxTreeNode, *, list_depth: int, quote: bool) -> None:
    kind = node.type
    if kind == "paragraph":
        paragraph = document.add_paragraph(style="Quote" if quote else None)
        _runs(paragraph, _tokens(node))
    elif kind == "heading":
        heading = document.add_heading(level=min(9, int(node.tag[1])))
        _runs(heading, _tokens(node))
    elif kind in ("bullet_list", "ordered_list"):
        _list(document, node, depth=list_depth + 1, quote=quote)
    elif kind == "blockquote":
        for child in node.children:
            _block(document, child, list_depth=list_depth, quote=True)
    elif kind in ("fence", "code_block"):
        paragraph = document.add_paragraph()
        lines = node.content.rstrip("\n").split("\n")
        for index, line in enumerate(lines):
            run = paragraph.add_run(clean(line))
            run.font.name = CODE_FONT
            run.font.size = Pt(9)
            if index < len(lines) - 1:
                run.add_break()
    elif kind == "table":
        _table(document, node)
    elif kind == "hr":
        document.add_paragraph()


def _list(document: WordDocument, node: SyntaxTreeNode, *, depth: int, quote: bool) -> None:
    ordered = node.type == "ordered_list"
    base = "List Number" if ordered else "List Bullet"
    style = base if depth == 1 else f"{base} {min(depth, 3)}"
    numbering = _own_numbering(document, style, _start(node)) if ordered else None
    for item in node.children:
        task = user_markdown.task_state(item)
        first = True
        for child in item.children:
            if child.type == "paragraph" and first:
                paragraph = document.add_paragraph(style=style)
                if numbering is not None:
                    _number_with(paragraph, numbering)
                tokens = _tokens(child)
                if task is not None:
                    paragraph.add_run("☒ " if task else "☐ ")
                    tokens = _without_box(tokens)
                _runs(paragraph, tokens)
            else:
                _block(document, child, list_depth=depth, quote=quote)
            first = False


def _start(node: SyntaxTreeNode) -> int:
    """The number a Markdown ordered list starts at (`3. x` starts at 3)."""
    start = node.attrs.get("start", 1)
    return int(start) if isinstance(start, (int, float, str)) and str(start).isdigit() else 1


def _own_numbering(document: WordDocument, style: str, start: int) -> tuple[int, int]:
    """A numbering instance of its own for one ordered list: (numId, level).

    A "List Number" paragraph counts on from the last paragraph of the same numbering
    instance, and the style names one instance for the whole document, so a second list
    went on 4, 5, 6 after a first list of three. Each list gets a new `w:num` over the
    style's own `w:abstractNum` (same look), restarted by a `w:startOverride`."""
    properties = document.styles[style].element.pPr
    style_numbering = properties.numPr if properties is not None else None
    if style_numbering is None or style_numbering.numId is None:
        raise ValueError(f"the {style} style has no numbering")
    level = style_numbering.ilvl.val if style_numbering.ilvl is not None else 0
    definitions = document.part.numbering_part.numbering_definitions._numbering
    abstract = definitions.num_having_numId(style_numbering.numId.val).abstractNumId.val
    instance = definitions.add_num(abstract)
    override = instance.add_lvlOverride(ilvl=level)
    override.add_startOverride(start)
    return instance.numId, level


def _number_with(paragraph: Paragraph, numbering: tuple[int, int]) -> None:
    num_id, level = numbering
    numbering_properties = paragraph._p.get_or_add_pPr().get_or_add_numPr()
    numbering_properties.get_or_add_ilvl().val = level
    numbering_properties.get_or_add_numId().val = num_id


def _without_box(tokens: list[Token]) -> list[Token]:
    if tokens and tokens[0].type == "text":
        rest = re.sub(r"^\[[ xX]\] ", "", tokens[0].content)
        return [tokens[0].copy(content=rest), *tokens[1:]]
    return tokens


def _table(document: WordDocument, node: SyntaxTreeNode) -> None:
    rows = [row for part in node.children for row in part.children]
    if not rows:
        return
    width = len(rows[0].children)
    table = document.add_table(rows=0, cols=width)
    table.style = "Table Grid"
    for index, row in enumerate(rows):
        cells = table.add_row().cells
        for cell, source in zip(cells, row.children, strict=False):
            paragraph = cell.paragraphs[0]
            _runs(paragraph, _tokens(source), _Look(bold=index == 0))
    document.add_paragraph()


def _tokens(node: SyntaxTreeNode) -> list[Token]:
    if node.children and node.children[0].type == "inline":
        token = node.children[0].token
        return list(token.children or []) if token is not None else []
    return []


def _runs(paragraph: Paragraph, tokens: list[Token], look: _Look | None = None) -> None:
    look = look or _Look()
    links: list[str | None] = []
    for token in tokens:
        kind = token.type
        if kind == "text":
            _run(paragraph, token.content, look, links)
        elif kind == "code_inline":
            _run(paragraph, token.content, replace(look, code=True), links)
        elif kind == "softbreak":
            _run(paragraph, " ", look, links)
        elif kind == "hardbreak":
            paragraph.add_run().add_break()
        elif kind in ("strong_open", "strong_close"):
            look = replace(look, bold=kind == "strong_open")
        elif kind in ("em_open", "em_close"):
            look = replace(look, italic=kind == "em_open")
        elif kind in ("s_open", "s_close"):
            look = replace(look, strike=kind == "s_open")
        elif kind == "link_open":
            href = str(token.attrs.get("href", ""))
            links.append(href if user_markdown.link_allowed(href) else None)
        elif kind == "link_close":
            if links:
                links.pop()
        else:
            _run(paragraph, token.content, look, links)


def _run(paragraph: Paragraph, text: str, look: _Look, links: list[str | None]) -> None:
    if not text:
        return
    href = links[-1] if links else None
    if href is None:
        run = paragraph.add_run(clean(text))
        run.bold = look.bold or None
        run.italic = look.italic or None
        if look.strike:
            run.font.strike = True
        if look.code:
            run.font.name = CODE_FONT
        return
    add_hyperlink(
        paragraph,
        clean(text),
        href,
        bold=look.bold,
        italic=look.italic,
        strike=look.strike,
        font=CODE_FONT if look.code else None,
    )
