"""User text is data in every format of every template.

Chat messages (timeline lines, action items) may carry inline Markdown only: whatever
they hold, the draft has the same structure as with plain words, apart from code,
emphasis and links. Sections are Markdown the team writes: they may add paragraphs,
lists, tables, quotes, code and headings *below* their own, but never a heading at the
section's level or above, raw HTML, a link that is not http/https/mailto, a row in a
generated table, or a front-matter fence; and an open fence ends with its section."""

from __future__ import annotations

import functools
import json
import re

import pytest
from drafting import (
    BUILTINS,
    Page,
    draft,
    incident_with,
    liquid_pass,
    md_frame,
    md_headings,
    md_links,
    md_skeleton,
    md_tables,
    word,
    word_headings,
    word_text,
)
from hypothesis import given, settings
from hypothesis import strategies as st

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # the service drops these
HOSTILE = [
    "## Heading", "# Title", "---", "***", "===", "| a | b |", "|---|---|", "```", "~~~",
    "    indented", "> quote", "- item", "1. item", "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "<!-- c -->", "[link](javascript:alert(1))",
    "javascript:alert(1)", "![i](x.png)", "*em*", "`code`", "&lt;", "&#60;", "\\",
    "{{ 7*7 }}", "{% if true %}x{% endif %}", '"', "'", "\n", "\r", "\n\n", " ",
    "{% raw %}", "{%- endraw -%}", "{% endraw %}", "{{", "{::comment}", "{: onclick=\"x\"}",
    "[a [b](https://b.example)](https://a.example)", "[x](JaVaScRiPt:alert(1))",
    "<javascript:alert(1)>", "[x](data:text/html,hi)", "-->", "<!--",
]
hostile = (
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=10)), min_size=1, max_size=6)
    .map("".join)
    .map(lambda text: CONTROL.sub("", text))
    .filter(lambda text: bool(text.strip()))
)
ALLOWED_SCHEMES = ("http:", "https:", "mailto:")

BENIGN = incident_with("plain words", "Plain title")
# Paragraphs and line breaks follow the user's own lines; nothing else may.
TEXT_FLOW = {"p", "/p", "br"}
# What Markdown people write may add to a page inside a section.
SECTION_TAGS = {
    "p", "br", "ul", "ol", "li", "blockquote", "pre", "code", "em", "strong", "s", "a", "hr",
    "table", "thead", "tbody", "tr", "th", "td", "h3", "h4", "h5", "h6",
}
INLINE_TAGS = {"code", "em", "strong", "s", "a"}


@functools.cache
def benign(name: str, fmt: str) -> bytes:
    return draft(BENIGN, name, fmt)


def without_front_matter(markdown: str) -> str:
    """Jekyll takes the front matter off and runs Liquid before Markdown sees the post
    (blog)."""
    if markdown.startswith("---\n"):
        return liquid_pass(markdown.split("\n---\n", 1)[1])
    return markdown


def structure(page: Page, allowed: set[str] = TEXT_FLOW) -> list[tuple[str, object]]:
    return [(tag, attrs) for tag, attrs in page.tags if tag.lstrip("/") not in allowed]


def _front_matter_holds(full: str, title: str) -> None:
    lines = full.splitlines()
    assert lines[0] == "---" and lines[4] == "---"
    assert [line.split(":")[0] for line in lines[1:4]] == ["layout", "title", "category"]
    assert json.loads(lines[2].removeprefix("title: ")).startswith(
        "Post-mortem: " + " ".join(title.split())
    )
    assert "---" not in lines[5:], "no user text makes a front-matter fence"


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(BUILTINS), text=hostile, title=hostile)
def test_a_chat_message_changes_no_structure_but_inline_markup(
    name: str, text: str, title: str
) -> None:
    expected = without_front_matter(benign(name, "md").decode())
    incident = incident_with(text, " ".join(title.split()), sections="plain words")
    full = draft(incident, name, "md").decode()
    got = without_front_matter(full)
    assert md_frame(got) == md_frame(expected)
    assert md_headings(got)[1:] == md_headings(expected)[1:]
    assert all(link.startswith(ALLOWED_SCHEMES) for link in md_links(got))
    if name == "blog":
        _front_matter_holds(full, title)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(BUILTINS), text=hostile)
