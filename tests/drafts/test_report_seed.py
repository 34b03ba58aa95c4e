"""The report draft held beside its seed (004, a formal "Incident Postmortem"): what its
team would otherwise delete or rewrite. The Introduction is only a heading over the
overview, the related tickets and the team; the durations are said once, in the key
times; "Incident response team allocated" is when the team was allocated; an empty
Related tickets reads as any empty section; Word numbers each list from its own start."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from docx.oxml.ns import qn
from drafting import Page, draft, word

from bot.domain import Incident, MilestoneKind, Role

T0 = datetime(2023, 3, 27, 8, 16, tzinfo=UTC)  # 09:16 BST
MINUTE = timedelta(minutes=1)
LESSONS = (
    "1. Staging code removed the grants\n2. Nobody was alerted\n3. Two code bases set one grant"
)
STEPS = "1. Move the KMS grants\n2. Review the Varnish patch"
LATE_LIST = "3. Third\n4. Fourth"
WRITTEN = {
    "summary": "The KMS key's grants were not available for the ASG auto-scaling role.",
    "root-cause": "The staging code update removed the KMS grants.",
    "prevention": "Manage KMS grants in one place.",
    "lessons-learned": LESSONS,
    "resolution": "Reset the KMS grants.",
    "next-steps": STEPS,
    "references": LATE_LIST,
}


def _incident(*, written: dict[str, str] = WRITTEN, late_reporter: bool = True) -> Incident:
    """Declared 09:16 by hugo (made commander by `start`), michiel takes command at 09:30
    and comms at 09:31, the reporting lead is named only after the fix (10:40); impact
    from 09:10, noticed 09:16, identified 09:45, mitigated 10:30."""
    incident = Incident.declare(
        workspace="w", number=4, title="UCL Moodle Production is Down", platform="console",
        channel_id="inc-4", channel_name="inc-4", declared_by="hugo", declared_at=T0,
        captured_at=T0, template="report", timezone="Europe/London",
    )
    incident.assign_role(Role.COMMANDER, "hugo", by="hugo", at=T0, now=T0)
    for role, user, minutes in (
        (Role.COMMANDER, "michiel", 14), (Role.COMMS, "michiel", 15), (Role.OPS, "hugo", 16),
    ):
        at = T0 + minutes * MINUTE
        incident.assign_role(role, user, by="hugo", at=at, now=at)
    if late_reporter:
        incident.assign_role(Role.REPORTING, "hugo", by="michiel", at=T0 + 84 * MINUTE,
                             now=T0 + 84 * MINUTE)
    for kind, minutes in (
        (MilestoneKind.STARTED, -6), (MilestoneKind.DETECTED, 0),
        (MilestoneKind.IDENTIFIED, 29), (MilestoneKind.MITIGATED, 74),
    ):
        incident.set_milestone(kind, T0 + minutes * MINUTE, by="hugo", now=T0 + 80 * MINUTE)
    incident.add_note("Confirmed that AMIs were not being decrypted.", author="hugo",
                      at=T0 + 29 * MINUTE, now=T0 + 29 * MINUTE, source_ref=None)
    for section_id, text in written.items():
        incident.set_section(section_id, text, by="hugo", now=T0 + 90 * MINUTE)
    incident.resolve(by="michiel", at=T0 + 94 * MINUTE, now=T0 + 94 * MINUTE)
    return incident


def _md_section(markdown: str, heading: str) -> str:
    start = markdown.index(f"\n## {heading}\n") + len(heading) + 5
    end = markdown.find("\n## ", start)
    return markdown[start:] if end < 0 else markdown[start:end]


def _shown(markdown: str) -> str:
    """What a reader of the rendered Markdown sees of it: HTML comments are not shown."""
    return re.sub(r"<!--.*?-->", "", markdown, flags=re.S).strip()


def _html_between(html: str, first: str, second: str) -> str:
    """The page's visible text from heading `first` to heading `second`, past the contents."""
    text = " ".join("".join(Page(html).text).split())
    body = text[text.index("Initial version") :]
    start = body.index(first) + len(first)
    return body[start : body.index(second, start)].strip()


