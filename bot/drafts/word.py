"""Word layout pieces python-docx has no call for: paper size, a table of contents field,
columns sized to their content, hyperlinks, the title page.

Kept apart from `bot/drafts/docx.py` (what goes in the document, and in which order) so
the two change independently. Nothing here interprets user text: it arrives as run
text or, for hyperlinks, as an http(s) URL already checked by `bot/drafts/links.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from docx.document import Document as WordDocument
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt, RGBColor
from docx.table import Table
from docx.text.paragraph import Paragraph

# Paper (width, height) and margins, as Word's own defaults for each size.
PAPER = {
    "A4": ((Mm(210), Mm(297)), Mm(25.4)),
    "Letter": ((Emu(7772400), Emu(10058400)), Mm(25.4)),  # 8.5 x 11 in
}
TOC_INSTRUCTION = 'TOC \\o "1-3" \\h \\z \\u'
LINK_BLUE = RGBColor(0x05, 0x63, 0xC1)

# Column sizing: text is measured in characters, at about this many points each for
# the 10-11 pt body fonts Word and LibreOffice use, plus each cell's left+right padding.
_POINTS_PER_CHARACTER = 5.8
_BOLD = 1.12  # header cells are bold, hence wider
_CELL_PADDING = Pt(13)
_LONGEST_USEFUL_LINE = 60  # a cell wider than this many characters only wastes room
# A word longer than this (a URL, say) is broken wherever the column ends: keeping it
# whole would starve the other columns, whose short words then break instead.
_LONGEST_KEPT_WORD = 24


def set_paper(document: WordDocument, size: str) -> None:
    (width, height), margin = PAPER[size]
    for section in document.sections:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = width, height
        section.left_margin = section.right_margin = margin
        section.top_margin = section.bottom_margin = margin


def text_width(document: WordDocument) -> int:
    """The width between the margins, in EMU."""
    section = document.sections[-1]
    width = (section.page_width or 0) - (section.left_margin or 0) - (section.right_margin or 0)
    return int(width)


def add_title_page(
    document: WordDocument, overline: str, title: str, lines: Sequence[str]
) -> None:
    """A formal report's cover, as seed 004 sets it: a line above the title, the title,
    then the title block lines, all centred."""
    if overline:
        top = document.add_paragraph()
        top.alignment = WD_ALIGN_PARAGRAPH.CENTER
        top.paragraph_format.space_before = Pt(72)
        run = top.add_run(overline)
        run.font.size = Pt(16)
    heading = document.add_heading(title, level=0)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for line in lines:
        paragraph = document.add_paragraph(line)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER


def add_toc(document: WordDocument, heading: str) -> Paragraph:
    """A real table of contents: Word's TOC field over headings 1-3, with hyperlinks.

    Word computes its entries and page numbers when the document is opened (the settings
    ask it to update fields; it asks the reader first). Until then, and in programs that
    show a field's last result (LibreOffice), the field shows the entries `fill_toc`
    writes once the document's headings are known. Returns the field's paragraph.
    """
    title = document.add_paragraph(heading, style="TOC Heading")
    title.paragraph_format.keep_with_next = True
    paragraph = document.add_paragraph()
    _field_char(paragraph, "begin", dirty=True)
    instruction = OxmlElement("w:instrText")
    instruction.set(qn("xml:space"), "preserve")
    instruction.text = f" {TOC_INSTRUCTION} "
    run = OxmlElement("w:r")
    run.append(instruction)
    paragraph._p.append(run)
    _field_char(paragraph, "separate")
    update_fields_on_open(document)
    return paragraph


def fill_toc(field: Paragraph, document: WordDocument) -> None:
    """Writes the field's result: one paragraph per heading 1-3 of the document,
    indented by level, then ends the field."""
    # By style id, looked up once: a paragraph's `.style` searches the styles part, and a
    # long timeline has thousands of paragraphs.
    levels = {
        style.style_id: int(style.name[-1])
        for style in document.styles
        if style.name in ("Heading 1", "Heading 2", "Heading 3")
    }
    body = document.element.body
    entries = [
        (levels[p.style], Paragraph(p, document._body).text)
        for p in body.p_lst
        if p.style in levels
    ]
    last = field
    for index, (level, text) in enumerate(entries):
        entry = field if index == 0 else _paragraph_after(last)
        entry.paragraph_format.left_indent = Mm(6 * (level - 1))
        entry.paragraph_format.space_after = Pt(2)
        entry.add_run(text)
        last = entry
    _field_char(last, "end")


def _paragraph_after(paragraph: Paragraph) -> Paragraph:
    element = OxmlElement("w:p")
    paragraph._p.addnext(element)
    return Paragraph(element, paragraph._parent)


def _field_char(paragraph: Paragraph, kind: str, *, dirty: bool = False) -> None:
    run = OxmlElement("w:r")
    char = OxmlElement("w:fldChar")
    char.set(qn("w:fldCharType"), kind)
    if dirty:
        char.set(qn("w:dirty"), "true")  # the cached result is stale: recompute it
    run.append(char)
    paragraph._p.append(run)


# What may follow <w:updateFields> in settings.xml: Word rejects elements out of the
# schema's order, so it goes before the first of these present.
_AFTER_UPDATE_FIELDS = (
    "w:hdrShapeDefaults", "w:footnotePr", "w:endnotePr", "w:compat", "w:docVars",
    "w:rsids", "m:mathPr", "w:attachedSchema", "w:themeFontLang", "w:clrSchemeMapping",
    "w:doNotIncludeSubdocsInStats", "w:doNotAutoCompressPictures", "w:forceUpgrade",
    "w:captions", "w:readModeInkLockDown", "w:smartTagType", "sl:schemaLibrary",
    "w:shapeDefaults", "w:doNotEmbedSmartTags", "w:decimalSymbol", "w:listSeparator",
)


def update_fields_on_open(document: WordDocument) -> None:
    settings = document.settings.element
    if settings.find(qn("w:updateFields")) is not None:
        return
    update = OxmlElement("w:updateFields")
    update.set(qn("w:val"), "true")
    following = {qn(tag) for tag in _AFTER_UPDATE_FIELDS}
    successor = next((child for child in settings if child.tag in following), None)
    if successor is None:
        settings.append(update)
    else:
        successor.addprevious(update)


def page_break(document: WordDocument) -> None:
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def add_hyperlink(
    paragraph: Paragraph,
    text: str,
    url: str,
    *,
    bold: bool = False,
    italic: bool = False,
    strike: bool = False,
    font: str | None = None,
) -> None:
    """`text` as a link to `url` (an http(s) or mailto URL the caller checked), a real
    `w:hyperlink` with an external relationship; bold, italic, struck through or in
    `font` when the Markdown around it says so."""
    relation = paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), relation)
    run = OxmlElement("w:r")
    properties = OxmlElement("w:rPr")  # children in the order the schema requires
    if font is not None:
        fonts = OxmlElement("w:rFonts")
        for attribute in ("w:ascii", "w:hAnsi", "w:cs"):
            fonts.set(qn(attribute), font)
        properties.append(fonts)
    for flag, tag in ((bold, "w:b"), (italic, "w:i"), (strike, "w:strike")):
        if flag:
            properties.append(OxmlElement(tag))
    color = OxmlElement("w:color")
    color.set(qn("w:val"), str(LINK_BLUE))
    underline = OxmlElement("w:u")
    underline.set(qn("w:val"), "single")
    properties.append(color)
    properties.append(underline)
    run.append(properties)
    words = OxmlElement("w:t")
    words.set(qn("xml:space"), "preserve")
    words.text = text
    run.append(words)
    link.append(run)
    paragraph._p.append(link)


def fit_columns(table: Table, rows: Sequence[Sequence[str]], width: int) -> None:
    """Sizes the columns to their content, as a browser sizes an automatic table: each
    column gets at least its longest word, and the room left goes to the columns whose
    lines are longest. `rows` includes the header; `width` is the table's, in EMU.
    Words up to `_LONGEST_KEPT_WORD` characters are never broken unless the columns'
    longest words alone are wider than the page."""
    columns = len(rows[0])
    longest_word = [1.0] * columns
    longest_line = [1.0] * columns
    for number, row in enumerate(rows):
        scale = _BOLD if number == 0 else 1.0
        for index, text in enumerate(row):
            for line in text.splitlines() or [""]:
                words = [min(len(word), _LONGEST_KEPT_WORD) * scale for word in line.split()]
                longest_word[index] = max(longest_word[index], *words, 1)
                longest_line[index] = max(
                    longest_line[index], min(len(line) * scale, _LONGEST_USEFUL_LINE)
                )
    character = Pt(_POINTS_PER_CHARACTER)
    least = [n * character + _CELL_PADDING for n in longest_word]
    most = [
        max(n * character + _CELL_PADDING, low)
        for n, low in zip(longest_line, least, strict=True)
    ]
    if sum(most) <= width:
        # Every cell fits on one line: the room left is shared out evenly.
        spare = (width - sum(most)) / columns
        widths = [w + spare for w in most]
    elif sum(least) >= width:
        widths = [w * width / sum(least) for w in least]
    else:
        spare = width - sum(least)
        stretch = sum(m - low for m, low in zip(most, least, strict=True))
        widths = [
            low + (m - low) * spare / stretch for m, low in zip(most, least, strict=True)
        ]
    _set_widths(table, [Emu(int(w)) for w in widths])


def _set_widths(table: Table, widths: Sequence[Emu]) -> None:
    table.autofit = False  # a fixed layout: the widths below are the widths shown
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width
