"""Runs the installed `incident-bot` command the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "checkout-outage.txt"
COMMAND = Path(sys.executable).parent / "incident-bot"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def incident_bot(
    *args: str, cwd: Path, database_url: str, stdin: str = "", env: dict[str, str] | None = None
) -> Result:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("INCIDENT_BOT_")
    }
    environment.update({"INCIDENT_BOT_DATABASE_URL": database_url, **(env or {})})
    done = subprocess.run(
        [str(COMMAND), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=120,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)