def test_section_markdown_stays_inside_its_section(name: str, text: str) -> None:
    expected = without_front_matter(benign(name, "md").decode())
    full = draft(incident_with("plain words", "Plain title", sections=text), name, "md").decode()
    got = without_front_matter(full)
    top = [h for h in md_headings(got) if h[0] in ("h1", "h2")]
    assert top == [h for h in md_headings(expected) if h[0] in ("h1", "h2")]
    kinds = [block[0] for block in md_skeleton(got)]
    assert kinds.count("html_block") == [b[0] for b in md_skeleton(expected)].count("html_block")
    assert not any("html_inline" in block for block in md_skeleton(got))
    assert all(link.startswith(ALLOWED_SCHEMES) for link in md_links(got))
    generated = md_tables(expected)
    tables = md_tables(got)
    assert all(table in tables for table in generated), "generated tables keep their rows"
    if name == "blog":
        _front_matter_holds(full, "Plain title")


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(BUILTINS), text=hostile, title=hostile)
def test_html_elements_and_attributes_stay_within_what_markdown_may_make(
    name: str, text: str, title: str
) -> None:
    expected = Page(benign(name, "html").decode())
    chat = Page(draft(incident_with(text, " ".join(title.split()), "plain words"), name, "html")
                .decode())
    assert structure(chat, TEXT_FLOW | INLINE_TAGS) == structure(expected, TEXT_FLOW | INLINE_TAGS)
    sections = Page(draft(incident_with("plain words", "Plain title", text), name, "html").decode())
    assert [h for h in sections.headings if h[0] in ("h1", "h2")] == [
        h for h in expected.headings if h[0] in ("h1", "h2")
    ]
    for page in (chat, sections):
        extra = {tag.lstrip("/") for tag, _ in page.tags} - {
            tag.lstrip("/") for tag, _ in expected.tags
        }
        assert extra <= SECTION_TAGS, extra
        for tag, attrs in page.tags:
            for attribute, value in attrs:
                assert not attribute.startswith("on"), (tag, attribute)
                if attribute == "href" and tag == "a" and not (value or "").startswith("#"):
                    assert (value or "").startswith(ALLOWED_SCHEMES), value


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(BUILTINS), text=hostile)
def test_word_headings_and_tables_do_not_depend_on_user_text(name: str, text: str) -> None:
    expected = word(benign(name, "docx"))
    for got in (
        word(draft(incident_with(text, "Plain title", "plain words"), name, "docx")),
        word(draft(incident_with("plain words", "Plain title", text), name, "docx")),
    ):
        top = [h for h in word_headings(got) if h[0] in ("Title", "Heading 1")]
        assert top == [h for h in word_headings(expected) if h[0] in ("Title", "Heading 1")]
        shapes = [(len(t.rows), len(t.columns)) for t in got.tables]
        assert all(
            (len(t.rows), len(t.columns)) in shapes for t in expected.tables
        ), "generated tables keep their rows"


ISSUE_CASES = [
    "## Heading",
    "---",
    "| a | b |",
    "```",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "{{ 7*7 }}",
]


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("case", ISSUE_CASES)
def test_each_hostile_chat_message_comes_out_literally_in_every_format(
    name: str, case: str
) -> None:
    incident = incident_with(case, f"Title {case}", sections="plain words")

    md = without_front_matter(draft(incident, name, "md").decode())
    assert md_skeleton(md) == md_skeleton(without_front_matter(benign(name, "md").decode()))
    shown = Page(_md_to_html(md))
    assert case in "".join(shown.text)  # what a Markdown reader shows is the text itself

    html = Page(draft(incident, name, "html").decode())
    assert case in "".join(html.text)
    assert structure(html) == structure(Page(benign(name, "html").decode()))

    text = word_text(word(draft(incident, name, "docx")))
    assert case in text

    if case == "{{ 7*7 }}":
        for fmt in ("md", "html", "docx"):
            rendered = draft(incident, name, fmt)
            assert b"49" not in rendered or fmt == "docx"
        assert "49" not in text


MARKDOWN_ATTACKS = {
    # (section text, what a reader must see as text, what must not be a link)
    "nested links": (
        "[outer [inner](https://inner.example) text](https://outer.example)", "inner", "",
    ),
    "javascript in a Markdown link": (
        "[click me](javascript:alert(1))", "[click me](javascript:alert(1))", "javascript:",
    ),
    "javascript in an autolink": ("<javascript:alert(1)>", "javascript:alert(1)", "javascript:"),
    "a heading inside a section": ("# Top\n\n## Second", "Top", ""),
}


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("attack", sorted(MARKDOWN_ATTACKS))
def test_markdown_attacks_in_a_section(name: str, attack: str) -> None:
    text, shown_text, not_a_link = MARKDOWN_ATTACKS[attack]
    incident = incident_with("plain words", "Plain title", sections=text)
    md = without_front_matter(draft(incident, name, "md").decode())
    html = draft(incident, name, "html").decode()
    for page in (Page(_md_to_html(md)), Page(html)):
        assert shown_text in "".join(page.text)
        hrefs = [dict(attrs).get("href") or "" for tag, attrs in page.tags if tag == "a"]
        if not_a_link:
            assert not any(href.startswith(not_a_link) for href in hrefs), hrefs
        levels = [tag for tag, text in page.headings if text.strip() in ("Top", "Second")]
        if attack == "a heading inside a section":
            # Below the section's own `##`, keeping their order: # -> ###, ## -> ####.
            assert levels and all(level == "h3" for level in levels[::2]), levels
    assert [h for h in md_headings(md) if h[0] in ("h1", "h2")] == [
        h for h in md_headings(without_front_matter(benign(name, "md").decode()))
        if h[0] in ("h1", "h2")
    ]
    if attack == "a heading inside a section":
        assert ("h3", "Top") in md_headings(md) and ("h4", "Second") in md_headings(md)
        document = word(draft(incident, name, "docx"))
        assert ("Heading 3", "Top") in word_headings(document)
    if attack == "nested links":
        # Only the inner link is one; "outer … text" is no link and no link holds another.
        # (The outer address, written out, is a bare link of its own, as in any chat.)
        for rendered in (_md_to_html(md), html):
            assert '<a href="https://inner.example">inner</a>' in rendered
            assert not re.search(r"<a [^>]*>outer", rendered)
            assert not re.search(r"<a [^>]*>(?:(?!</a>).)*<a ", rendered)



def _md_to_html(markdown: str) -> str:
    from drafting import MD

    return MD.render(markdown)
