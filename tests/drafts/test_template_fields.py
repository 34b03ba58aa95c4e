"""A template's [[fields]] (one table, written with `set FIELD TEXT`) and [milestones]
(which key times its timeline lists, in its words and order): loaded from a team's
folder, rendered in md, html and docx, and refused with the file and line when wrong."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from drafting import BUILTINS, MD, T0, Page, draft, word

from bot.domain import Incident, MilestoneKind, Role
from bot.drafts.templates import TemplateRegistry, load_registry

OPS = """\
name = "ops"
title = "Ops review"
description = "Fields and key times."

[document]
timeline = "milestones"
findings = "What we found:"

[[fields]]
id = "regions"
label = "Regions"
guidance = "Which regions went down."

[[fields]]
id = "error-budget"
label = "Error budget spent"

[milestones]
detected = "Paged at"
started = "Errors from"
team-allocated = "Everyone on the call"
mitigated = "Errors stopped"

[[sections]]
id = "impact"
heading = "Impact"
include = ["fields", "durations"]

[[sections]]
id = "timeline"
heading = "Timeline"
"""
OPS_MD = """\
# {{ draft.title }}
{% for id in draft.section_order %}

## {{ draft.sections[id].heading }}

{% if id == "impact" %}
{% include "fields.md.j2" %}

