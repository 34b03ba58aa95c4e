"""The structure guarantees a draft keeps whatever was recorded, checked against its
twin: the same incident with every piece of user-written text replaced by plain words.

A draft's headings, front matter, HTML comments and page elements come from the
template; user text may add paragraphs and, where a template renders user Markdown,
inline formatting, lists, quotes, code, tables and headings below the section level,
never anything else. These checks hold whether drafts escape user Markdown or render
it safely.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import docx
from docx.oxml.ns import qn
from drafting import MD, REGISTRY, Page

from bot.domain import Incident
from bot.drafts.render import render
from bot.drafts.safe_text import clean_text
from bot.drafts.view import build_view

PLAIN_TITLE = "Plain title"
PLAIN_TEXT = "plain words"
PLAIN_NAME = "Plain Name"
SECTION_LEVEL = 2  # every built-in layout writes its sections as level-2 headings
LINK_SCHEMES = {"http", "https", "mailto"}
# Elements user Markdown may bring into a page (when drafts render it); anything else
# must come from the template.
USER_ELEMENTS = {
    "p", "br", "em", "strong", "code", "pre", "a", "ul", "ol", "li", "blockquote",
    "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "s", "del", "hr",
}
USER_ATTRIBUTES = {("a", "href"), ("ol", "start"), ("th", "style"), ("td", "style"),
                   ("code", "class")}
# Pieces hostile text is made of: Markdown, HTML, template syntax, and Unicode that
# breaks encoders, XML and layouts (controls, bidi overrides, surrogates, emoji, marks).
MARKUP = [
    "## Heading", "# Title", "---", "***", "===", "| a | b |", "|---|---|", "```", "~~~",
    "    indented", "> quote", "- item", "1. item", "- [ ] task", "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "<!-- c -->", "-->", "[link](javascript:alert(1))",
    "[ok](https://example.org)", "<https://example.org>", "![i](x.png)", "*em*", "`code`",
    "&lt;", "&#60;", "\\", "{{ 7*7 }}", "{% raw %}", "{% endraw %}", "{{", '"', "'", ":",
    "\n", "\r", "\r\n", "\n\n", " ", "\t", "@maria", "{@li}", "title: x",
]
UNICODE = [
    "\x00", "\x01", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029",
    "\u202e", "\u202d", "\u2066", "\u2069", "\u200b", "\u200d", "\ufeff", "\ufffe", "\uffff",
    "\ud800", "\udfff", "\udbff\udc00", "😀", "👩‍👩‍👧", "🇳🇴", "e\u0301", "\u0301\u0301\u0301",
    "Z̸̢͓̈́a̷l̵g̶o", "ﷺ", "עברית", "العربية", "𝕏", "\u3000", "\U0010ffff", "\U0001fffe",
]
RISKY_ELEMENTS = {"script", "iframe", "object", "embed", "img", "form", "input", "link",
                  "meta", "base", "svg", "math", "frame", "frameset", "video", "audio"}


def _plain(text: str) -> str:
    # Keep the text's emptiness: an empty section stays empty in the twin.
    return PLAIN_TEXT if clean_text(text).strip() else text


def twin(incident: Incident) -> Incident:
    """The incident with plain words wherever people wrote something."""
    plain = copy.deepcopy(incident)
    plain.title = PLAIN_TITLE
    for entry in plain.timeline:
        entry.text = _plain(entry.text)
    for section in plain.sections:
        section.text = _plain(section.text)
    for action in plain.actions:
        action.text = _plain(action.text)
    return plain


def render_twin(
    incident: Incident, template_name: str, fmt: str, *, now: datetime, prefix: str
) -> bytes:
    template = REGISTRY.get(template_name)
    assert template is not None
    view = build_view(
        twin(incident), template, zone=ZoneInfo(incident.timezone),
        name_of=lambda user: PLAIN_NAME, command_prefix=prefix, now=now,
    )
    return render(view, template, REGISTRY, fmt).content


def check(content: bytes, expected: bytes, fmt: str) -> None:
    """Asserts `content` (a draft of hostile data) keeps `expected`'s (its twin's) shape."""
    if fmt == "md":
        check_markdown(content.decode("utf-8"), expected.decode("utf-8"))
    elif fmt == "html":
        check_html(content.decode("utf-8"), expected.decode("utf-8"))
    else:
        check_word(content, expected)


Heading = tuple[int, str]


def _same_headings(
    got: Sequence[Heading], expected: Sequence[Heading], top: int, what: str
) -> None:
    """The template's headings (`expected`) all appear, in order; any other heading is
    a user heading below the section level. A heading holding the title is compared
    by level only."""

    def key(heading: Heading, title_bearing: bool) -> tuple[int, str | None]:
        return (heading[0], None if title_bearing else heading[1])

    wanted = [key(h, PLAIN_TITLE in h[1]) for h in expected]
    index = 0
    for heading in got:
        if index < len(wanted) and key(heading, wanted[index][1] is None) == wanted[index]:
            index += 1
            continue
        assert heading[0] > top, f"{what}: a heading not from the template: {heading!r}"
    assert index == len(wanted), f"{what}: template heading {wanted[index]!r} is missing"


# -- Markdown ------------------------------------------------------------------------------


def front_matter(markdown: str) -> tuple[list[str], str]:
    """The front matter's lines (none when there is none) and the body after it."""
    if not markdown.startswith("---\n"):
        return [], markdown
    head, body = markdown[4:].split("\n---\n", 1)
    return head.split("\n"), body


