"""The reminder sweep: an APScheduler job that hands due reminders to the running adapters.

`incident-bot run` passes `reminder_jobs` to `run_adapters` as its background jobs. The
sweep itself is the core's (`IncidentBot.deliver_due_reminders`): it claims each due
reminder in its own transaction, so any number of bot processes may sweep one
PostgreSQL database side by side and each reminder still goes out once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

from adapters.adapter import Adapter
from adapters.config import Settings
from bot.ports import ReminderOutlet, StorageUnavailable
from bot.service import IncidentBot

log = logging.getLogger(__name__)

def claimant_name() -> str:
    """Names this process in the claims it makes (shown when a claim goes stale)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def sweep_once(
    bot: IncidentBot, adapters: Mapping[str, Adapter], *, claimant: str
) -> None:
    """One sweep; a failure is logged and the next sweep tries again."""
    # A standby leaves its platform's reminders to the replica that is connected: a
    # claim it could not deliver would only postpone them.
    outlets: dict[str, ReminderOutlet] = {
        platform: adapter for platform, adapter in adapters.items() if not adapter.standing_by()
    }
    try:
        report = bot.deliver_due_reminders(outlets, claimant=claimant)
    except StorageUnavailable as problem:
        log.warning("reminder sweep skipped: %s", problem)
        return
    except Exception:  # the next sweep retries
        log.exception("reminder sweep failed")
        return
    if report.delivered or report.failed or report.unknown:
        log.info(
            "reminders: %d delivered, %d to retry, %d cancelled, %d given up as unknown",
            report.delivered,
            report.failed,
            report.cancelled,
            report.unknown,
        )


# Forgetting old event ids is housekeeping: once an hour, first a minute after start-up.
PRUNE_EVERY = timedelta(hours=1)
PRUNE_FIRST_AFTER = timedelta(minutes=1)


def prune_once(bot: IncidentBot, *, retention: timedelta) -> None:
    """Forgets platform event ids older than `retention`; a failure waits for the next."""
    try:
        forgotten = bot.forget_processed_events(older_than=retention)
    except Exception:  # the database may be restarting: the next run catches up
        log.exception("forgetting old processed event ids failed")
        return
    if forgotten:
        log.info("forgot %d processed event ids older than %s", forgotten, retention)


def reminder_jobs(
    bot: IncidentBot, adapters: Mapping[str, Adapter], settings: Settings
) -> Callable[[], None]:
    """Starts the sweep every `remind_sweep_interval`; returns the function that stops it."""
    # An adapter knows how its platform writes commands and mentions: it is the outlet.
    claimant = claimant_name()
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        sweep_once,
        "interval",
        seconds=settings.remind_sweep_interval.total_seconds(),
        kwargs={"bot": bot, "adapters": adapters, "claimant": claimant},
        id="reminder-sweep",
        # One sweep at a time per process; a sweep that overran is not run twice to
        # catch up (the next one finds everything that is due anyway).
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_job(
        prune_once,
        "interval",
        seconds=PRUNE_EVERY.total_seconds(),
        kwargs={"bot": bot, "retention": settings.processed_events_retention},
        id="processed-events-prune",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC) + PRUNE_FIRST_AFTER,
    )
    scheduler.start()
    log.info(
        "reminder sweep every %ss for %s",
        settings.remind_sweep_interval.total_seconds(),
        ", ".join(adapters) or "no platform",
    )

    def stop() -> None:
        scheduler.shutdown(wait=True)  # lets a sweep in progress finish recording

    return stop
