"""A whole incident played through `incident-bot console`, then exported: on SQLite and
on PostgreSQL, each command in its own process on one database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli import EXAMPLE, incident_bot

pytestmark = pytest.mark.e2e

# The standard template (seed 000) dates every line: "- DD-MM-YYYY HH:MM - text".
TIMELINE_LINE = re.compile(r"^- 04-03-2025 (\d\d:\d\d) - (.*)$")


def section(draft: str, heading: str) -> str:
    """The text under `## heading`, up to the next heading."""
    start = draft.index(f"## {heading}\n")
    rest = draft[start + len(heading) + 4 :]
    end = rest.find("\n## ")
    return rest if end < 0 else rest[:end]


@pytest.fixture
def played(tmp_path: Path, database_url: str) -> tuple[Path, str, str]:
    result = incident_bot(
        "console", "--tz", "Europe/Oslo",
        cwd=tmp_path, database_url=database_url, stdin=EXAMPLE.read_text(),
    )
    assert result.code == 0, result.err
    return tmp_path, database_url, result.out


def test_the_console_shows_numbers_pins_and_the_draft(played: tuple[Path, str, str]) -> None:
    workdir, _, out = played
    assert "[2025-03-04 14:02] #general #1 maria: /incident start Checkout returns 502" in out
    channel = "#inc-1-checkout-returns-502-after-certificate"
    assert f"[14:05] {channel} #4 li: Load balancer logs" in out
    assert f"[14:05] {channel} bot: ✅ #4 is on the timeline" in out
    assert f"[14:16] {channel} bot: ✅ #7 is on the timeline" in out
    assert "Added to the timeline at 13:40 Europe/Oslo (CET)" in out
    written = re.search(r"Wrote (\S+\.md):", out)
    assert written, out
    assert (workdir / written.group(1)).read_text().startswith(
        "# 04-03-2025 - Checkout returns 502 after certificate rotation"
    )


def test_the_exported_draft_has_the_timeline_roles_actions_and_empty_sections(
    played: tuple[Path, str, str],
) -> None:
    workdir, database_url, _ = played
    export = incident_bot("export", "1", cwd=workdir, database_url=database_url)
    assert export.code == 0, export.err
    draft = export.out

    timeline = section(draft, "Timeline")
    assert "Times are in Europe/Oslo (CET)." in timeline
    entries = [m.groups() for line in timeline.splitlines() if (m := TIMELINE_LINE.match(line))]
    times = [when for when, _ in entries]
    assert times == sorted(times), "the timeline is in time order"
    # The draft shows what people put on the timeline, credited to nobody (as the seed).
    assert entries[0] == ("13:40", "Certificate rotation job ran on payments-api")
    assert ("14:05", 'Load balancer logs show "certificate verify failed" towards '
            "payments-api") in entries
    assert ("14:09", 'Status page updated: "Checkout degraded"') in entries
    # Pinned at 14:16, on the timeline at 14:15 when it was posted.
    assert ("14:15", "Intermediate certificate missing from the new bundle; rolling back "
            "the bundle") in entries
    assert ("14:21", "Rollback finished, 502 rate back to baseline") in entries
    assert not any("assigned as" in text or "declared" in text for _, text in entries)
    assert times.index("13:40") < times.index("14:05")

    assert "Held by" not in draft, "the standard template's seed has no team section"

    impact = section(draft, "Impact")
    assert "| Customers Impacted | Support Cases Raised |" in impact
    assert "| Every customer paying by card | 3 |" in impact
    # From the milestones (started 14:02, mitigated 14:21), not declared -> resolved (42 min).
    assert "Impact duration: 19 min. Time to mitigate: 19 min." in impact
    assert "Time to detect" not in draft  # nobody said when it was detected
    assert "| SEV2 |" not in draft  # the bot's own columns are not the team's table
    assert "Checkout failed for 19 minutes" in section(draft, "Issue Summary")
    assert "leaf certificate only" in section(draft, "Root Cause")
    for empty in ("Resolution and recovery", "Corrective and Preventative Measures"):
        assert "<!-- To be written." in section(draft, empty)
    assert "Fill it in with: /incident set resolution TEXT -->" in section(
        draft, "Resolution and recovery"
    )
    assert "To be written" not in section(draft, "Issue Summary")
    measures = section(draft, "Corrective and Preventative Measures")
    assert "- [ ] Validate the full chain in the rotation job (owner: li)" in measures


def test_list_and_show_read_the_same_database(played: tuple[Path, str, str]) -> None:
    workdir, database_url, _ = played
    listing = incident_bot("list", cwd=workdir, database_url=database_url)
    assert listing.code == 0, listing.err
    assert "console/1\t2025-03-04 14:02 Europe/Oslo\tSEV2\tclosed\tCheckout returns 502" in (
        listing.out
    )
    show = incident_bot("show", "1", cwd=workdir, database_url=database_url)
    assert show.code == 0, show.err
    # Offline, people are named as stored (console handles are the names).
    assert "Operations Lead: li" in show.out
    assert "Impact started: 14:02\n" in show.out and "Mitigated: 14:21\n" in show.out
    assert "Impact duration 19 min; time to mitigate 19 min." in show.out
    assert "○ Impact: `/incident set impact TEXT`" in show.out
    assert "[ ] #1 Validate the full chain in the rotation job (li)" in show.out
    missing = incident_bot("show", "7", cwd=workdir, database_url=database_url)
    assert missing.code == 1 and "There is no incident 7" in missing.err


def test_a_second_console_carries_on_in_the_same_incident(
    played: tuple[Path, str, str],
) -> None:
    workdir, database_url, _ = played
    later = (
        "[2025-03-05 09:00] #inc-1-checkout-returns-502-after-certificate jonas: "
        "/incident set resolution Rolled back the bundle; all checkouts succeed again.\n"
        "[09:01] #general li: /incident start Search is slow\n"
    )
    result = incident_bot(
        "console", "--tz", "Europe/Oslo", cwd=workdir, database_url=database_url, stdin=later
    )
    assert result.code == 0, result.err
    assert "Section `resolution` (Resolution and recovery) saved." in result.out
    assert "Incident 2: Search is slow" in result.out
    draft = incident_bot("export", "1", cwd=workdir, database_url=database_url).out
    assert "Rolled back the bundle" in section(draft, "Resolution and recovery")


def test_unreadable_lines_are_explained_and_the_rest_is_kept(
    tmp_path: Path, database_url: str
) -> None:
    transcript = "\n".join(
        [
            "[2025-03-04 14:02] maria: /incident start Disk full",
            "[25:61] maria: nonsense stamp",
            "this line names nobody",
            "[14:03] maria: /incident note Cleaned /var/log",
            "[14:04] maria: +:pushpin: 42",
            "[14:01] maria: /incident severity 3",
        ]
    )
    result = incident_bot(
        "console", cwd=tmp_path, database_url=database_url, stdin=transcript + "\n"
    )
    assert result.code == 1
    assert "line 2: `[25:61]` is not a time of day" in result.err
    assert "line 3: no speaker in `this line names nobody`" in result.err
    assert "line 5: #inc-1-disk-full has no message 42 (it has 1 to 1)" in result.err
    assert "line 6: 2025-03-04 14:01 is before the clock" in result.err
    draft = incident_bot("export", "1", cwd=tmp_path, database_url=database_url).out
    assert re.search(r"^- \d\d-\d\d-\d{4} 14:03 - Cleaned /var/log$", draft, re.M)
    show = incident_bot("show", "1", cwd=tmp_path, database_url=database_url).out
    assert "severity SEV3" in show  # the line after the unreadable ones was kept


def test_db_upgrade_and_check_config_never_print_a_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade = incident_bot("db", "upgrade", cwd=tmp_path, database_url=url)
    assert upgrade.code == 0 and "is up to date" in upgrade.out
    check = incident_bot(
        "check-config", cwd=tmp_path,
        database_url="postgresql://bot:s3cret-pw@127.0.0.1:5432/incidents",
    )
    assert check.code == 0
    assert "database_url = postgresql://bot:***@127.0.0.1:5432/incidents" in check.out
    assert "s3cret-pw" not in check.out + check.err


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    result = incident_bot(
        "list", cwd=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}",
        env={"INCIDENT_BOT_TIMEZONE": "Europe/Olso"},
    )
    assert result.code == 2
    assert "`Europe/Olso` is not a known time zone" in result.err
