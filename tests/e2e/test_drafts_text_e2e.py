"""Each built-in's transcript, exported in md, html and docx, read back as a reader
meets it: the timeline holds only what people put on it (no bookkeeping, no handles,
least of all on back-dated lines), and the Markdown people typed is rendered (code,
links, emphasis, list items), checked with markdown-it-py, an HTML parser and
python-docx runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import docx
import pytest
from cli import REPO, incident_bot
from markdown_it import MarkdownIt

sys.path.insert(0, str(REPO / "tests" / "drafts"))
from drafting import Page

pytestmark = pytest.mark.e2e

TRANSCRIPTS = REPO / "tests" / "transcripts"
MD = MarkdownIt("commonmark").enable("table")
BOOKKEEPING = (
    "Incident declared", "assigned as", "handed over", "Severity set", "Status:",
    "Incident resolved", "Incident closed",
)
# What each transcript types in Markdown, and how it must come out.
RENDERED = {
    "standard": {"code": ["v1.26.0"], "links": [("PR-158", "https://github.com/bottlerocket-os/"
                 "bottlerocket-core-kit/pull/158")], "items": []},
    "retro": {"code": ["CRI-O v1.30"], "links": [], "items": [
        "Lack of system uptime monitoring delayed identifying the outage.",
        "Errors seen during container deployments were ignored.",
    ]},
    "blameless": {"code": ["dnsPolicy: Default"], "links": [], "items": [], "strong": ["added"]},
    "blog": {"code": [], "links": [], "items": [
        "Moving the dehydrated configuration to a setup generated and deployed via Salt.",
        "Missing fallback capabilities because of a disabled service on the backup node",
    ]},
    "report": {"code": [], "links": [], "items": ["WR#404019", "WR#403945"]},
}


@pytest.fixture(scope="module", params=sorted(RENDERED))
def exported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, Path], list[str]]:
    name = str(request.param)
    workdir = tmp_path_factory.mktemp(f"text-{name}")
    url = f"sqlite:///{workdir / 'bot.db'}"
    transcript = (TRANSCRIPTS / f"{name}.txt").read_text()
    zone = re.search(r"--tz (\S+)", transcript)
    assert zone
    played = incident_bot(
        "console", "--tz", zone.group(1), cwd=workdir, database_url=url, stdin=transcript
    )
    assert played.code == 0, played.err
    handles = sorted(set(re.findall(r"^\[[^\]]*\] ([a-z0-9._-]+):", transcript, re.M)))
    files = {}
    for fmt in ("md", "html", "docx"):
        out = workdir / f"draft.{fmt}"
        result = incident_bot(
            "export", "1", "--format", fmt, "--out", str(out), cwd=workdir, database_url=url
        )
        assert result.code == 0, result.err
        files[fmt] = out
    return name, files, handles


def _timeline_md(md: str) -> str:
    """The Markdown of the timeline section (whatever its heading)."""
    headings = list(re.finditer(r"^## (.*)$", md, re.M))
    for index, heading in enumerate(headings):
        if heading.group(1) in ("Timeline", "What happened?", "Timeline (times in UTC)"):
            end = headings[index + 1].start() if index + 1 < len(headings) else len(md)
            return md[heading.end() : end]
    raise AssertionError("no timeline section")


def test_the_timeline_holds_only_what_people_put_on_it(
    exported: tuple[str, dict[str, Path], list[str]],
) -> None:
    _, files, handles = exported
    timeline = _timeline_md(files["md"].read_text())
    lines = [line for line in timeline.splitlines() if re.match(r"^\s*[-*|] ", line)]
    assert lines, "the timeline has entries"
    for line in lines:
        assert not any(mark in line for mark in BOOKKEEPING), line
        # Nobody is credited: not the 📌'd message's author, not whoever typed a back-dated line.
        assert not any(re.search(rf"(?<![\w/]){re.escape(h)}: ", line) for h in handles), line
    html = Page(files["html"].read_text())
    text = "".join(html.text)
    document = docx.Document(str(files["docx"]))
    word = "\n".join(p.text for p in document.paragraphs) + "\n".join(
        c.text for t in document.tables for r in t.rows for c in r.cells
    )
    for shown in (text, word):
        assert not any(mark in shown for mark in BOOKKEEPING[:2] + BOOKKEEPING[3:5])


def test_user_markdown_is_rendered_in_every_format(
    exported: tuple[str, dict[str, Path], list[str]],
) -> None:
    name, files, _ = exported
    want = RENDERED[name]
    md = files["md"].read_text()
    tokens = MD.parse(md)
    inline = [child for token in tokens if token.type == "inline" for child in token.children or []]
    codes = [child.content for child in inline if child.type == "code_inline"]
    links = [
        (inline[index + 1].content, str(child.attrs["href"]))
        for index, child in enumerate(inline) if child.type == "link_open"
    ]
    items = [
        tokens[index + 2].content
        for index, token in enumerate(tokens) if token.type == "list_item_open"
    ]
    for code in want["code"]:
        assert code in codes, (code, codes)
    for link in want["links"]:
        assert link in links, (link, links)
    for item in want["items"]:
        assert item in items, (item, items)
    if want["items"]:  # `append` of `- x` continued the list: one list, no paragraph between
        first, last = items.index(want["items"][0]), items.index(want["items"][-1])
        assert last - first == len(want["items"]) - 1

    page = Page(files["html"].read_text())
    html = files["html"].read_text()
    for code in want["code"]:
        assert f"<code>{code}</code>" in html
    for label, href in want["links"]:
        assert f'<a href="{href}">{label}</a>' in html
    for item in want["items"]:
        assert f"<li>{item}</li>" in html
    for strong in want.get("strong", []):
        assert f"<strong>{strong}</strong>" in html
    assert "`" not in "".join(page.text).split("Times are in")[0] or name == "blameless"

    document = docx.Document(str(files["docx"]))
    runs = [run for p in document.paragraphs for run in p.runs]
    for code in want["code"]:
        assert any(run.text == code and run.font.name == "Consolas" for run in runs), code
    for strong in want.get("strong", []):
        assert any(run.text == strong and run.bold for run in runs), strong
    texts = "\n".join(p.text for p in document.paragraphs)
    assert "`" not in texts, "no literal backticks in Word"
    for label, href in want["links"]:
        links = [h for p in document.paragraphs for h in p.hyperlinks]
        assert any(h.text == label and h.url == href for h in links), label
    for item in want["items"]:
        assert any(
            p.text == item and p.style is not None and p.style.name.startswith("List")
            for p in document.paragraphs
        ), item


DST_TRANSCRIPT = """\
[2024-10-27 00:50] ana: /incident start Queue stalls
[01:30] ben: First stall seen, summer time
[01:31] ana: +:pushpin:
[03:00] ben: /incident timeline add 2024-10-27 01:30+00:00 Second stall seen, winter time
[03:05] ana: /incident resolve
"""


def test_a_london_incident_across_the_end_of_summer_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    played = incident_bot(
        "console", "--tz", "Europe/London", cwd=tmp_path, database_url=url, stdin=DST_TRANSCRIPT
    )
    assert played.code == 0, played.err
    assert "Added to the timeline at 01:30 Europe/London (GMT)" in played.out
    shown = {}
    for fmt in ("md", "html", "docx"):
        out = tmp_path / f"dst.{fmt}"
        result = incident_bot(
            "export", "1", "--format", fmt, "--out", str(out), cwd=tmp_path, database_url=url
        )
        assert result.code == 0, result.err
        if fmt == "docx":
            document = docx.Document(str(out))
            shown[fmt] = "\n".join(p.text for p in document.paragraphs)
        elif fmt == "html":
            shown[fmt] = "".join(Page(out.read_text()).text)
        else:
            shown[fmt] = out.read_text()
    for fmt, text in shown.items():
        assert "27-10-2024 01:30 BST - First stall seen, summer time" in text, fmt
        assert "27-10-2024 01:30 GMT - Second stall seen, winter time" in text, fmt
        summer, winter = text.index("First stall"), text.index("Second stall")
        assert summer < text.index("The clocks went back an hour") < winter, fmt
        assert "BST (UTC+01:00), then GMT (UTC+00:00) from 27-10-2024 01:00" in text, fmt
