"""User text is data in every format of every template: whatever it holds, the draft has
the same structure as one written with plain words, and the text comes out literally."""

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
    md_headings,
    md_skeleton,
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
]
hostile = (
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=10)), min_size=1, max_size=6)
    .map("".join)
    .map(lambda text: CONTROL.sub("", text))
    .filter(lambda text: bool(text.strip()))
)

BENIGN = incident_with("plain words", "Plain title")
# Paragraphs and line breaks follow the user's own lines; nothing else may.
TEXT_FLOW = {"p", "/p", "br"}


@functools.cache
def benign(name: str, fmt: str) -> bytes:
    return draft(BENIGN, name, fmt)


def without_front_matter(markdown: str) -> str:
    """Jekyll takes the front matter off and runs Liquid before Markdown sees the post
    (blog)."""
    if markdown.startswith("---\n"):
        return liquid_pass(markdown.split("\n---\n", 1)[1])
    return markdown


def structure(page: Page) -> list[tuple[str, tuple[tuple[str, str | None], ...]]]:
    return [(tag, attrs) for tag, attrs in page.tags if tag not in TEXT_FLOW]


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(BUILTINS), text=hostile, title=hostile)
def test_markdown_structure_does_not_depend_on_user_text(name: str, text: str, title: str) -> None:
    expected = without_front_matter(benign(name, "md").decode())
    full = draft(incident_with(text, " ".join(title.split())), name, "md").decode()
    got = without_front_matter(full)
    assert md_skeleton(got) == md_skeleton(expected)
    # Section headings are the template's, whatever the title says.
    assert md_headings(got)[1:] == md_headings(expected)[1:]
    if name == "blog":  # front matter: exactly three keys between the fences
        lines = full.splitlines()
        assert lines[0] == "---" and lines[4] == "---"
        assert [line.split(":")[0] for line in lines[1:4]] == ["layout", "title", "category"]
        assert json.loads(lines[2].removeprefix("title: ")).startswith(
            "Post-mortem: " + " ".join(title.split())
        )


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(BUILTINS), text=hostile, title=hostile)
def test_html_elements_and_attributes_do_not_depend_on_user_text(
    name: str, text: str, title: str
) -> None:
    expected = Page(benign(name, "html").decode())
    got = Page(draft(incident_with(text, " ".join(title.split())), name, "html").decode())
    assert structure(got) == structure(expected)
    assert not any(tag == "script" for tag, _ in got.tags)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(BUILTINS), text=hostile)
def test_word_headings_and_tables_do_not_depend_on_user_text(name: str, text: str) -> None:
    expected = word(benign(name, "docx"))
    got = word(draft(incident_with(text, "Plain title"), name, "docx"))
    assert word_headings(got) == word_headings(expected)
    shape = [(len(t.rows), len(t.columns)) for t in got.tables]
    assert shape == [(len(t.rows), len(t.columns)) for t in expected.tables]


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
def test_each_hostile_case_comes_out_literally_in_every_format(name: str, case: str) -> None:
    incident = incident_with(case, f"Title {case}")

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


def _md_to_html(markdown: str) -> str:
    from drafting import MD

    return MD.render(markdown)
