"""Matrix fixtures: one real Synapse per test session, fresh users per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from synapse_server import Account, Synapse, register, start, stop


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    directory = tmp_path_factory.mktemp("synapse")
    server, process = start(directory)
    try:
        yield server
    finally:
        stop(process)


@pytest.fixture
def new_account(synapse: Synapse) -> Iterator[object]:
    """Registers a fresh user (uuid name) on the test Synapse: new_account("alice")."""

    def make(name: str) -> Account:
        localpart = f"{name}-{uuid.uuid4().hex[:10]}"
        return register(synapse, localpart, uuid.uuid4().hex)

    yield make


@pytest.fixture
def bot_env(synapse: Synapse, tmp_path: Path) -> dict[str, str]:
    """Everything but the bot's credentials: its database and its store."""
    return {
        "MATRIX_HOMESERVER": synapse.url,
        "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{tmp_path}/incident-bot.db",
        "INCIDENT_BOT_MATRIX_STORE": str(tmp_path / "matrix-store"),
    }
