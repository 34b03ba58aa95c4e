"""Shared fixtures: a database on each backend, migrated or not, and units of work on it.

`database_url` is parametrized over SQLite (a file in tmp_path) and PostgreSQL (a
fresh database on 127.0.0.1:5432, user postgres, trust authentication, dropped
afterwards). When PostgreSQL does not answer, its cases are skipped with a note on
how to start it; `-m "not postgres"` leaves them out altogether.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from storage.database import upgrade_database
from storage.uow import SqlAlchemyUnitOfWorkFactory, unit_of_work_factory

# The maintenance connection used to create and drop the test databases.
POSTGRES_ADMIN_CONNINFO = os.environ.get(
    "INCIDENT_BOT_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
POSTGRES_START_HINT = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)
# The test databases talk to clients in a zone that is not UTC, so that a datetime
# read back without normalisation would show.
POSTGRES_TEST_TIMEZONE = "Asia/Kolkata"

_postgres_error: list[str] = []  # why PostgreSQL is unavailable, once found out


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    if _postgres_error:
        pytest.skip(_postgres_error[0])
    try:
        return psycopg.connect(POSTGRES_ADMIN_CONNINFO, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0]
        _postgres_error.append(
            f"PostgreSQL does not answer ({POSTGRES_ADMIN_CONNINFO}: {reason}); "
            + POSTGRES_START_HINT
        )
        pytest.skip(_postgres_error[0])


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped at teardown."""
    name = f"incident_bot_test_{uuid.uuid4().hex}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        admin.execute(
            sql.SQL("ALTER DATABASE {} SET timezone TO {}").format(
                sql.Identifier(name), sql.Literal(POSTGRES_TEST_TIMEZONE)
            )
        )
    params = psycopg.conninfo.conninfo_to_dict(POSTGRES_ADMIN_CONNINFO)
    user = params.get("user", "postgres")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", 5432)
    try:
        yield f"postgresql://{user}@{host}:{port}/{name}"
    finally:
        with _admin_connection() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    """A SQLite database file (not created yet) in the test's own directory."""
    return f"sqlite:///{os.fspath(tmp_path)}/incident-bot.db"


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend in turn (URL as a user would write it)."""
    backend: str = request.param
    return str(request.getfixturevalue(f"{backend}_url"))


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """`database_url`, upgraded to the latest schema."""
    upgrade_database(database_url)
    return database_url


@pytest.fixture
def uow_factory(migrated_url: str) -> Iterator[SqlAlchemyUnitOfWorkFactory]:
    """Units of work on a migrated database; the engine is disposed afterwards."""
    factory = unit_of_work_factory(migrated_url)
    try:
        yield factory
    finally:
        factory.dispose()
