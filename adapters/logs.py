"""Logging for `incident-bot run`: the bot's own lines at INFO, the libraries' at
WARNING (APScheduler's "Running job" every few seconds, alembic's migration steps,
Bolt's and nio's chatter), unless `INCIDENT_BOT_LOG_LEVEL` asks for more."""

from __future__ import annotations

import logging

OWN_LOGGERS = ("adapters", "bot", "storage")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(library_level: str) -> None:
    level = logging.getLevelName(library_level)
    assert isinstance(level, int), f"unknown log level {library_level}"
    logging.basicConfig(level=level, format=FORMAT)
    logging.getLogger().setLevel(level)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(min(level, logging.INFO))