{% include "durations.md.j2" %}
{% else %}
{% include "milestones.md.j2" %}
{% endif %}
{% endfor %}
"""
MINUTE = timedelta(minutes=1)


def ops_incident() -> Incident:
    incident = Incident.declare(
        workspace="w", number=3, title="EU down", platform="console", channel_id="inc-3",
        channel_name="inc-3", declared_by="maria", declared_at=T0, captured_at=T0,
        template="ops", timezone="Europe/Oslo",
    )
    incident.assign_role(Role.COMMANDER, "maria", by="maria", at=T0, now=T0)
    incident.assign_role(Role.OPS, "li", by="maria", at=T0 + 4 * MINUTE, now=T0 + 4 * MINUTE)
    incident.set_milestone(MilestoneKind.STARTED, T0 - 20 * MINUTE, by="li", now=T0)
    incident.set_milestone(MilestoneKind.DETECTED, T0 - 5 * MINUTE, by="li", now=T0)
    incident.set_milestone(MilestoneKind.MITIGATED, T0 + 25 * MINUTE, by="li", now=T0)
    incident.add_note("Failed over to the standby", author="li", at=T0 + 20 * MINUTE,
                      now=T0 + 20 * MINUTE, source_ref=None)
    incident.set_section("regions", "eu-west-1\nand eu-north-1", by="li", now=T0)
    return incident


@pytest.fixture
def registry(tmp_path: Path) -> TemplateRegistry:
    folder = tmp_path / "ops"
    folder.mkdir()
    (folder / "template.toml").write_text(OPS)
    (folder / "draft.md.j2").write_text(OPS_MD)
    loaded = load_registry(tmp_path)
    assert loaded.errors == []
    return loaded


def test_fields_and_key_times_in_markdown(registry: TemplateRegistry) -> None:
    md = draft(ops_incident(), "ops", "md", registry).decode()
    assert (
        "| Regions | Error budget spent |\n|:---:|:---:|\n| eu-west-1 and eu-north-1 |  |\n"
    ) in md
    # Marked the way an empty section is, with what fills it.
    mark = md[md.index("Error budget spent", md.index("|:---:|")) :]
    assert "/incident set error-budget TEXT" in mark[:120]
    assert "Impact duration: 45 min. Time to detect: 15 min. Time to mitigate: 45 min." in md
    # In the template's order and words; identified and resolved are unknown, and
    # [milestones] does not list declared: none of them is shown.
    assert (
        "- Paged at 13:57.\n- Errors from 13:42.\n- Everyone on the call 14:06.\n"
        "- Errors stopped 14:27.\n- Impact duration 45 min.\n- Time to detect 15 min.\n"
        "- Time to mitigate 45 min.\n- What we found:\n"
    ) in md
    findings = md[md.index("- What we found:\n") :].splitlines()[1:]
    assert findings and all(line.startswith("  - ") for line in findings)
    assert any(line.endswith("Failed over to the standby") for line in findings)
    [table] = [t for t in MD.parse(md) if t.type == "table_open"]
    assert table is not None


def test_fields_and_key_times_in_html_and_docx(registry: TemplateRegistry) -> None:
    html = draft(ops_incident(), "ops", "html", registry).decode()
    page = Page(html)
    text = " ".join("".join(page.text).split())
    assert "RegionsError budget spent" in text
    assert "eu-west-1 and eu-north-1" in text
    # The empty field is marked as an empty section is: a comment for whoever writes,
    # never text on the page.
    assert "/incident set error-budget TEXT" not in text
    assert re.search(
        r"<!-- To be written\. Error budget spent[^>]*/incident set error-budget TEXT -->", html
    )
    assert "Paged at 13:57. Errors from 13:42. Everyone on the call 14:06." in text
    assert text.index("What we found:") < text.index("Failed over to the standby")
    document = word(draft(ops_incident(), "ops", "docx", registry))
    rows = [[cell.text for cell in row.cells] for t in document.tables for row in t.rows]
    assert rows[:2] == [["Regions", "Error budget spent"], ["eu-west-1 and eu-north-1", ""]]
    notes = [comment.text for comment in document.comments]
    assert any(
        "Error budget spent" in note and "/incident set error-budget TEXT" in note
        for note in notes
    ), notes
    bullets = [(p.style.name, p.text) for p in document.paragraphs if p.style is not None
               and p.style.name is not None and p.style.name.startswith("List Bullet")]
    assert bullets[:4] == [
        ("List Bullet", "Paged at 13:57."), ("List Bullet", "Errors from 13:42."),
        ("List Bullet", "Everyone on the call 14:06."), ("List Bullet", "Errors stopped 14:27."),
    ]
    nested = [text for style, text in bullets if style == "List Bullet 2"]
    assert any(text.endswith("Failed over to the standby") for text in nested)


def test_without_the_impact_start_no_duration_appears_in_any_format(
    registry: TemplateRegistry,
) -> None:
    incident = ops_incident()
    incident.clear_milestone(MilestoneKind.STARTED)
    for fmt in ("md", "html"):
        out = draft(incident, "ops", fmt, registry).decode()
        assert "Impact duration" not in out and "Time to" not in out, fmt
        assert "Errors from" not in out
    document = word(draft(incident, "ops", "docx", registry))
    assert not any("Impact duration" in p.text for p in document.paragraphs)


@pytest.mark.parametrize(
    ("change", "line", "says"),
    [
        (('id = "regions"', 'id = "summary"'), 9, "`summary` is a section id"),
        (('id = "regions"', 'id = "Regions!"'), 9, "must be lower-case words joined by `-`"),
        (('id = "error-budget"', 'id = "regions"'), 14, "field `regions` appears twice"),
        (('label = "Regions"\n', ""), 9, "`label` must be a non-empty string"),
        (("detected = ", "noticed = "), 19, "[milestones] `noticed` is not a milestone"),
        (('timeline = "milestones"', 'timeline = "key-times"'), 6, "must be one of"),
    ],
)
def test_a_wrong_field_or_milestone_is_named_with_its_line(
    tmp_path: Path, change: tuple[str, str], line: int, says: str
) -> None:
    folder = tmp_path / "ops"
    folder.mkdir()
    (folder / "template.toml").write_text(OPS.replace(*change, 1))
    (folder / "draft.md.j2").write_text(OPS_MD)
    registry = load_registry(tmp_path)
    [problem] = registry.errors
    assert problem.location == f"{folder}/template.toml:{line}", problem.location
    assert says in problem.message
    assert registry.names() == sorted(BUILTINS)


def test_the_builtins_fields_are_what_set_accepts() -> None:
    registry = load_registry(None)
    assert registry.field_ids() == {"customers-impacted", "support-cases"}
    standard = registry.get("standard")
    assert standard is not None
    assert [(f.id, f.label) for f in standard.fields] == [
        ("customers-impacted", "Customers Impacted"),
        ("support-cases", "Support Cases Raised"),
    ]
