"""Engines and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, String, Text, inspect, text
from sqlalchemy.exc import IntegrityError

from storage.database import (
    alembic_config,
    database_revision,
    head_revision,
    make_engine,
    migrations_directory,
    normalise_url,
    upgrade_database,
)
from storage.orm import metadata

TABLES = {
    "incidents",
    "timeline_entries",
    "role_assignments",
    "section_texts",
    "action_items",
    "processed_events",
    "reminders",
    "reminder_controls",
    "people",
    "milestones",
    "inbox",
    "leases",
    "sync_positions",
    "alert_groups",
}


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema(url: str) -> dict[str, Any]:
    """What the database says about its own tables."""
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "unique": sorted(
                    (u["name"] or "", tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                "indexes": sorted(
                    (i["name"] or "", tuple(str(c) for c in i["column_names"]))
                    for i in inspector.get_indexes(table)
                ),
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"])
                    for f in inspector.get_foreign_keys(table)
                ),
            }
            for table in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


def differences(engine: Engine, target: MetaData) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target))


@pytest.fixture
def engine(migrated_url: str) -> Any:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def test_upgrade_creates_every_table_and_records_the_head(database_url: str) -> None:
    assert database_revision(database_url) is None

    upgrade_database(database_url)

    assert table_names(database_url) == TABLES | {"alembic_version"}
    assert database_revision(database_url) == head_revision()


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    upgrade_database(database_url)
    before = schema(database_url)

    upgrade_database(database_url)

    assert schema(database_url) == before
    assert database_revision(database_url) == head_revision()


def test_the_orm_metadata_matches_the_migrations(engine: Engine) -> None:
    assert differences(engine, metadata) == []


def test_the_comparison_notices_a_drift(engine: Engine) -> None:
    # Guards the test above: a comparison that saw nothing at all would pass it too.
    drifted = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["incidents"].append_column(Column("extra", Text))
    drifted.tables["timeline_entries"].c.source_ref.type = String(100)

    found = {
        diff[0] if isinstance(diff, tuple) else diff[0][0] for diff in differences(engine, drifted)
    }

    assert found == {"add_column", "modify_type"}


def test_downgrade_to_base_and_upgrade_again(migrated_url: str) -> None:
    # Through the alembic command API with only a URL, as the alembic CLI would run.
    config = alembic_config(migrated_url)

    command.downgrade(config, "base")
    assert table_names(migrated_url) == {"alembic_version"}
    assert database_revision(migrated_url) is None

    command.upgrade(config, "head")
    assert table_names(migrated_url) == TABLES | {"alembic_version"}
    assert database_revision(migrated_url) == head_revision()


def test_upgrade_works_from_any_working_directory(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    upgrade_database(database_url)

    assert database_revision(database_url) == head_revision()
    assert list(elsewhere.iterdir()) == []


def test_the_script_location_is_the_migrations_package() -> None:
    directory = migrations_directory()
    assert (directory / "env.py").is_file()
    assert (directory / "script.py.mako").is_file()
    assert any(directory.joinpath("versions").glob("0001_*.py"))
    assert head_revision() == "0006_kept_answers"


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO section_texts (incident_id, section_id, text, updated_at, updated_by)"
                " VALUES (4242, 'summary', 'orphan', CURRENT_TIMESTAMP, 'alice')"
            )
        )


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://postgres@db.example/incidents", "postgresql+psycopg"),
        ("postgres://postgres@db.example/incidents", "postgresql+psycopg"),
        ("postgresql+psycopg://postgres@db.example/incidents", "postgresql+psycopg"),
        ("sqlite:///incident-bot.db", "sqlite"),
    ],
)
def test_urls_are_pointed_at_the_right_driver(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver
    engine = make_engine(url)  # connects lazily: nothing is contacted here
    assert engine.url.drivername == driver
    engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 15_000
    finally:
        engine.dispose()


def test_database_revision_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    assert database_revision(f"sqlite:///{path}") is None
    assert not path.exists()


@pytest.mark.parametrize(
    "url", ["sqlite:///incident-bot.db", "postgresql://postgres@db.example/incidents"]
)
def test_migrations_render_as_sql_offline(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    command.upgrade(alembic_config(url), "head", sql=True)

    output = capsys.readouterr().out
    for table in TABLES:
        assert f"CREATE TABLE {table}" in output
    assert "UPDATE alembic_version" in output or "INSERT INTO alembic_version" in output
