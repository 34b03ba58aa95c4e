"""The Markdown escaper, checked with a real CommonMark parser (markdown-it-py, with GFM
tables and strikethrough on): whatever a user writes comes out as plain text, exactly,
and never as markup."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.drafts.markdown import escape_block, escape_inline

PARSER = MarkdownIt("commonmark").enable("table").enable("strikethrough")

# Pieces of Markdown (and HTML, and Jinja) that would be markup if they got through.
HOSTILE = [
    "## Heading", "# ", "---", "***", "___", "===", "| a | b |", "|---|---|", "```", "~~~",
    "    indented", "\t", "> quote", "- item", "* item", "+ item", "1. item", "2) item",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<!-- c -->",
    "[link](javascript:alert(1))", "<javascript:alert(1)>", "![i](x.png)", "[ref]: /url",
    "*em*", "_em_", "**strong**", "`code`", "~~gone~~", "&lt;", "&#60;", "&amp;", "\\",
    "{{ 7*7 }}", "{% raw %}", "\n", "\r", "\r\n", "\n\n", " ", "  ", "-", "1.", "#",
]
# The service drops control characters (and NUL) from chat text before anything else.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
hostile_text = (
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12)), max_size=8)
    .map("".join)
    .map(lambda text: CONTROL.sub("", text))
)

PLAIN_INLINE = {"text", "softbreak", "hardbreak"}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in re.split(r"\r\n|\r|\n", text)]


def _paragraph_text(tokens: list[Token]) -> list[str]:
    """The text of every paragraph, line by line; fails on any token that is not plain."""
    out: list[str] = []
    for token in tokens:
        assert token.type in {"paragraph_open", "paragraph_close", "inline"}, token.type
        if token.type != "inline":
            continue
        line = ""
        for child in token.children or []:
            assert child.type in PLAIN_INLINE, (child.type, child.content)
            if child.type == "text":
                line += child.content
            else:
                out.append(line)
                line = ""
        out.append(line)
    return out


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_a_block_of_user_text_is_only_paragraphs_of_the_same_text(text: str) -> None:
    tokens = PARSER.parse(escape_block(text))
    written = [line for line in _lines(text) if line]
    # CommonMark drops a line's trailing spaces; so does the comparison.
    assert [line.rstrip() for line in _paragraph_text(tokens) if line.strip()] == [
        line.rstrip() for line in written
    ]


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_an_inline_value_stays_one_plain_line(text: str) -> None:
    escaped = escape_inline(text)
    assert "\n" not in escaped and "\r" not in escaped
    expected = " ".join(text.split())
    tokens = PARSER.parse(escaped)
    assert _paragraph_text(tokens) == ([expected] if expected else [])


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_an_inline_value_in_a_table_cell_or_heading_adds_no_cell_or_heading(text: str) -> None:
    cell = escape_inline(text)
    table = PARSER.parse(f"| a | b |\n|---|---|\n| {cell} | x |\n")
    assert [t.type for t in table].count("td_open") == 2
    assert [t.type for t in table].count("tr_open") == 2
    heading = PARSER.parse(f"## {cell}\n\nafter\n")
    assert [t.type for t in heading].count("heading_open") == 1
    item = PARSER.parse(f"- 14:05 - li: {cell}\n- second\n")
    assert [t.type for t in item].count("list_item_open") == 2


def test_the_hostile_cases_of_the_issue_come_out_literally() -> None:
    for text in [
        "## Heading",
        "---\nlayout: evil\n---",
        "| a | b |\n|---|---|",
        "```\ncode\n```",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "{{ 7*7 }}",
    ]:
        html = PARSER.render(escape_block(text))
        assert "<h2>" not in html and "<hr" not in html and "<table>" not in html
        assert "<pre>" not in html and "<code>" not in html and "<a " not in html
        assert "<script>" not in html and "<img" not in html
        literal = _paragraph_text(PARSER.parse(escape_block(text)))
        assert [line for line in literal if line] == [line for line in _lines(text) if line]
