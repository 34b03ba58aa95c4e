"""Engines and schema migrations.

SQLite (the default) gets WAL journaling, enforced foreign keys, a busy timeout and
real transactions (`BEGIN IMMEDIATE`, so two writers queue instead of failing).
PostgreSQL URLs are pointed at the psycopg 3 driver.

Migrations run programmatically from the `migrations` package that ships with the
code, so `upgrade_database()` works from an installed wheel, in any directory, with
no alembic.ini.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url

import migrations
from bot.ports import StorageUnavailable

SQLITE_BUSY_TIMEOUT_MS = 15_000

# Any constant works; it only has to be the same in every incident-bot process.
_MIGRATION_LOCK_KEY = 0x1BC1DE47


def normalise_url(url: str | URL) -> URL:
    """`postgresql://` and `postgres://` mean PostgreSQL through psycopg 3."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, *, sqlite_foreign_keys: bool = True) -> Engine:
    """An engine for the bot's database, configured for the backend.

    `sqlite_foreign_keys=False` is for migrations only (SQLite batch mode).
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, json_deserializer=_read_json)
        _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys)
        return engine
    engine = create_engine(parsed, pool_pre_ping=True)
    event.listen(engine, "handle_error", _unavailable_server)
    return engine


# SQLSTATE classes of a server that cannot be reached or is going away: connection
# exceptions (08), operator intervention such as a shutdown (57P).
_UNAVAILABLE_SQLSTATES = ("08", "57P")


def _unavailable_server(context: Any) -> BaseException | None:
    """Turns "the PostgreSQL server is not there" into the core's StorageUnavailable,
    so callers can wait for it instead of treating the work as failed."""
    original = context.original_exception
    if context.is_disconnect:
        return StorageUnavailable(f"the database is not answering ({_first_line(original)})")
    return unavailable_driver_error(original)


def unavailable_driver_error(problem: BaseException) -> StorageUnavailable | None:
    """The same judgement for an error the PostgreSQL driver raised (also through a
    DB-API connection used without SQLAlchemy's execution, as the inbox's acks do)."""
    sqlstate = getattr(problem, "sqlstate", None)
    connection_failed = problem.__class__.__name__ == "OperationalError" and sqlstate is None
    if connection_failed or (
        isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    ) or problem.__class__.__name__ in ("InterfaceError", "ConnectionTimeout"):
        return StorageUnavailable(f"the database is not answering ({_first_line(problem)})")
    return None


def _first_line(problem: BaseException) -> str:
    text = str(problem).strip()
    return text.splitlines()[0] if text else type(problem).__name__


def _configure_sqlite(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Take transaction control away from the sqlite3 module (which would not begin
        # one before SELECT or DDL); SQLAlchemy emits BEGIN below instead.
        dbapi_connection.isolation_level = None
        # SQLite stores whatever bytes it is given as TEXT; a row written by another tool
        # may hold invalid UTF-8, which the sqlite3 module refuses to read at all. Read it
        # with U+FFFD in place of the bad bytes, so the incident still loads and exports.
        dbapi_connection.text_factory = _decode_text
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a unit of work reads the aggregate
        # and then writes it, and a deferred transaction could not upgrade its lock if
        # someone else wrote in between. Waiting writers honour busy_timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _read_json(text: str) -> Any:
    # Most JSON values stored are an empty list (an entry nobody tagged): no parser.
    return [] if text == "[]" else json.loads(text)


# -- migrations ------------------------------------------------------------------------


def migrations_directory() -> Path:
    """The alembic script directory: the installed `migrations` package."""
    return Path(migrations.__path__[0]).resolve()


def alembic_config(url: str | URL | None = None) -> Config:
    """An alembic Config built in code (no alembic.ini), pointing at `url` if given."""
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    config.set_main_option("path_separator", "os")
    if url is not None:
        rendered = normalise_url(url).render_as_string(hide_password=False)
        # ConfigParser interpolation: a literal % (URL-encoded passwords) must be doubled.
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade_database(url: str | URL, revision: str = "head") -> None:
    """Brings the database's schema up to `revision` (the latest by default)."""
    engine = make_engine(url, sqlite_foreign_keys=False)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several bot processes may start at once; one migrates, the rest wait
                # and then find nothing to do.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            if connection.dialect.name == "sqlite":
                # Foreign keys are off while migrating (SQLite's batch mode recreates
                # tables); check that the migrations left none dangling.
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if problems:
                    raise RuntimeError(f"migration left dangling foreign keys: {problems}")
    finally:
        engine.dispose()


def database_revision(url: str | URL) -> str | None:
    """The revision the database is at; None for a database never migrated.

    Looking does not create a missing SQLite file.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite" and _missing_sqlite_file(parsed):
        return None
    engine = make_engine(parsed)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _missing_sqlite_file(url: URL) -> bool:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    return not Path(database).exists()


def head_revision() -> str:
    """The latest revision this code ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {migrations_directory()}")
    return head
