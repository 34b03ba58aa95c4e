"""A real web face (uvicorn on a free loopback port) over a database that the console
filled, the way `incident-bot run` serves it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The e2e helpers (the `incident-bot` command as a user runs it) are shared with them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from cli import EXAMPLE, incident_bot
from web_face import HOSTILE_TRANSCRIPT, Client, start_face


@pytest.fixture(scope="module")
def filled_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example incident (closed) and a hostile open one, on SQLite."""
    workdir = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{workdir / 'web.db'}"
    for transcript in (EXAMPLE.read_text(), HOSTILE_TRANSCRIPT):
        played = incident_bot(
            "console", "--tz", "Europe/Oslo", cwd=workdir, database_url=url, stdin=transcript
        )
        assert played.code == 0, played.err
    return url




@pytest.fixture(scope="module")
def web(filled_database: str) -> Iterator[Client]:
    face = start_face(filled_database)
    try:
        yield Client(face.url)
    finally:
        face.stop()
