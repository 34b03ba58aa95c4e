"""Templates from the package and from a team's folder: overriding by name, adding new
ones, and broken files reported with the file and line while the rest keep working."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from drafting import BUILTINS, Page, draft, incident_with, md_headings, word, word_headings

from bot.drafts.templates import TemplateError, builtin_registry, load_registry

TEAM_STANDARD = """\
name = "standard"
title = "Our standard"
description = "The payments team's own postmortem."

[[sections]]
id = "summary"
heading = "What broke"
guidance = "One sentence."

[[sections]]
id = "timeline"
heading = "Sequence of events"
"""
TEAM_STANDARD_MD = """\
# Payments postmortem: {{ draft.title }}
{% for id in draft.section_order %}
{% set section = draft.sections[id] %}

## {{ section.heading }}

{% if id == "timeline" %}{% include "timeline.md.j2" %}{% else %}{{ body(section) }}{% endif %}
{% endfor %}
"""
LITE = """\
name = "lite"
title = "Lite"
description = "Three questions."

[[sections]]
id = "what-went-wrong"
heading = "What hurt"

[[sections]]
id = "action-items"
heading = "Follow-ups"
"""
LITE_MD = """\
# {{ draft.title }}
{% for id in draft.section_order %}

## {{ draft.sections[id].heading }}
{% endfor %}
"""


def _template(root: Path, folder: str, toml: str, md: str) -> Path:
    path = root / folder
    path.mkdir(parents=True)
    (path / "template.toml").write_text(toml)
    (path / "draft.md.j2").write_text(md)
    return path


def test_the_five_builtins_load_without_errors() -> None:
    registry = builtin_registry()
    assert registry.names() == sorted(BUILTINS)
    assert registry.errors == []
    for template in registry.all():
        assert template.formats == ("md", "html", "docx")
        assert template.origin == "built-in"


def test_a_team_folder_overrides_a_builtin_and_adds_a_template(tmp_path: Path) -> None:
    _template(tmp_path, "ours", TEAM_STANDARD, TEAM_STANDARD_MD)
    _template(tmp_path, "lite", LITE, LITE_MD)
    registry = load_registry(tmp_path)
    assert registry.errors == []
    assert registry.names() == sorted([*BUILTINS, "lite"])
    standard = registry.get("standard")
    assert standard is not None and standard.origin == str(tmp_path)
    incident = incident_with("The card API timed out", "Payments down")
    md = draft(incident, "standard", "md", registry).decode()
    assert md.startswith("# Payments postmortem: Payments down")
    assert [h for _, h in md_headings(md)][1:] == ["What broke", "Sequence of events"]
    # The team wrote only Markdown; HTML and Word follow its sections all the same.
    page = Page(draft(incident, "standard", "html", registry).decode())
    assert [h for tag, h in page.headings if tag == "h2"] == ["What broke", "Sequence of events"]
    headings = word_headings(word(draft(incident, "lite", "docx", registry)))
    assert [h for style, h in headings if style == "Heading 1"] == ["What hurt", "Follow-ups"]
    # The built-ins the team did not touch are still there.
    assert registry.get("report") is not None and registry.get("report").origin == "built-in"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("file", "content", "where", "says"),
    [
        (
            "template.toml",
            LITE.replace('heading = "What hurt"', 'heading = "What hurt'),
            "template.toml:7",
            "not valid TOML",
        ),
        (
            "template.toml",
            LITE.replace('id = "action-items"', 'id = "followups"'),
            "template.toml:9",
            "unknown section id `followups`",
        ),
        (
            "draft.md.j2",
            "# {{ draft.title }}\n\n{% for id in draft.section_order %}\n## {{ id }\n",
            "draft.md.j2:4",
            "Jinja syntax",
        ),
        (
            "draft.html.j2",
            "<html>\n{% if draft.title %}\n</html>\n",
            "draft.html.j2:",
            "Jinja syntax",
        ),
        (
            "template.toml",
            LITE.replace('description = "Three questions."',
                         'description = "Three questions."\n[document]\npage_size = "A5"'),
            "template.toml:5",
            "`page_size` `A5` is not a paper size; use A4 or Letter",
        ),
        (
            "template.toml",
            LITE.replace('description = "Three questions."',
                         'description = "Three questions."\nfilename = "{{ draft.slug"'),
            "template.toml (filename)",
            "Jinja syntax",
        ),
        (
            "template.toml",
            LITE.replace('description = "Three questions."',
                         'description = "Three questions."\n[links]\nbugs = "Bugs"'),
            "template.toml",
            "[links] names the sub-headings of the references found",
        ),
    ],
)
def test_a_broken_template_is_reported_with_file_and_line_and_the_others_still_load(
    tmp_path: Path, file: str, content: str, where: str, says: str
) -> None:
    folder = _template(tmp_path, "lite", LITE, LITE_MD)
    (folder / file).write_text(content)
    registry = load_registry(tmp_path)
    [problem] = registry.errors
    assert problem.location.startswith(str(folder / where)), problem.location
    assert says in problem.message
    assert registry.get("lite") is None
    assert registry.names() == sorted(BUILTINS)


def test_a_missing_team_folder_is_reported(tmp_path: Path) -> None:
    registry = load_registry(tmp_path / "nowhere")
    [problem] = registry.errors
    assert "does not exist" in str(problem)
    assert registry.names() == sorted(BUILTINS)


def test_a_team_layout_naming_a_field_the_draft_lacks_fails_with_its_file(tmp_path: Path) -> None:
    _template(tmp_path, "lite", LITE, "# {{ draft.titel }}\n")
    registry = load_registry(tmp_path)
    with pytest.raises(TemplateError) as raised:
        draft(incident_with("x", "y"), "lite", "md", registry)
    assert raised.value.location.endswith("lite/draft.md.j2")
    assert "titel" in raised.value.message


def test_a_builtin_copied_into_the_team_folder_renders_the_same(tmp_path: Path) -> None:
    source = resources.files("bot").joinpath("templates", "retro")
    target = tmp_path / "retro"
    target.mkdir()
    for name in ("template.toml", "draft.md.j2"):
        (target / name).write_text(source.joinpath(name).read_text("utf-8"))
    registry = load_registry(tmp_path)
    incident = incident_with("Disk full", "Site outage")
    assert draft(incident, "retro", "md", registry) == draft(incident, "retro", "md")


def test_a_broken_team_partial_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "_shared").mkdir()
    (tmp_path / "_shared" / "extra.md.j2").write_text("ok\n{{ draft.title\n")
    registry = load_registry(tmp_path)
    [problem] = registry.errors
    assert problem.location == f"{tmp_path / '_shared' / 'extra.md.j2'}:2"
    assert registry.names() == sorted(BUILTINS)


def test_timeline_settings_bring_in_bookkeeping_and_credit_authors_never_typists(
    tmp_path: Path,
) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from drafting import T0

    from bot.drafts.view import build_view

    toml = LITE.replace(
        'description = "Three questions."',
        'description = "Three questions."\ntimeline_includes = ["declared", "resolved"]\n'
        'timeline_names = "authors"',
    ).replace('id = "action-items"', 'id = "timeline"')
    _template(tmp_path, "lite", toml, LITE_MD)
    registry = load_registry(tmp_path)
    assert not registry.errors
    template = registry.get("lite")
    assert template is not None
    incident = incident_with("words", "Title")
    view = build_view(
        incident, template, zone=ZoneInfo("UTC"), name_of=str.upper,
        command_prefix="!incident", now=T0 + timedelta(hours=1),
    )
    shown = [(entry.kind, entry.who, entry.text) for entry in view.timeline]
    assert shown == [
        ("backdated", None, "words"),  # typed by li about something that happened: no name
        ("automatic", None, "Incident declared by MARIA: Title"),
        ("note", "LI", "words"),
        ("automatic", None, "Incident resolved"),
    ]
    assert view.sections["what-went-wrong"].fill_command == "!incident set what-went-wrong TEXT"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('timeline_includes = ["declared", "coffee"]', "`timeline_includes` lists kinds"),
        ('timeline_names = "everyone"', "`timeline_names` must be one of none, authors"),
    ],
)
def test_bad_timeline_settings_say_how_to_write_them(tmp_path: Path, line: str, says: str) -> None:
    toml = LITE.replace('description = "Three questions."', f'description = "x"\n{line}')
    folder = _template(tmp_path, "lite", toml, LITE_MD)
    [problem] = load_registry(tmp_path).errors
    assert problem.location == f"{folder}/template.toml:4", problem.location
    assert says in problem.message


def test_an_edited_team_layout_renders_as_edited(tmp_path: Path) -> None:
    # Compiled layouts are kept between drafts; an edit must never be shown stale.
    folder = _template(tmp_path, "lite", LITE, LITE_MD)
    incident = incident_with("The card API timed out", "Payments down")
    before = draft(incident, "lite", "md", load_registry(tmp_path)).decode()
    assert before.startswith("# Payments down")
    (folder / "draft.md.j2").write_text(LITE_MD.replace("# {{", "# Edited: {{"))
    after = draft(incident, "lite", "md", load_registry(tmp_path)).decode()
    assert after.startswith("# Edited: Payments down")
    # And back: the first layout's draft again, not the edited one's.
    (folder / "draft.md.j2").write_text(LITE_MD)
    assert draft(incident, "lite", "md", load_registry(tmp_path)).decode() == before
