"""Matrix fixtures: one real Synapse per test session, fresh users per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from matrix_people import BotProcess, RunBot
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



@pytest.fixture
def run_bot(
    new_account: Callable[[str], Account], bot_env: dict[str, str], tmp_path: Path
) -> Iterator[RunBot]:
    """Starts `incident-bot run` as a fresh account that logs in with its password, with
    any settings given (`run_bot(INCIDENT_BOT_TAG_EMOJI="bookmark")`); stopped at the
    end of the test if the test did not stop it."""
    started: list[BotProcess] = []

    def run(**env: str) -> tuple[Account, BotProcess]:
        account = new_account("incident-bot")
        process = BotProcess(
            env={**bot_env, "MATRIX_USER_ID": account.user_id,
                 "MATRIX_PASSWORD": account.password, **env},
            workdir=tmp_path,
        )
        started.append(process)
        process.start()
        return account, process

    yield run
    for process in started:
        process.stop()