def _word_body(content: bytes) -> list[tuple[str, str]]:
    """(style or "table", text) of each block of the Word body, in order."""
    document = word(content)
    styles = {style.style_id: style.name for style in document.styles}
    blocks = []
    for element in document.element.body:
        if element.tag == qn("w:tbl"):
            blocks.append(("table", "".join(t.text or "" for t in element.iter(qn("w:t")))))
        elif element.tag == qn("w:p"):
            style = element.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")
            name = styles.get(style.get(qn("w:val")), "") if style is not None else ""
            blocks.append((name, "".join(t.text or "" for t in element.iter(qn("w:t")))))
    return blocks


def _word_between(content: bytes, first: str, second: str) -> list[tuple[str, str]]:
    blocks = _word_body(content)
    start = blocks.index(("Heading 1", first))
    end = blocks.index(("Heading 1", second))
    return [block for block in blocks[start + 1 : end] if block[1] or block[0] == "table"]


# 1. The Introduction ---------------------------------------------------------------


def test_the_introduction_is_only_a_heading_over_the_overview() -> None:
    incident = _incident()
    md = draft(incident, "report", "md").decode()
    assert _shown(_md_section(md, "Introduction")) == ""
    assert "This report covers" not in md and "| Severity |" not in md
    headings = re.findall(r"^## (.*)$", md, re.M)
    assert headings[headings.index("Introduction") + 1] == "Overview"
    html = draft(incident, "report", "html").decode()
    assert _html_between(html, "Introduction", "Overview") == ""
    assert 'class="meta"' not in html
    docx = draft(incident, "report", "docx")
    assert _word_between(docx, "Introduction", "Overview") == []
    # Whoever writes the report learns it may hold words, in the margin only.
    notes = [comment.text for comment in word(docx).comments]
    assert any(note.endswith("/incident set introduction TEXT") for note in notes)


def test_words_the_team_writes_for_the_introduction_show_under_its_heading() -> None:
    words = "This report covers the outage of UCL Moodle production on 27 March."
    incident = _incident(written={**WRITTEN, "introduction": words})
    md = draft(incident, "report", "md").decode()
    assert _md_section(md, "Introduction").strip() == words
    assert _html_between(draft(incident, "report", "html").decode(), "Introduction",
                         "Overview") == words
    assert _word_between(draft(incident, "report", "docx"), "Introduction", "Overview") == [
        ("", words)
    ]


# 2. Durations, once ----------------------------------------------------------------

DURATIONS = ("Impact duration 1 h 20 min.", "Time to detect 6 min.", "Time to mitigate 1 h 20 min.")


def test_durations_are_given_once_in_the_key_times() -> None:
    incident = _incident()
    md = draft(incident, "report", "md").decode()
    timeline = _md_section(md, "Timeline")
    for line in DURATIONS:
        assert f"- {line}\n" in timeline
    for label in ("Impact duration", "Time to detect", "Time to mitigate"):
        assert md.count(label) == 1, label
    html_text = " ".join("".join(Page(draft(incident, "report", "html").decode()).text).split())
    word_text = " ".join(text for _, text in _word_body(draft(incident, "report", "docx")))
    for label in ("Impact duration", "Time to detect", "Time to mitigate"):
        assert html_text.count(label) == 1 and word_text.count(label) == 1, label
    assert all(line in html_text and line in word_text for line in DURATIONS)


# 3. Incident response team allocated -----------------------------------------------


def _allocated(incident: Incident) -> list[str]:
    timeline = _md_section(draft(incident, "report", "md").decode(), "Timeline")
    return [line for line in timeline.splitlines() if "team allocated" in line]


