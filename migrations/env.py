"""Alembic environment for incident-bot.

The database URL comes from, in order: a connection handed over by
`storage.database.upgrade_database()` (``config.attributes["connection"]``), the
``sqlalchemy.url`` option of the alembic Config, the ``INCIDENT_BOT_DATABASE_URL``
environment variable, and finally ``sqlite:///incident-bot.db``.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from storage.database import make_engine, normalise_url
from storage.orm import metadata
from storage.types import StrEnumType, UTCDateTime

DEFAULT_URL = "sqlite:///incident-bot.db"

config = context.config

# Only the alembic command line (with the repository's alembic.ini) configures logging;
# run from the bot, migrations leave the application's logging alone.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def database_url() -> str:
    return (
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("INCIDENT_BOT_DATABASE_URL")
        or DEFAULT_URL
    )


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Autogenerate writes our column types as the plain types they store, so that
    revisions never import application code that may change later."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.impl_instance.length})"
    return False


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: writes the SQL instead of running it."""
    url = normalise_url(database_url())
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    # Foreign keys stay off on SQLite while batch mode recreates tables.
    engine = make_engine(database_url(), sqlite_foreign_keys=False)
    try:
        # One transaction for the whole upgrade, as upgrade_database() does.
        with engine.begin() as connection:
            configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
