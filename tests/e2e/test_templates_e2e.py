"""Each built-in template, played from a transcript modelled on its seed through
`incident-bot console`, exported in md, html and docx (in chat and on the command line),
and read back: the seed's headings in order, the timeline in time order with the
original times, the roles, the action items, and the empty sections marked with the
command that fills them. Plus a team's templates folder, good and broken."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import docx
import pytest
from cli import REPO, incident_bot

pytestmark = pytest.mark.e2e

TRANSCRIPTS = REPO / "tests" / "transcripts"
sys_path_drafts = REPO / "tests" / "drafts"


@dataclass(frozen=True)
class Expected:
    zone: str
    md_title: str  # the first line of the Markdown draft
    headings: list[str]  # `## ` headings of the Markdown draft, in order
    timeline: list[tuple[str, str]]  # (time as shown, text), in the order shown
    timeline_pattern: str  # one Markdown timeline line -> (time, text)
    filled: dict[str, str]  # heading -> text written in the transcript
    empty: dict[str, str]  # heading -> the command that fills it
    actions: list[str]  # Markdown lines of the action items
    roles: dict[str, str] = field(
        default_factory=dict
    )  # role -> holder as the draft shows it


ROLE_TITLES = ("Incident commander", "Communications Lead", "Operations Lead", "Reporting Lead")

EXPECTED = {
    "standard": Expected(
        zone="Europe/London",
        md_title="# 24-10-2024 - All instances not available to SaaS customers",
        headings=[
            "Impact", "Issue Summary", "Timeline", "Root Cause",
            "Resolution and recovery", "Corrective and Preventative Measures",
        ],
        timeline=[
            ("16-10-2024 11:58", "[PR-158](https://github.com/bottlerocket-os/bottlerocket-core-kit"
             "/pull/158) merged: a default setting blocks writable/executable memory for all "
             "services"),
            ("24-10-2024 02:00", "Bottlerocket v1.26.0 released, including PR-158"),
            ("24-10-2024 04:45", "SaaS uptime metric shows a significant drop in availability"),
            ("24-10-2024 08:15", 'Customer pods are in CrashLoopBackOff: "Failed to mark '
             'memory page as executable"'),
            ("24-10-2024 08:30", "Nodes were updated to v1.26.0 at 05:33; Bottlerocket "
             "issue 4260 describes the same failure"),
            ("24-10-2024 08:51", "Reverting every EC2 instance in production to v1.25.0"),
            ("24-10-2024 09:15", "Customer instances are coming back online; service restored"),
        ],
        timeline_pattern=r"^- (\d\d-\d\d-\d{4} \d\d:\d\d) - (.*)$",
        filled={
            "Issue Summary": "All of our SaaS customer instances showed the Environment "
            "Unavailable message.",
            "Root Cause": "PR-158 was released in Bottlerocket `v1.26.0`",
        },
        empty={
            "Impact": "/incident set impact TEXT",
            "Resolution and recovery": "/incident set resolution TEXT",
            "Corrective and Preventative Measures": "/incident set prevention TEXT",
        },
        actions=[
            "- [ ] Pin the node OS version and roll upgrades through staging first (owner: tb)",
            "- [ ] Alert on the SaaS uptime metric (owner: lb)",
        ],
    ),
    "retro": Expected(
        zone="Europe/Amsterdam",
        md_title="# Site Outage",
        headings=["What happened?", "What went wrong?", "What went well?", "Prevention Measures"],
        timeline=[
            ("2024-08-10 13:05", "Disk space in production is exhausted by container "
             "teardown error messages"),
            ("2024-08-10 13:06", "Service outage occurs"),
            ("2024-08-12 15:51", "A reboot is initiated"),
            ("2024-08-12 16:00", "Disk space is identified as the problem; space is "
             "reclaimed and service restoration begins"),
            ("2024-08-12 16:08", "Journal/log files are removed to restore disk space"),
            ("2024-08-12 16:09", "Service recovers, albeit with continuing error messages"),
            ("2024-08-12 17:08", "Container runtime updated to `CRI-O v1.30`"),
        ],
        timeline_pattern="days",
        filled={
            "What went wrong?": "Lack of system uptime monitoring delayed identifying the "
            "outage.",
            "What went well?": "During recovery, the container teardown problem was solved.",
        },
        empty={"Prevention Measures": "/incident set prevention TEXT"},
        actions=[
            "- [ ] Alert on free disk space (owner: ben)",
            "- [ ] Add uptime monitoring for the site (owner: ana)",
        ],
    ),
    "blameless": Expected(
        zone="Europe/Oslo",
        md_title="# Booking backend unresponsive after EKS 1.20 upgrade",
        headings=[
            "Summary", "Timeline", "Impact", "Cause(s)", "Solution", "What went well",
            "What went wrong", "Where were we lucky", "Mitigations", "Action items",
            "Supporting information and documentation",
        ],
        timeline=[
            ("2022-06-13 15:15", "We completed the final step in the upgrade guide; the "
             "frontend stopped working"),
            ("2022-06-13 15:30", "kubectl describe pod shows FailedCreatePodSandBox: failed"
             " to assign an IP address to container"),
            ("2022-06-13 16:00", "AWS' support contact offered to help debugging"),
            ("2022-06-13 16:19", "Met with AWS' contact: the SecurityGroupPolicy is missing"
             " a security group"),
            ("2022-06-13 16:35", "Set the correct security group; the application works "
             "again"),
        ],
        timeline_pattern="days",
        filled={
            "Summary": "The development backend became unresponsive",
            "Impact": "stopped working between 15:15 and 16:35.",
            "Cause(s)": "EKS 1.20 together with outdated application manifests",
            "Solution": "Removed `dnsPolicy: Default` and **added**",
            "What went well": "We ran the upgrade in development before production.",
        },
        empty={
            "What went wrong": "/incident set what-went-wrong TEXT",
            "Where were we lucky": "/incident set where-we-got-lucky TEXT",
            "Mitigations": "/incident set prevention TEXT",
            "Supporting information and documentation": "/incident set supporting-info TEXT",
        },
        actions=["- [ ] Add pre-checks to the EKS upgrade guide (owner: ola)"],
    ),
    "blog": Expected(
        zone="UTC",
        md_title="---",
        headings=[
            "Impact", "Root Causes", "Trigger", "Detection", "Resolution", "Action items",
            "Lessons learned", "What Went Well?", "What Went Wrong?", "Where We Got Lucky",
            "Timeline (times in UTC)",
        ],
        # Played in Europe/Berlin (CET, UTC+1): the post's timeline is in UTC.
        timeline=[
            ("10:00", "Started to deploy the new Salt setup"),
            ("10:05", "Noticed a problem with the webserver on the main login-proxy"),
            ("10:06", "Checking the failover machine"),
            ("10:10", "Found the issue on the failover machine and started keepalived "
             "again"),
            ("10:20", "Found the issue on the main machine and fixed the scripts and "
             "filesystem ACLs"),
            ("10:25", "Final rollout of the fixed scripts and rollback of the services to "
             "the main machine"),
        ],
        timeline_pattern=r"^- (\d\d:\d\d) (.*)$",
        filled={
            "Impact": "outdated certificate for around 20 minutes",
            "Trigger": "- Moving the dehydrated configuration to a setup generated and deployed via"
            " Salt.\n- Missing fallback capabilities",
            "Resolution": "re-enabled keepalived on the secondary node",
        },
        empty={
            "Root Causes": "/incident set root-cause TEXT",
            "Detection": "/incident set detection TEXT",
            "Lessons learned": "/incident set lessons-learned TEXT",
            "What Went Well?": "/incident set what-went-well TEXT",
            "What Went Wrong?": "/incident set what-went-wrong TEXT",
            "Where We Got Lucky": "/incident set where-we-got-lucky TEXT",
        },
        actions=[
            "- [x]  Check and fix the Salt profile for dehydrated (owner: tom)",
            "- [ ]  Always run a Salt highstate when a machine rejoins production (owner: eva)",
        ],
    ),
    "report": Expected(
        zone="Europe/London",
        md_title="# Incident Postmortem",
        headings=[
            "Table of Contents", "Revision History", "Introduction", "Overview",
            "Related tickets", "Team allocation", "Timeline", "Root cause analysis",
            "Conclusion", "Lessons learned", "Problem Resolution", "Next steps", "References",
        ],
        timeline=[
            ("09:45", "Identified: AMIs cannot be decrypted, the ASG auto-scaling role "
             "lost its KMS grants"),
            ("10:20", "Re-enabled the KMS grants for the ASG auto-scaling role"),
        ],
        # The findings, nested under seed 004's milestone list.
        timeline_pattern=r"^  - (\d\d:\d\d) (.*)$",
        filled={
            "Overview": "The KMS key's grants were not available",
            "Related tickets": "- WR#404019\n- WR#403945",
            "Root cause analysis": "The staging code update removed the KMS grants",
            "Conclusion": "manage KMS grants for AMIs in one place",
            "Problem Resolution": "Reset the KMS grants",
        },
        empty={
            "Lessons learned": "/incident set lessons-learned TEXT",
            "Next steps": "/incident set next-steps TEXT",
            "References": "/incident set references TEXT",
        },
        actions=["- [ ] Move the KMS grants into the AWS accounts module (owner: hugo)"],
        roles={
            "Incident commander": "michiel", "Communications Lead": "michiel",
            "Operations Lead": "hugo", "Reporting Lead": "hugo",
        },
    ),
}


@dataclass(frozen=True)
class Played:
    workdir: Path
    database_url: str
    out: str


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def played(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Played:
    name = str(request.param)
    workdir = tmp_path_factory.mktemp(name)
    url = f"sqlite:///{workdir / 'bot.db'}"
    transcript = (TRANSCRIPTS / f"{name}.txt").read_text()
    zone = re.search(r"--tz (\S+)", transcript)
    assert zone, "each transcript names the zone it is played in"
    result = incident_bot(
        "console", "--tz", zone.group(1), cwd=workdir, database_url=url, stdin=transcript
    )
    assert result.code == 0, result.err
    return Played(workdir, url, result.out)


def _name(played: Played) -> str:
    return played.workdir.name.rstrip("0123456789")


def _export(played: Played, fmt: str) -> Path:
    out = played.workdir / f"cli.{fmt}"
    result = incident_bot(
        "export", "1", "--format", fmt, "--out", str(out),
        cwd=played.workdir, database_url=played.database_url,
    )
    assert result.code == 0, result.err
    return out


def _section(md: str, heading: str) -> str:
    start = md.index(f"\n## {heading}\n") + len(heading) + 5
    end = md.find("\n## ", start)
    return md[start:] if end < 0 else md[start:end]


def _md_timeline(md: str, pattern: str) -> list[tuple[str, str]]:
    lines = md.splitlines()
    if pattern == "days":  # retro: "- DATE" then "  - HH:MM text"; blameless: "### DATE"
        entries, day = [], ""
        for line in lines:
            if m := re.match(r"^(?:- |### )(\d{4}-\d\d-\d\d)$", line):
                day = m.group(1)
            elif m := re.match(r"^(?:  - |\* )(\d\d:\d\d):? (.*)$", line):
                entries.append((f"{day} {m.group(1)}", m.group(2)))
        return entries
    if pattern == "table":
        rows = [re.match(r"^\| (\d\d:\d\d) \| (.*) \|$", line) for line in lines]
        return [(m.group(1), m.group(2)) for m in rows if m]
    return [m.groups() for line in lines if (m := re.match(pattern, line))]  # type: ignore[misc]


def _unescape(md: str) -> str:
    return re.sub(r"\\([\\`*_\[\]|~#.\-+=])", r"\1", md)


def _as_rendered(markdown: str) -> str:
    """What a reader sees of inline Markdown: `[x](url)` -> x, no backticks or `**`."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown).replace("`", "").replace("**", "")


def _in_order(text: str, expected: list[tuple[str, str]]) -> None:
    """Each (time, text) appears after the one before, with its time just ahead of it."""
    position = 0
    for when, what in expected:
        what = what.split(": ", 1)[1] if what.split(": ", 1)[0].isalnum() else what
        what = _as_rendered(what)
        found = text.find(what, position)
        assert found >= 0, f"{what!r} missing or out of order"
        assert when.split(" ")[-1] in text[max(0, found - 60) : found], (when, what)
        position = found


def test_markdown_has_the_seed_layout_timeline_roles_actions_and_empty_sections(
    played: Played,
) -> None:
    name = _name(played)
    want = EXPECTED[name]
    md = _export(played, "md").read_text()
    assert md.splitlines()[0] == want.md_title
    assert re.findall(r"^## (.*)$", md, re.M) == want.headings
    timeline = [(when, _unescape(text)) for when, text in _md_timeline(md, want.timeline_pattern)]
    for entry in want.timeline:
        assert entry in timeline, entry
    shown = [timeline.index(entry) for entry in want.timeline]
    assert shown == sorted(shown), "the timeline is in time order"
    for heading, text in want.filled.items():
        assert text in _unescape(_section(md, heading)), heading
        assert "To be written" not in _section(md, heading)
    for heading, command in want.empty.items():
        # Guidance and the command for an empty section are a comment, unseen when rendered.
        assert "<!-- To be written." in _section(md, heading), heading
        assert f"Fill it in with: {command} -->" in _section(md, heading), heading
    for line in want.actions:
        assert line in md
    flat = _unescape(md)
    for role, holder in want.roles.items():
        assert f"| {role} | {holder} |" in flat, (role, holder)
    if not want.roles:  # only the report's seed has a team section
        assert "Held by" not in md and "Incident commander" not in md
    if name == "blog":
        assert md.splitlines()[1:5] == [
            "layout: post",
            'title: "Post-mortem: Downtime of the reference server on February 23, 2023"',
            "category: post-mortem",
            "---",
        ]
        assert "Times are in" not in md  # the heading says UTC; the body needs no more
    else:
        assert f"Times are in {want.zone}" in md
    if name == "blameless":
        assert "<!--\nDescribe the reason and the consequences" in _section(md, "Summary")


def test_html_is_one_self_contained_page_with_the_same_content(played: Played) -> None:
    import sys

    sys.path.insert(0, str(sys_path_drafts))
    from drafting import Page

    want = EXPECTED[_name(played)]
    chat_copy = re.search(r"Wrote (drafts/\S+\.html) \(\d+ bytes\)\.", played.out)
    assert chat_copy, "`export html` in chat writes the page and prints its path"
    for path in (_export(played, "html"), played.workdir / chat_copy.group(1)):
        html = path.read_text()
        page = Page(html)
        tags = {tag for tag, _ in page.tags}
        assert "script" not in tags and "link" not in tags and "img" not in tags
        # Links are fine; nothing is fetched when the page opens.
        assert "@media print" in html
        assert not re.search(r"""(src|href)=["'](?!https?://|mailto:|#)""", html)
        assert [h for tag, h in page.headings if tag == "h2"] == [
            h for h in want.headings if h not in ("Revision History", "Table of Contents")
        ] or [h for tag, h in page.headings if tag == "h2"] == want.headings
        text = " ".join("".join(page.text).split())
        _in_order(text, want.timeline)
        for heading, command in want.empty.items():
            assert "To be written." not in text, "guidance is a comment, not page text"
            assert f"Fill it in with: {command} -->" in html, heading
        for holder in want.roles.values():
            assert holder in text
        for line in want.actions:
            action = line.split("]", 1)[1].strip()
            assert " ".join(action.split()) in text


def test_docx_has_real_headings_and_tables(played: Played) -> None:
    want = EXPECTED[_name(played)]
    chat_copy = re.search(r"Wrote (drafts/\S+\.docx) \(\d+ bytes\)\.", played.out)
    assert chat_copy, "`export docx` in chat writes the file and prints its path, no preview"
    for path in (_export(played, "docx"), played.workdir / chat_copy.group(1)):
        document = docx.Document(str(path))
        headings = [
            p.text for p in document.paragraphs
            if p.style is not None and p.style.name == "Heading 1"
        ]
        assert headings == want.headings or headings == [
            h for h in want.headings if h not in ("Revision History", "Table of Contents")
        ]
        titles = [p.text for p in document.paragraphs if p.style and p.style.name == "Title"]
        assert len(titles) == 1
        roles_tables = [t for t in document.tables if t.rows[0].cells[0].text == "Role"]
        if want.roles:
            rows = {row.cells[0].text: row.cells[1].text for row in roles_tables[0].rows[1:]}
            assert rows == want.roles
        else:
            assert not roles_tables
        cells = [c.text for t in document.tables for r in t.rows for c in r.cells]
        text = " ".join("\n".join([p.text for p in document.paragraphs] + cells).split())
        _in_order(text, want.timeline)
        comments = [comment.text for comment in document.comments]
        for heading, command in want.empty.items():
            assert command not in text, "what an empty section needs is a Word comment"
            assert any(note.endswith(f"Fill it in with: {command}") for note in comments), heading
        for line in want.actions:
            mark = "☒" if line.startswith("- [x]") else "☐"
            action = " ".join(line.split("]", 1)[1].split())
            assert f"{mark} {action}" in text


# Seed 004's timeline: its key times in its words and order (the impact's start was
# never given, so it is left out), then the findings.
REPORT_MILESTONES = [
    "- Time of alert/issue being noticed 9:16.",
    "- Time of identification 9:45.",
    "- Time of issue being declared an incident 9:16.",
    "- Incident response team allocated 9:30.",
    "- Time of mitigation 10:34.",
    "- Time of resolution 10:50.",
    "- Sequence of findings and primary decision:",
]
# Seed 000's impact table, filled with `set customers-impacted All` and `set support-cases 1`.
STANDARD_FIELDS = "| Customers Impacted | Support Cases Raised |\n|:---:|:---:|\n| All | 1 |\n"
# Impact 04:45 -> mitigated 09:15 (moved there from the `status monitoring` at 09:16),
# detected 08:07.
STANDARD_DURATIONS = "Impact duration: 4 h 30 min. Time to detect: 3 h 22 min. " \
    "Time to mitigate: 4 h 30 min."


def test_milestones_give_the_durations_and_the_report_timeline(played: Played) -> None:
    import sys

    sys.path.insert(0, str(sys_path_drafts))
    from drafting import Page

    name = _name(played)
    md = _export(played, "md").read_text()
    page = Page(_export(played, "html").read_text())
    html_text = " ".join("".join(page.text).split())
    document = docx.Document(str(_export(played, "docx")))
    cells = [[c.text for c in row.cells] for t in document.tables for row in t.rows]
    paragraphs = [(p.style.name if p.style else "", p.text) for p in document.paragraphs]
    docx_text = " ".join(text for _, text in paragraphs)
    if name == "standard":
        impact = _section(md, "Impact")
        assert impact.lstrip("\n").startswith(STANDARD_FIELDS)
        assert STANDARD_DURATIONS in impact
        assert "| Severity |" not in md and "| SEV1 |" not in md  # the bot's columns are gone
        assert STANDARD_DURATIONS in html_text and STANDARD_DURATIONS in docx_text
        assert re.search(r"Customers Impacted ?Support Cases Raised ?All ?1", html_text)
        assert ("table", (("class", "fields"),)) in page.tags
        assert ["Customers Impacted", "Support Cases Raised"] in cells and ["All", "1"] in cells
        return
    # Every other transcript leaves the impact's start unknown: no duration is printed,
    # in particular not declared -> resolved.
    for text in (md, html_text, docx_text):
        for label in ("Impact duration", "Time to detect", "Time to mitigate", "Duration"):
            assert label not in text, (name, label)
    if name == "retro":  # declared 15:45, resolved 17:10: no "1 h 25 min" of outage
        assert "1 h 25 min" not in md and "1 h 25 min" not in html_text
    if name != "report":
        return
    timeline = _section(md, "Timeline")
    listed = [line for line in timeline.splitlines() if line.startswith("- ")]
    assert listed == REPORT_MILESTONES
    findings = timeline[timeline.index(REPORT_MILESTONES[-1]) :]
    # Only what people put on the timeline, credited to nobody (seed 004's findings);
    # the bot's bookkeeping (declared, roles, status, severity) stays out.
    assert [line for line in findings.splitlines()[1:] if line.strip()] == [
        "  - 09:45 Identified: AMIs cannot be decrypted, the ASG auto-scaling role lost its"
        " KMS grants",
        "  - 10:20 Re-enabled the KMS grants for the ASG auto-scaling role",
    ]
    assert " ".join(line[2:] for line in REPORT_MILESTONES) in html_text
    bullets = [text for style, text in paragraphs if style == "List Bullet"]
    # (The bullets before them are the related tickets, a Markdown list people wrote.)
    first = bullets.index(REPORT_MILESTONES[0][2:])
    listed_in_word = bullets[first : first + len(REPORT_MILESTONES)]
    assert [line[2:] for line in REPORT_MILESTONES] == listed_in_word
    nested = [text for style, text in paragraphs if style == "List Bullet 2"]
    assert nested == [
        "09:45 Identified: AMIs cannot be decrypted, the ASG auto-scaling role lost its KMS"
        " grants",
        "10:20 Re-enabled the KMS grants for the ASG auto-scaling role",
    ]


def test_close_posts_the_markdown_draft_into_the_channel(played: Played) -> None:
    want = EXPECTED[_name(played)]
    written = re.findall(r"Wrote (drafts/\S+\.md):", played.out)
    assert len(written) == 1, "close posts one Markdown draft"
    md = (played.workdir / written[0]).read_text()
    assert re.findall(r"^## (.*)$", md, re.M) == want.headings


TEAM_RETRO = """\
name = "retro"
title = "Our retro"
description = "The platform team's retro."

[[sections]]
id = "what-went-wrong"
heading = "Pain points"

[[sections]]
id = "timeline"
heading = "Log"
"""
TEAM_LAYOUT = """\
# Platform retro: {{ draft.title }}
{% for id in draft.section_order %}
{% set section = draft.sections[id] %}

## {{ section.heading }}

{% if id == "timeline" %}{% include "timeline.md.j2" %}{% else %}{{ body(section) }}{% endif %}
{% endfor %}
"""
NEW_TEMPLATE = TEAM_RETRO.replace('"retro"', '"quick"', 1).replace("Our retro", "Quick")


def test_a_team_folder_overrides_adds_and_reports_a_broken_template(tmp_path: Path) -> None:
    team = tmp_path / "team-templates"
    for folder, toml in (("retro", TEAM_RETRO), ("quick", NEW_TEMPLATE), ("broken", NEW_TEMPLATE)):
        (team / folder).mkdir(parents=True)
        (team / folder / "template.toml").write_text(toml)
        (team / folder / "draft.md.j2").write_text(TEAM_LAYOUT)
    broken = team / "broken" / "draft.md.j2"
    broken.write_text("# {{ draft.title }}\n{% for id in draft.section_order %}\n")
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    env = {"INCIDENT_BOT_TEMPLATES_DIR": str(team)}
    transcript = "\n".join([
        "[2025-01-10 10:00] ana: /incident start Queue backlog",
        "[10:01] ana: /incident templates",
        "[10:02] ana: /incident set what-went-wrong The consumer was scaled to zero",
        "[10:03] ana: /incident set summary Jobs waited an hour",
        "[10:04] ana: /incident template quick",
        "[10:05] ana: /incident sections",
        "[10:06] ana: /incident template standard",
        "[10:07] ana: /incident sections",
        "[10:08] ana: /incident template retro",
    ]) + "\n"
    result = incident_bot("console", cwd=tmp_path, database_url=url, stdin=transcript, env=env)
    # A broken team template does not stop the bot; it is named with file and line.
    assert result.code == 0, result.err
    where = f"{broken}:2"
    assert f"template not loaded: {where}: Jinja syntax" in result.err
    assert f"Broken template, not loaded: {where}: Jinja syntax" in result.out
    assert f"retro: The platform team's retro. [team: {team / 'retro'}]" in result.out
    assert f"quick: The platform team's retro. [team: {team / 'quick'}]" in result.out
    assert "blameless: Blameless postmortem" in result.out  # built-ins are still there
    # `sections` shows the chosen template's sections; others' text is kept, not lost.
    assert "✓ Pain points (what-went-wrong)" in result.out
    assert "Also written, not in this template: summary." in result.out
    assert "✓ Issue Summary (summary)" in result.out
    assert "Also written, not in this template: what-went-wrong." in result.out

    md = incident_bot("export", "1", cwd=tmp_path, database_url=url, env=env)
    assert md.code == 0, md.err
    assert md.out.startswith("# Platform retro: Queue backlog")
    assert re.findall(r"^## (.*)$", md.out, re.M) == ["Pain points", "Log"]
    assert "The consumer was scaled to zero" in md.out
    docx_out = tmp_path / "quick.docx"
    exported = incident_bot(
        "export", "1", "--template", "quick", "--format", "docx", "--out", str(docx_out),
        cwd=tmp_path, database_url=url, env=env,
    )
    assert exported.code == 0, exported.err
    headings = [p.text for p in docx.Document(str(docx_out)).paragraphs
                if p.style is not None and p.style.name == "Heading 1"]
    assert headings == ["Pain points", "Log"]
    unknown = incident_bot(
        "export", "1", "--template", "broken", cwd=tmp_path, database_url=url, env=env
    )
    assert unknown.code == 1 and "--template `broken` is not a template" in unknown.err
    no_out = incident_bot("export", "1", "--format", "docx", cwd=tmp_path, database_url=url)
    assert no_out.code == 1 and "--out FILE.docx" in no_out.err
