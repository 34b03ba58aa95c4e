"""`incident-bot run`: every chat adapter the settings enable, side by side, plus the
background jobs (the reminder sweep). Without any adapter configured, the console.
"""

from __future__ import annotations

import gc
import importlib
import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Protocol

from adapters.adapter import Adapter, HttpMount
from adapters.bootstrap import build_bot, build_inbox, build_leadership, prepare_database
from adapters.config import Settings
from bot.clock import SystemClock
from bot.ports import Inbox, Leadership
from bot.service import IncidentBot
from bot.telemetry import Telemetry

log = logging.getLogger(__name__)


class AdapterFactory(Protocol):
    def __call__(
        self,
        *,
        bot: IncidentBot,
        settings: Settings,
        environ: Mapping[str, str],
        inbox: Inbox,
        leadership: Leadership,
    ) -> Adapter | None:
        """The adapter, or None when its credentials are not set. `inbox` is where it
        stores what it acknowledges before handling it; `leadership` decides which
        replica does what only one may do at a time (the Matrix sync)."""


# Each module offers
# `from_environment(*, bot, settings, environ, inbox, leadership) -> Adapter | None`.
ADAPTER_MODULES: tuple[str, ...] = (
    "adapters.slack.adapter",
    "adapters.matrix.adapter",
)

BackgroundJobs = Callable[[IncidentBot, Mapping[str, Adapter], Settings], Callable[[], None]]


def configured_adapters(
    bot: IncidentBot,
    settings: Settings,
    environ: Mapping[str, str],
    inbox: Inbox,
    leadership: Leadership,
) -> list[Adapter]:
    adapters: list[Adapter] = []
    for module_name in ADAPTER_MODULES:
        factory: AdapterFactory = importlib.import_module(module_name).from_environment
        adapter = factory(
            bot=bot, settings=settings, environ=environ, inbox=inbox, leadership=leadership
        )
        if adapter is not None:
            adapters.append(adapter)
    return adapters


def no_background_jobs(
    bot: IncidentBot, adapters: Mapping[str, Adapter], settings: Settings
) -> Callable[[], None]:
    return lambda: None


def run_adapters(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    background_jobs: BackgroundJobs = no_background_jobs,
    telemetry: Telemetry | None = None,
    on_started: Callable[[Sequence[Adapter]], None] = lambda adapters: None,
    serve_http: Callable[[Sequence[HttpMount]], Callable[[], None]] | None = None,
    beside_adapters: Callable[
        [Sequence[Adapter]], tuple[Sequence[HttpMount], Callable[[], None]]
    ] | None = None,
) -> bool:
    """Runs the configured adapters until SIGINT or SIGTERM; False when none is configured."""
    prepare_database(settings.database_url)
    bot = build_bot(settings, clock=SystemClock(), telemetry=telemetry)
    adapters = configured_adapters(
        bot, settings, environ, build_inbox(settings), build_leadership(settings)
    )
    if not adapters:
        return False
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received signal %s, stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started: list[Adapter] = []
    stop_jobs: Callable[[], None] = lambda: None  # noqa: E731
    stop_http: Callable[[], None] = lambda: None  # noqa: E731
    stop_beside: Callable[[], None] = lambda: None  # noqa: E731
    try:
        for adapter in adapters:
            adapter.start()
            started.append(adapter)
            log.info("%s adapter running", adapter.platform)
        mounts = [m for adapter in started if (m := adapter.http_mount())]
        if beside_adapters is not None:
            # What serves the running platforms (the alert receivers).
            extra, stop_beside = beside_adapters(started)
            mounts.extend(extra)
        settle_the_heap()  # before the first request, so no ack waits for it
        if serve_http is not None:
            # Listening once the adapters run, so the first request finds them ready
            # (as Slack's port opened before: only when the bot could answer).
            stop_http = serve_http(mounts)
        stop_jobs = background_jobs(bot, {a.platform: a for a in adapters}, settings)
        on_started(started)
        stopping.wait()
    finally:
        stop_jobs()
        stop_http()  # no new request, then the adapters finish what they took
        stop_beside()
        for adapter in reversed(started):
            adapter.stop()
    return True


def settle_the_heap() -> None:
    """Takes what start-up allocated (modules, mappers, templates: hundreds of thousands
    of objects) out of the garbage collector's sight. Otherwise every full collection
    walks all of it with the interpreter lock held: 100 to 300 ms on a busy machine,
    during which no Slack request is acked (bench/slack_ack.py showed them as the p99).
    What is frozen is never freed, and start-up's objects live as long as the process."""
    gc.collect()
    gc.freeze()
