"""Wires the core to storage and a clock from the settings: the one place that does."""

from __future__ import annotations

import sys

from adapters.config import Settings, mask_url
from bot.alert_intake import AlertIntake
from bot.drafts.templates import TemplateRegistry, load_registry
from bot.ports import Clock, Inbox, Leadership, UnitOfWorkFactory
from bot.service import CoreSettings, IncidentBot
from bot.telemetry import Telemetry
from storage.database import database_revision, head_revision, upgrade_database
from storage.inbox import InboxSync, inbox_for
from storage.leadership import leadership_for
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


def load_templates(settings: Settings, *, quiet: bool = False) -> TemplateRegistry:
    """Built-in templates, then the team folder's over them by name.

    A broken template file does not stop the bot: incidents still need recording, and
    the other templates still work. Its error (file and line) is printed here, at
    start-up, and `templates` keeps showing it until it is fixed.
    """
    registry = load_registry(settings.templates_dir).with_options(settings.template_options)
    if quiet:  # a second process of the same bot: its parent said it already
        return registry
    for problem in registry.errors:
        print(f"incident-bot: template not loaded: {problem}", file=sys.stderr)
    if registry.get(settings.default_template) is None:
        print(
            f"incident-bot: default_template `{settings.default_template}` is not a loaded "
            f"template; templates: {', '.join(registry.names())}",
            file=sys.stderr,
        )
    return registry


def build_bot(
    settings: Settings, *, clock: Clock, telemetry: Telemetry | None = None, quiet: bool = False
) -> IncidentBot:
    uow: UnitOfWorkFactory = unit_of_work_factory(settings.database_url)
    return IncidentBot(
        telemetry=telemetry,
        uow=uow,
        clock=clock,
        settings=CoreSettings(
            timezone=settings.timezone,
            default_template=settings.default_template,
            declarer_is_commander=settings.declarer_is_commander,
            tag_emoji=settings.tag_emoji,
            reminders=settings.reminder_rules(),
            links=settings.links,
        ),
        templates=load_templates(settings, quiet=quiet),
    )


def build_alert_intake(settings: Settings, *, clock: Clock) -> AlertIntake:
    """The core's alert service over the bot's database, with the settings' routes."""
    return AlertIntake(
        bot=build_bot(settings, clock=clock),
        uow=unit_of_work_factory(settings.database_url),
        clock=clock,
        rules=settings.alert_rules,
    )


def build_inbox(settings: Settings) -> Inbox:
    """The inbox beside the bot's data, with its own connections: storing a request
    before its ack never waits behind the core's work for a pooled connection."""
    return inbox_for(settings.database_url, sync=InboxSync(settings.inbox_sync))


def build_leadership(settings: Settings) -> Leadership:
    """The leases that decide which replica syncs Matrix, and its saved sync token."""
    return leadership_for(settings.database_url)