def md_headings(markdown: str) -> list[Heading]:
    tokens = MD.parse(markdown)
    return [
        (int(token.tag[1]), tokens[index + 1].content)
        for index, token in enumerate(tokens)
        if token.type == "heading_open"
    ]


def _md_links_and_html(markdown: str) -> tuple[list[str], list[str]]:
    links: list[str] = []
    html: list[str] = []
    for token in MD.parse(markdown):
        if token.type == "html_block":
            html.append(token.content)
        for child in token.children or []:
            if child.type == "html_inline":
                html.append(child.content)
            elif child.type in ("link_open", "image"):
                links.append(str(child.attrGet("href") or child.attrGet("src") or ""))
    return links, html


def check_markdown(markdown: str, expected: str) -> None:
    got_head, got_body = front_matter(markdown)
    want_head, want_body = front_matter(expected)
    # Front matter only from the template: the same keys, values as YAML strings.
    assert [line.split(":")[0] for line in got_head] == [
        line.split(":")[0] for line in want_head
    ], got_head
    for line in got_head:
        value = line.split(":", 1)[1].strip()
        if value.startswith('"'):
            json.loads(value)  # one double-quoted scalar, never broken out of
    _same_headings(md_headings(got_body), md_headings(want_body), SECTION_LEVEL, "md")
    links, html = _md_links_and_html(got_body)
    _, want_html = _md_links_and_html(want_body)
    assert html == want_html, "md: raw HTML that is not the template's"
    for href in links:
        assert _allowed_link(href, set()), f"md: a link to {href!r}"
    # What a Markdown reader shows: no element beyond what the page allows.
    page = Page(MD.render(got_body))
    assert not {tag for tag, _ in page.tags} & RISKY_ELEMENTS, "md renders a risky element"


def _allowed_link(href: str, template_links: set[str]) -> bool:
    if href in template_links:
        return True
    try:
        return urlsplit(href.strip()).scheme.lower() in LINK_SCHEMES
    except ValueError:
        return False


# -- HTML ------------------------------------------------------------------------------


def check_html(html: str, expected: str) -> None:
    got, want = Page(html), Page(expected)
    want_tags = {tag for tag, _ in want.tags}
    want_attributes = {(tag, name) for tag, attrs in want.tags for name, _ in attrs}
    want_links = {value or "" for _, attrs in want.tags for name, value in attrs if name == "href"}
    for tag, attrs in got.tags:
        name = tag.lstrip("/")
        assert tag in want_tags or name in USER_ELEMENTS, f"html: element <{tag}> from user text"
        assert name not in RISKY_ELEMENTS or tag in want_tags, f"html: <{tag}>"
        for attribute, value in attrs:
            assert not attribute.startswith("on"), f"html: <{tag} {attribute}>"
            assert (tag, attribute) in want_attributes or (tag, attribute) in USER_ATTRIBUTES, (
                f"html: attribute {attribute} on <{tag}> from user text"
            )
            if attribute in ("href", "src"):
                assert _allowed_link(value or "", want_links), f"html: a link to {value!r}"
    for structural in ("html", "head", "body", "style", "title", "h1", "h2", "section", "nav"):
        count = sum(1 for tag, _ in got.tags if tag == structural)
        assert count == sum(1 for tag, _ in want.tags if tag == structural), structural
    _same_headings(_html_headings(got), _html_headings(want), SECTION_LEVEL, "html")


def _html_headings(page: Page) -> list[Heading]:
    return [(int(tag[1]), text) for tag, text in page.headings]


# -- Word ------------------------------------------------------------------------------


def check_word(content: bytes, expected: bytes) -> None:
    got = docx.Document(io.BytesIO(content))
    want = docx.Document(io.BytesIO(expected))
    _same_headings(_word_levels(got), _word_levels(want), SECTION_LEVEL - 1, "docx")
    for value in (got.core_properties.title, got.core_properties.author):
        assert len(value or "") <= 255
    shapes = [len(table.columns) for table in got.tables]
    wanted = [len(table.columns) for table in want.tables]
    assert _is_subsequence(wanted, shapes), f"docx: tables {shapes} lack the template's {wanted}"


def _word_levels(document: docx.document.Document) -> list[Heading]:
    """Title and Heading N paragraphs, read from the XML (python-docx's `style` lookup
    is slow for paragraphs without one)."""
    levels: list[Heading] = []
    for paragraph in document.element.body.iter(qn("w:p")):
        style = paragraph.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")
        name = style.get(qn("w:val")) if style is not None else ""
        if name == "Title" or (name or "").startswith("Heading"):
            text = "".join(t.text or "" for t in paragraph.iter(qn("w:t")))
            levels.append((0 if name == "Title" else int(name[len("Heading"):]), text))
    return levels


def _is_subsequence(wanted: Sequence[object], got: Sequence[object]) -> bool:
    remaining = iter(got)
    return all(any(item == other for other in remaining) for item in wanted)

