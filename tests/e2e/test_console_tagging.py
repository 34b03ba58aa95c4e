"""The console honours INCIDENT_BOT_TAG_EMOJI (`+:NAME:` or `+EMOJI`), and the bot's ✅
comes off a message when its last tag does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli import incident_bot

pytestmark = pytest.mark.e2e

STAMP = re.compile(r"^\[[^\]]*\] ")

TRANSCRIPT = """\
[2025-03-04 09:00] alice: /incident start Queue backlog
[09:01] alice: Consumers are stuck
[09:02] bob: +:pushpin: 1
[09:03] bob: +⭐️ 1
[09:03] carol: +:star: 1
[09:04] bob: -⭐ 1
[09:05] carol: -:star: 1
[09:06] carol: +⭐ 1
[09:07] alice: /incident timeline
[09:08] alice: /incident timeline remove 3
"""


@pytest.mark.parametrize("setting", ["star", "⭐", ":star:"])
def test_the_console_tags_with_the_configured_emoji(tmp_path: Path, setting: str) -> None:
    result = incident_bot(
        "console", cwd=tmp_path, database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        stdin=TRANSCRIPT, env={"INCIDENT_BOT_TAG_EMOJI": setting},
    )
    assert result.code == 0, result.err
    lines = [STAMP.sub("", line) for line in result.out.splitlines() if line.startswith("[")]
    said = [line for line in lines if " bot: " in line]
    channel = "#inc-1-queue-backlog"
    assert "React with ⭐ to put a message on the timeline" in result.out
    after_pushpin = lines[lines.index(f"{channel} bob: +:pushpin: #1") + 1]
    assert " bot: " not in after_pushpin  # 📌 is not the tagging emoji here
    assert said.count(f"{channel} bot: ✅ #1 is on the timeline") == 2  # tagged, then again
    # bob's tag went first: carol's kept the entry; hers took it and the ✅ off.
    assert lines[lines.index(f"{channel} bob: -:star: #1") + 1] == f"{channel} carol: -:star: #1"
    gone = lines.index(f"{channel} carol: -:star: #1")
    assert lines[gone + 1] == f"{channel} bot: ✅ taken off #1"
    assert lines[gone + 2].startswith(f"{channel} bot: Took #3 off the timeline")
    # Taking the entry off by command takes the ✅ with it.
    removed = lines.index(f"{channel} #3 alice: /incident timeline remove 3")
    assert lines[removed + 1] == f"{channel} bot: ✅ taken off #1"
    assert lines[removed + 2].startswith(f"{channel} bot: Removed #3 from the timeline")


def test_a_tag_emoji_the_bot_does_not_know_stops_it_with_a_hint(tmp_path: Path) -> None:
    result = incident_bot(
        "console", cwd=tmp_path, database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        stdin=TRANSCRIPT, env={"INCIDENT_BOT_TAG_EMOJI": "pin"},
    )
    assert result.code == 2
    assert "tag_emoji: `pin` is not an emoji the bot knows" in result.err
    assert "pushpin (📌)" in result.err
