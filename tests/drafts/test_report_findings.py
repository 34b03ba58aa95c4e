"""The report's timeline (seed 004): its key times, then under "Sequence of findings and
primary decision:" only what people put on the timeline, as the inline Markdown they
wrote, in Markdown, HTML and Word alike."""

from __future__ import annotations

from drafting import Page, draft, incident_with, word

from bot.domain import Incident

NOTE = "Rolled back **the bundle**, see [the runbook](https://example.test/rb)"


def _incident() -> Incident:
    # NOTE is on the timeline twice (backdated, and a note) and is the action item too.
    return incident_with(NOTE, "Checkout down", sections="Written.")


def test_findings_in_markdown_are_people_s_entries_as_markdown() -> None:
    md = draft(_incident(), "report", "md").decode()
    findings = md[md.index("- Sequence of findings and primary decision:\n") :]
    lines = [line for line in findings.splitlines()[1:] if line.startswith("  - ")]
    assert len(lines) == 2, lines  # the backdated entry and the note; no bookkeeping
    for line in lines:
        assert line.endswith(
            "Rolled back **the bundle**, see [the runbook](https://example.test/rb)"
        ), line
    for bookkeeping in ("Incident declared by", "assigned as", "Incident resolved"):
        assert bookkeeping not in findings


def test_findings_in_html_are_markup_and_leave_bookkeeping_out() -> None:
    html = draft(_incident(), "report", "html").decode()
    page = Page(html)
    text = " ".join("".join(page.text).split())
    start = text.index("Sequence of findings and primary decision:")
    findings = text[start : text.index("Root cause analysis", start)]
    assert findings.count("Rolled back the bundle, see the runbook") == 2
    assert "**" not in findings
    assert '<strong>the bundle</strong>' in html
    assert ("a", (("href", "https://example.test/rb"),)) in page.tags
    for bookkeeping in ("Incident declared by", "assigned as", "Incident resolved"):
        assert bookkeeping not in text


def test_findings_in_word_are_runs_and_leave_bookkeeping_out() -> None:
    document = word(draft(_incident(), "report", "docx"))
    nested = [
        p for p in document.paragraphs
        if p.style is not None and p.style.name == "List Bullet 2"
    ]
    assert len(nested) == 2, [p.text for p in nested]
    for paragraph in nested:
        assert "Rolled back the bundle, see the runbook" in paragraph.text
        assert "**" not in paragraph.text
        assert any(run.bold and run.text == "the bundle" for run in paragraph.runs)
    every = " ".join(p.text for p in document.paragraphs)
    for bookkeeping in ("Incident declared by", "assigned as", "Incident resolved"):
        assert bookkeeping not in every
