"""Reminders through `incident-bot console`: a bare stamp delivers what is due, also in a
fresh process on the same database (a restart), and never twice."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from cli import EXAMPLE, incident_bot

from bot.drafts.templates import builtin_registry

pytestmark = pytest.mark.e2e

CHANNEL = "#inc-1-checkout-returns-502-after-certificate"
REMINDER = re.compile(rf"^\[2025-03-05 15:00\] {CHANNEL} bot: (.*)$")


def console(stdin: str, workdir: Path, database_url: str) -> str:
    result = incident_bot(
        "console", "--tz", "Europe/Oslo", cwd=workdir, database_url=database_url, stdin=stdin
    )
    assert result.code == 0, result.err
    return result.out


def reminder_block(out: str) -> list[str]:
    """The reminder line and its continuation lines."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if REMINDER.match(line))
    block = [lines[start]]
    block += [line.strip() for line in lines[start + 1 :] if line.startswith("    ")]
    return block


def test_a_fresh_console_delivers_the_due_reminder_once(tmp_path: Path, database_url: str) -> None:
    *transcript, last = EXAMPLE.read_text().splitlines()
    assert last == "[2025-03-05 15:00]"
    played = console("\n".join(transcript) + "\n", tmp_path, database_url)
    assert " bot: @jonas: the postmortem" not in played

    out = console("[2025-03-05 15:00]\n", tmp_path, database_url)
    block = reminder_block(out)
    assert block[0].startswith(
        f"[2025-03-05 15:00] {CHANNEL} bot: @jonas: the postmortem of incident 1 "
        "(Checkout returns 502 after certificate rotation) still has "
    )
    template = builtin_registry().get("standard")
    assert template is not None
    written = {"summary", "root-cause"}  # set in the transcript
    empty = [
        s for s in template.sections if s.required and not s.generated and s.id not in written
    ]
    assert empty, "the standard template has required sections left empty"
    for section in empty:
        assert f"• {section.heading}: `/incident set {section.id} TEXT`" in block
    for section in template.sections:
        if section.id in written:
            assert all(f"• {section.heading}:" not in line for line in block)
    assert "Reminder 1 of 5. `/incident remind off` stops them." in block

    again = console("[2025-03-05 15:00]\n[2025-03-05 16:00]\n", tmp_path, database_url)
    assert "postmortem of incident 1" not in again  # delivered once, across restarts
    next_day = console("[2025-03-06 15:00]\n", tmp_path, database_url)
    assert "Reminder 2 of 5" in next_day


def test_due_reminders_go_out_before_the_next_line_is_handled(tmp_path: Path) -> None:
    out = console(
        "[2025-03-04 10:00] ana: /incident start Disk full\n"
        "[10:45] ana: /incident remind\n",
        tmp_path,
        f"sqlite:///{tmp_path}/bot.db",
    )
    lines = out.splitlines()
    reminder = next(i for i, line in enumerate(lines) if "no status update" in line)
    assert lines[reminder].startswith(
        "[10:45] #inc-1-disk-full bot: @ana: no status update in incident 1 for 30m."
    )
    listing = next(i for i, line in enumerate(lines) if "#1 ana: /incident remind" in line)
    assert reminder < listing
    # Due 10:30, sent at 10:45; the next keeps the rhythm of due times.
    assert "status update to @ana at 11:00 Europe/Oslo" in "\n".join(lines[listing:])


@pytest.mark.parametrize(("setting", "expect_reminder"), [(None, False), ("2m", True)])
def test_reminder_settings_reach_the_bot(
    tmp_path: Path, sqlite_url: str, setting: str | None, expect_reminder: bool
) -> None:
    env = {"INCIDENT_BOT_DECLARER_IS_COMMANDER": "false"}
    if setting is not None:
        env["INCIDENT_BOT_REMIND_NO_COMMANDER_AFTER"] = setting
    transcript = "[2025-03-04 10:00] maria: /incident start Queue backlog\n[10:03]\n"
    result = incident_bot(
        "console", cwd=tmp_path, database_url=sqlite_url, stdin=transcript, env=env
    )
    assert result.code == 0, result.err
    reminded = [line for line in result.out.splitlines() if line.startswith("[10:03]")]
    # The default is 10 minutes, so only the 2-minute setting reminds by 10:03.
    assert bool(reminded) == expect_reminder, result.out
    if expect_reminder:
        assert "commander" in reminded[0].lower()
