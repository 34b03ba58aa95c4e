"""What `incident-bot run` prints besides the chat: no migration steps, no library INFO."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cli import incident_bot

from adapters.config import ConfigError, load_settings
from adapters.logs import configure_logging

pytestmark = pytest.mark.e2e

TRANSCRIPT = "[2025-03-04 14:02] maria: /incident start Checkout returns 502\n"


def test_run_on_a_new_database_prints_no_migration_lines(tmp_path: Path) -> None:
    # Any free port, so the web pages really start (the default 8080 may be taken here).
    result = incident_bot(
        "run",
        cwd=tmp_path,
        database_url=f"sqlite:///{tmp_path}/new.db",
        stdin=TRANSCRIPT,
        env={"INCIDENT_BOT_HTTP_PORT": "0"},
    )
    assert result.code == 0, result.err
    assert "Incident 1: Checkout returns 502" in result.out
    assert "alembic" not in result.err
    assert " INFO " not in result.err
    # The one line a person needs from the web face, said once.
    assert result.err.count("web pages at http://127.0.0.1:") == 1, result.err


@pytest.fixture
def restore_logging() -> object:
    names = ["", "apscheduler.executors.default", "alembic", "adapters", "bot", "storage"]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_libraries_log_warnings_only_unless_asked() -> None:
    configure_logging(load_settings({}).log_level)
    assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert not logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
    assert logging.getLogger("apscheduler").isEnabledFor(logging.WARNING)
    assert logging.getLogger("adapters.scheduling").isEnabledFor(logging.INFO)

    configure_logging(load_settings({"INCIDENT_BOT_LOG_LEVEL": "info"}).log_level)
    assert logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)


def test_a_wrong_log_level_says_how_to_write_it() -> None:
    with pytest.raises(ConfigError, match="log_level: `loud` is not a log level; write one of"):
        load_settings({"INCIDENT_BOT_LOG_LEVEL": "loud"})
