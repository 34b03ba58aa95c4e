"""The quick path for timeline lines of words and `code` (bot/drafts/user_markdown.py,
bot/drafts/docx.py) gives exactly what the parser gives, in md, html and docx, on lines
built from the characters that matter to inline Markdown."""

from __future__ import annotations

import pytest
from docx import Document
from drafting import BUILTINS, draft, incident_with, word, word_text
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lxml import etree

from bot.drafts import user_markdown
from bot.drafts.docx import _entry_line, _write_lines

PIECES = [
    "`", "``", "```", " ", "  ", "|", "<", ">", "#", "##", "&", ";", ":", "/", "//", ".",
    "*", "_", "@", "\\", "[", "]", "!", "~", "~~", '"', "'", "%", "-", "+", "=", "1.",
    "word", "Entry", "5xx", "pods", "http", "https://x.io", "www", "mailto:", "com", "py",
    "app.py", "v1.2", "10.0.0.1", "&amp;", "&#60;", "<http:x>", "<b:c>", "\t", "\n",
    "\u00a0", "é", "Straße", "рф", "\ufffe", "{@U1}",
]
line_text = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=12
).map("".join)

EXAMPLES = [
    "Entry 12: the 5xx rate is 12% | `pods` <restarted> ## again",
    "Rolled back to v1.2.3 after `kubectl rollout undo deploy/api` (took 40 s)",
    "`` a ` b ``", "a ``` b", "` a `", "`  `", "x `a` y `b", "` `` `", "see app.py now",
    "a <b:c> d", "`<http://x>`", "`x` www.example.com", "`a`_b_", "\ufffe`x`",
]


def _docx_body(lines_of: list[str], *, quick: bool) -> bytes:
    """The timeline paragraphs as docx.py writes them, with or without the quick path."""
    document = Document()
    lines: list[str] = []
    rich: dict[int, str] = {}
    saved = user_markdown.shown_pieces
    if not quick:
        user_markdown.shown_pieces = lambda text: None  # type: ignore[assignment]
    try:
        for text in lines_of:
            _entry_line(lines, rich, "ListBullet", "08:00 - Bob: ", text)
        _write_lines(document, lines, rich)
    finally:
        user_markdown.shown_pieces = saved  # type: ignore[assignment]
    return etree.tostring(document.element.body)


def _check(text: str) -> None:
    line = " ".join(text.split())
    by_parser = user_markdown.parsed_inline(line)
    assert user_markdown.inline(text) == by_parser
    assert user_markdown.inline_as_html(text) == user_markdown.inline_html(by_parser)


@settings(max_examples=2000, deadline=None)
@given(line_text)
def test_quick_inline_agrees_with_the_parser(text: str) -> None:
    _check(text)


def test_quick_inline_agrees_on_known_lines() -> None:
    for text in EXAMPLES:
        _check(text)


def test_quick_path_is_taken_for_words_and_code() -> None:
    # Otherwise the agreement above would hold trivially.
    assert user_markdown.plain_pieces(" ".join(EXAMPLES[0].split())) == [
        (False, "Entry 12: the 5xx rate is 12% | "),
        (True, "pods"),
        (False, " <restarted> ## again"),
    ]
    assert user_markdown.plain_pieces("see *this*") is None


@settings(max_examples=300, deadline=None)
@given(st.lists(line_text, min_size=1, max_size=5))
@example(EXAMPLES)
def test_quick_timeline_paragraphs_agree_in_word(texts: list[str]) -> None:
    assert _docx_body(texts, quick=True) == _docx_body(texts, quick=False)


@pytest.mark.parametrize(
    "text",
    [
        "- rolled back **api** to v41",
        "# of pods down: *three*",
        "1. `api` then [status](https://status.example.com)",
    ],
)
def test_a_line_that_starts_like_a_heading_or_a_list_keeps_its_words_in_word(text: str) -> None:
    # The Word writer once read such a line as a heading or a list, which a timeline
    # paragraph cannot hold, and the words were lost (in every template's docx).
    incident = incident_with(text, "Payments down", sections="Written elsewhere.")
    for name in BUILTINS:
        document = word(draft(incident, name, "docx"))
        shown = " ".join(p.text for p in document.paragraphs) + word_text(document)
        words = [w.strip("*`[]") for w in text.replace("](", " ").split()[1:3]]
        assert all(w and w in shown for w in words), (name, text)
