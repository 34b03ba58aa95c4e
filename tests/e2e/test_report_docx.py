"""The Word drafts as a reader gets them: the report's page, cover, contents and
references read back with python-docx, and every template's docx opened by LibreOffice
(converted to PDF, whose words are read back with poppler's pdftotext).

The incident is the report transcript (seed 004) with links people pasted: a merge
request, commits, a pull request, and ticket numbers the team writes as `WR#123`
(the `ticket_patterns` setting).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import docx
import pytest
from cli import REPO, incident_bot
from docx.document import Document as WordDocument
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml.ns import qn
from docx.shared import Mm

pytestmark = pytest.mark.e2e

TEMPLATES = ("standard", "retro", "blameless", "blog", "report")
MR = "https://gitlab.example.org/infra/aws/ecs-master/-/merge_requests/77"
COMMIT = "https://gitlab.example.org/infra/aws/ecs-master/-/commit/1a2b3c4d5e6f"
PR = "https://github.com/acme/moodle-infra/pull/12"
LINKS = [
    f"[11:06] hugo: /incident note Grants restored by {MR}, commit {COMMIT}.",
    f"[11:07] hugo: /incident append resolution Backported in [the infra PR]({PR}).",
    # Two numbered lists, in two sections: Word must number each from 1.
    "[11:08] hugo: /incident set lessons-learned 1. Staging code can remove grants",
    "[11:08] hugo: /incident append lessons-learned 2. Two code bases set one grant",
    "[11:08] hugo: /incident append lessons-learned 3. Launch failures raised no alert",
    "[11:09] hugo: /incident set next-steps 1. Move the KMS grants",
    "[11:09] hugo: /incident append next-steps 2. Review the Varnish patch",
]
SOFFICE = shutil.which("soffice")
PDFTOTEXT = shutil.which("pdftotext")


def _transcript() -> str:
    played = (REPO / "tests" / "transcripts" / "report.txt").read_text("utf-8").splitlines()
    close = next(i for i, line in enumerate(played) if line.endswith("/incident close"))
    return "\n".join([*played[:close], *LINKS, *played[close:]]) + "\n"


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    workdir = tmp_path_factory.mktemp("report-docx")
    url = f"sqlite:///{workdir / 'bot.db'}"
    result = incident_bot(
        "console", "--tz", "Europe/London", cwd=workdir, database_url=url, stdin=_transcript()
    )
    assert result.code == 0, result.err
    return workdir, url


def _export(
    played: tuple[Path, str], template: str, out: Path, env: dict[str, str] | None = None
) -> Path:
    workdir, url = played
    result = incident_bot(
        "export", "1", "--template", template, "--format", "docx", "--out", str(out),
        cwd=workdir, database_url=url,
        env={"INCIDENT_BOT_TICKET_PATTERNS": r"WR#\d+", **(env or {})},
    )
    assert result.code == 0, result.err
    return out


def _body_texts(document: WordDocument) -> list[tuple[str, str]]:
    """(style, text) of every body paragraph, in order."""
    return [
        (p.style.name if p.style is not None and p.style.name else "", p.text)
        for p in document.paragraphs
    ]


def test_the_report_is_a4_with_the_seed_cover_then_contents_then_revision_history(
    played: tuple[Path, str], tmp_path: Path
) -> None:
    document = docx.Document(str(_export(played, "report", tmp_path / "report.docx")))
    page = document.sections[0]
    assert page.page_width is not None and page.page_height is not None
    assert abs(page.page_width - Mm(210)) < Mm(1) and abs(page.page_height - Mm(297)) < Mm(1)

    paragraphs = document.paragraphs
    field = next(
        i for i, p in enumerate(paragraphs)
        if any(
            (node.text or "").strip() == 'TOC \\o "1-3" \\h \\z \\u'
            for node in p._p.iter(qn("w:instrText"))
        )
    )
    history = next(i for i, p in enumerate(paragraphs) if p.text == "Revision History")
    overview = next(
        i for i, p in enumerate(paragraphs)
        if p.text == "Overview" and p.style is not None and p.style.name == "Heading 1"
    )
    assert field < history < overview
    update = document.settings.element.find(qn("w:updateFields"))
    assert update is not None and update.get(qn("w:val")) == "true"
    # Where the schema puts it (Word refuses settings out of order): before <w:compat>.
    order = [child.tag for child in document.settings.element]
    assert order.index(qn("w:updateFields")) < order.index(qn("w:compat"))
    # The field's last result lists the headings, so a program that does not update
    # fields still shows the contents.
    assert "Introduction" in paragraphs[field].text

    cover = [text for _, text in _body_texts(document)[:field] if text]
    assert cover == [
        "Incident Postmortem", "UCL Moodle Production is Down", "by", "hugo",
        "Version: 0.1", "March 2023", "Internal use only", "Table of Contents",
    ]
    title = [p.text for p in paragraphs if p.style is not None and p.style.name == "Title"]
    assert title == ["UCL Moodle Production is Down"]


def test_references_list_what_the_messages_linked_as_hyperlinks(
    played: tuple[Path, str], tmp_path: Path
) -> None:
    document = docx.Document(str(_export(played, "report", tmp_path / "report.docx")))
    texts = _body_texts(document)
    start = texts.index(("Heading 1", "References"))
    after = texts[start + 1:]
    headings = [text for style, text in after if style == "Heading 2"]
    assert headings == ["Tickets", "Merge requests", "Pull requests", "Commits"]

    def under(heading: str) -> list[str]:
        index = after.index(("Heading 2", heading))
        items = []
        for style, text in after[index + 1:]:
            if style != "List Bullet":
                break
            items.append(text)
        return items

    assert under("Tickets") == ["WR#404019", "WR#403945"]
    assert under("Merge requests") == ["infra/aws/ecs-master!77"]
    assert under("Pull requests") == ["acme/moodle-infra#12"]
    assert under("Commits") == ["infra/aws/ecs-master@1a2b3c4d"]

    targets = {
        rel.rId: rel.target_ref
        for rel in document.part.rels.values()
        if rel.reltype == RELATIONSHIP_TYPE.HYPERLINK
    }
    links = {
        "".join(t.text or "" for t in link.iter(qn("w:t"))): targets[link.get(qn("r:id"))]
        for link in document.element.body.iter(qn("w:hyperlink"))
    }
    references = {
        "infra/aws/ecs-master!77": MR,
        "acme/moodle-infra#12": PR,
        "infra/aws/ecs-master@1a2b3c4d": COMMIT,
    }
    assert {label: links.get(label) for label in references} == references
    # The messages' own links are hyperlinks too, where people wrote them.
    assert set(links.values()) == {MR, PR, COMMIT}


def test_columns_are_sized_to_their_content(played: tuple[Path, str], tmp_path: Path) -> None:
    # The built-in report lists its timeline as seed 004's milestones; a team's copy
    # with `timeline = "table"` shows the table whose columns are checked here too.
    team = tmp_path / "templates"
    shutil.copytree(REPO / "bot" / "templates" / "report", team / "report")
    toml = team / "report" / "template.toml"
    toml.write_text(
        toml.read_text("utf-8").replace('timeline = "milestones"', 'timeline = "table"')
    )
    builtin = docx.Document(str(_export(played, "report", tmp_path / "report.docx")))
    tabled = docx.Document(
        str(
            _export(
                played, "report", tmp_path / "table.docx",
                {"INCIDENT_BOT_TEMPLATES_DIR": str(team)},
            )
        )
    )
    page = builtin.sections[0]
    assert page.page_width and page.left_margin and page.right_margin
    text_width = page.page_width - page.left_margin - page.right_margin

    def widths(document: Any, first_header: str) -> dict[str, int]:
        table = next(t for t in document.tables if t.rows[0].cells[0].text == first_header)
        assert not table.autofit  # the widths below are the ones shown
        return {
            cell.text: int(column.width or 0)
            for cell, column in zip(table.rows[0].cells, table.columns, strict=True)
        }

    # The report has no table of the incident's particulars (its seed has none); the
    # retro opens with one.
    retro = docx.Document(str(_export(played, "retro", tmp_path / "retro.docx")))
    assert not [t for t in builtin.tables if t.rows[0].cells[0].text == "Incident"]
    for document, header in ((builtin, "Role"), (builtin, "Modified By"), (retro, "Incident")):
        assert abs(sum(widths(document, header).values()) - text_width) < Mm(1), header
    assert abs(sum(widths(tabled, "Time").values()) - text_width) < Mm(1)
    # The incident's title has the widest column of the particulars...
    particulars = widths(retro, "Incident")
    assert particulars["Incident"] == max(particulars.values())
    # ... and what happened most of the timeline's width, the times little (no "Who":
    # the report credits nobody on its timeline).
    timeline = widths(tabled, "Time")
    assert "Who" not in timeline
    assert timeline["What happened"] > 2 * timeline["Time"]


def test_a_team_can_print_the_report_on_letter(
    played: tuple[Path, str], tmp_path: Path
) -> None:
    team = tmp_path / "templates"
    shutil.copytree(REPO / "bot" / "templates" / "report", team / "report")
    toml = team / "report" / "template.toml"
    toml.write_text(toml.read_text("utf-8").replace('page_size = "A4"', 'page_size = "Letter"'))
    out = _export(
        played, "report", tmp_path / "letter.docx", {"INCIDENT_BOT_TEMPLATES_DIR": str(team)}
    )
    page = docx.Document(str(out)).sections[0]
    assert page.page_width is not None and page.page_height is not None
    assert abs(page.page_width - Mm(215.9)) < Mm(1)
    assert abs(page.page_height - Mm(279.4)) < Mm(1)


@pytest.mark.skipif(
    SOFFICE is None or PDFTOTEXT is None,
    reason="LibreOffice or poppler is missing: `make test` installs them as root, or "
    "apt-get install --no-install-recommends libreoffice-writer-nogui poppler-utils",
)
def test_libreoffice_opens_every_templates_docx_and_breaks_no_word_in_a_table(
    played: tuple[Path, str], tmp_path: Path
) -> None:
    assert SOFFICE is not None and PDFTOTEXT is not None
    files = [_export(played, name, tmp_path / f"{name}.docx") for name in TEMPLATES]
    # Its own profile, so a LibreOffice already running (another test run) is not reused.
    profile = (tmp_path / "lo-profile").as_uri()
    done = subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(tmp_path / "pdf"), *map(str, files)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for path in files:
        pdf = tmp_path / "pdf" / f"{path.stem}.pdf"
        assert pdf.is_file() and pdf.stat().st_size > 0, f"{path.name}: {done.stdout}"
        text = subprocess.run(
            [PDFTOTEXT, str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        words = set(text.split())
        document = docx.Document(str(path))
        cells = {
            word
            for table in document.tables
            for row in table.rows
            for cell in row.cells
            for word in cell.text.split()
        }
        # A column too narrow for a word cuts it ("Productio" / "n"): every word of
        # every table must come out of the PDF whole (but a URL longer than a column
        # can be: it breaks wherever the column ends).
        broken = sorted(word for word in cells if word not in words and len(word) <= 20)
        assert not broken, f"{path.name}: words cut by a narrow column: {broken}"
        if path.stem == "report":
            info = subprocess.run(
                [shutil.which("pdfinfo") or "pdfinfo", str(pdf)],
                capture_output=True, text=True, check=True,
            ).stdout
            assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info), info
            # The contents, as LibreOffice shows them, before the revision history.
            assert text.index("Table of Contents") < text.index("Root cause analysis")
            assert text.index("Root cause analysis") < text.index("Revision History")
            # Each numbered list counts from 1, the second not on from the first (4, 5).
            lines = [" ".join(line.split()) for line in text.splitlines()]
            assert "1. Staging code can remove grants" in lines
            assert "3. Launch failures raised no alert" in lines
            assert "1. Move the KMS grants" in lines and "2. Review the Varnish patch" in lines
            assert "4. Move the KMS grants" not in lines
