"""Wires the core to storage and a clock from the settings: the one place that does."""

from __future__ import annotations

from adapters.config import Settings, mask_url
from bot.drafts.templates import builtin_registry
from bot.ports import Clock, UnitOfWorkFactory
from bot.service import CoreSettings, IncidentBot
from storage.database import database_revision, head_revision, upgrade_database
from storage.uow import unit_of_work_factory


class DatabaseNotReady(Exception):
    """The database's schema is behind this version of the bot."""


def prepare_database(url: str) -> None:
    """A new, empty database gets the schema; an outdated one is refused, not changed.

    Creating tables in an empty database cannot lose anything, so the console works
    on first use; changing an existing schema waits for `incident-bot db upgrade`.
    """
    current = database_revision(url)
    if current is None:
        upgrade_database(url)
    elif current != head_revision():
        raise DatabaseNotReady(
            f"The database at {mask_url(url)} has schema revision {current}, but this "
            f"version needs {head_revision()}. Run `incident-bot db upgrade` first."
        )


def build_bot(settings: Settings, *, clock: Clock) -> IncidentBot:
    uow: UnitOfWorkFactory = unit_of_work_factory(settings.database_url)
    return IncidentBot(
        uow=uow,
        clock=clock,
        settings=CoreSettings(
            timezone=settings.timezone,
            default_template=settings.default_template,
            declarer_is_commander=settings.declarer_is_commander,
        ),
        templates=builtin_registry(),
    )