def test_team_allocated_is_the_first_role_given_not_the_reporter_named_late() -> None:
    # michiel takes command at 09:30: the team is allocated then, before the
    # identification at 09:45 as in the seed; the reporting lead named at 10:40 (after
    # the fix) does not move it.
    assert _allocated(_incident()) == ["- Incident response team allocated 9:30."]
    md = draft(_incident(), "report", "md").decode()
    keys = [line for line in _md_section(md, "Timeline").splitlines() if line.startswith("- ")]
    assert keys[:5] == [
        "- Time the impact started 9:10.",
        "- Time of alert/issue being noticed 9:16.",
        "- Time of identification 9:45.",
        "- Time of issue being declared an incident 9:16.",
        "- Incident response team allocated 9:30.",
    ]


def test_no_team_allocated_when_only_the_declarer_was_made_commander() -> None:
    incident = Incident.declare(
        workspace="w", number=5, title="Alone", platform="console", channel_id="inc-5",
        channel_name="inc-5", declared_by="hugo", declared_at=T0, captured_at=T0,
        template="report", timezone="Europe/London",
    )
    incident.assign_role(Role.COMMANDER, "hugo", by="hugo", at=T0, now=T0)
    assert _allocated(incident) == []
    incident.assign_role(Role.OPS, "ana", by="hugo", at=T0 + 3 * MINUTE, now=T0 + 3 * MINUTE)
    assert _allocated(incident) == ["- Incident response team allocated 9:19."]


# 4. Related tickets, empty ---------------------------------------------------------


def test_empty_related_tickets_reads_as_any_empty_section() -> None:
    written = {k: v for k, v in WRITTEN.items() if k != "lessons-learned"}
    incident = _incident(written=written)
    md = draft(incident, "report", "md").decode()
    related, lessons = _md_section(md, "Related tickets"), _md_section(md, "Lessons learned")
    assert _shown(related) == "" and _shown(lessons) == ""
    assert "/incident set related-tickets TEXT -->" in related
    assert "To be written" not in _shown(md)
    html = draft(incident, "report", "html").decode()
    assert _html_between(html, "Related tickets", "Team allocation") == ""
    assert _html_between(html, "Lessons learned", "Problem Resolution") == ""
    docx = draft(incident, "report", "docx")
    assert _word_between(docx, "Related tickets", "Team allocation") == []
    assert _word_between(docx, "Lessons learned", "Problem Resolution") == []
    notes = [comment.text for comment in word(docx).comments]
    for command in ("/incident set related-tickets TEXT", "/incident set lessons-learned TEXT"):
        assert any(note.startswith("To be written.") and note.endswith(command) for note in notes)


# 5. Word's numbered lists ----------------------------------------------------------


def test_each_numbered_list_in_word_counts_from_its_own_start() -> None:
    document = word(draft(_incident(), "report", "docx"))
    numbering = document.part.numbering_part.element
    numbered = [
        (p.text, p._p.pPr.numPr)
        for p in document.paragraphs
        if p.style is not None and p.style.name == "List Number"
    ]
    assert [text for text, _ in numbered] == [
        "Staging code removed the grants", "Nobody was alerted", "Two code bases set one grant",
        "Move the KMS grants", "Review the Varnish patch", "Third", "Fourth",
    ]
    ids = [int(properties.numId.val) for _, properties in numbered]
    # One numbering instance per list, each restarted where its Markdown starts.
    assert ids[0] == ids[1] == ids[2] != ids[3] == ids[4] != ids[5] == ids[6] != ids[0]

    def start(num_id: int) -> int:
        instance = numbering.num_having_numId(num_id)
        override = instance.find(f"{qn('w:lvlOverride')}/{qn('w:startOverride')}")
        return int(override.get(qn("w:val")))

    assert [start(ids[0]), start(ids[3]), start(ids[5])] == [1, 1, 3]
    # The same look as the style's own numbering: the same abstract definition.
    style_id = document.styles["List Number"].element.pPr.numPr.numId.val
    abstract = numbering.num_having_numId(style_id).abstractNumId.val
    assert {numbering.num_having_numId(i).abstractNumId.val for i in ids} == {abstract}
