"""Every source file of the shipped packages reaches git and the Docker image.

An ignore pattern written for a working-directory folder (`drafts/`) once matched
the package `bot/drafts/` too, and a fresh clone had no draft renderer.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "adapters", "storage", "migrations")


def shipped_files() -> list[str]:
    files = [
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    assert any(f.endswith("bot/drafts/render.py") for f in files)
    return files


def test_no_shipped_file_is_ignored_by_git() -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        input="\n".join(shipped_files()),
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.stdout.split() == [], f"ignored by .gitignore: {done.stdout.split()}"


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    # Docker matches from the context root; `**` spans folders, `*` does not.
    body = re.escape(pattern.strip("/")).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.compile(rf"^{body}(?:/.*)?$")


def test_no_shipped_file_is_left_out_of_the_docker_image() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("!")
    ]
    compiled = [(pattern, _docker_pattern(pattern)) for pattern in patterns]
    left_out = [
        (path, pattern) for path in shipped_files() for pattern, rx in compiled if rx.match(path)
    ]
    assert left_out == []


def test_the_docker_pattern_reader_matches_like_docker() -> None:
    assert _docker_pattern("**/drafts/").match("bot/drafts/render.py")
    assert not _docker_pattern("drafts").match("bot/drafts/render.py")
    assert _docker_pattern("drafts").match("drafts/incident-1.md")


def test_no_virtual_environment_or_outside_link_is_tracked() -> None:
    """A worktree's `.venv-synapse` symlink was committed once; checking it out turned
    the shared Synapse environment into a link to itself."""
    done = subprocess.run(
        ["git", "ls-files", "-s"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return  # not a git checkout (an unpacked sdist): nothing is tracked
    tracked = [line.split("\t", 1) for line in done.stdout.splitlines()]
    assert not [path for _, path in tracked if path.split("/")[0].startswith(".venv")]
    links = [path for mode, path in tracked if mode.startswith("120000")]
    assert links == [], f"symbolic links are tracked: {links}"
