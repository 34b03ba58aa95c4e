"""`incident-bot run` on Slack: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on
INCIDENT_BOT_SLACK_PORT at /slack/events."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from slack_bolt import App
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    RetryHandler,
)
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.routing import Route

from adapters.adapter import Adapter, HttpMount
from adapters.config import ConfigError, Settings
from adapters.slack.delivery import Delivery
from adapters.slack.handlers import PLATFORM, SlackHandlers
from adapters.slack.handoff import HandlingProcess
from adapters.slack.http import SlackEndpoint
from adapters.slack.platform import COMMAND_PREFIX, DisplayNames, SlackPlatform, api_error
from adapters.slack.settings import EVENTS_PATH, SlackSettings, slack_settings
from adapters.slack.socket import TimedSocketModeHandler
from adapters.slack.text import own_mention
from adapters.slack.workers import AckFirst, InboxSweeper, Lanes
from bot.ports import Inbox, Leadership
from bot.replies import Reply
from bot.service import IncidentBot

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = timedelta(seconds=30)


def claimant_name() -> str:
    """Names this process in the inbox rows it claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def from_environment(
    *,
    bot: IncidentBot,
    settings: Settings,
    environ: Mapping[str, str],
    inbox: Inbox,
    leadership: Leadership,
) -> Adapter | None:
    # Every Slack replica takes requests (each is stored before its ack): `leadership`
    # is for jobs only one replica may do, and Slack has none.
    slack = slack_settings(environ)
    if slack is None:
        return None
    handling = (
        HandlingProcess(inbox=inbox, telemetry=bot.telemetry, environ=environ)
        if slack.handling == "process"
        else None
    )
    return SlackAdapter(
        bot=bot,
        settings=slack,
        inbox=inbox,
        retry_after=settings.inbox_retry_after,
        handling=handling,
    )


def web_client(settings: SlackSettings) -> WebClient:
    """The Web API client: retries after a 429's Retry-After and on dropped connections."""
    return WebClient(
        token=settings.bot_token,
        base_url=settings.api_url,
        retry_handlers=retry_handlers(),
        timeout=30,
    )


def retry_handlers() -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
    ]


def async_retry_handlers() -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
    ]


class SlackAdapter:
    platform = "slack"
    command_prefix = COMMAND_PREFIX  # for the commands reminders suggest

    def __init__(
        self,
        *,
        bot: IncidentBot,
        settings: SlackSettings,
        inbox: Inbox,
        retry_after: timedelta = DEFAULT_RETRY_AFTER,
        handling: HandlingProcess | None = None,
    ) -> None:
        """`handling`: the child process that handles what this one acks; without it,
        threads of this process do (see adapters/slack/handoff.py)."""
        self._bot = bot
        self._handling = handling
        self._settings = settings
        self._inbox = inbox
        self._retry_after = retry_after
        self._claimant = claimant_name()
        self._client = web_client(settings)
        self._names = DisplayNames(self._client)
        self._delivery = Delivery(
            client=self._client, names=self._names, retry_handlers=retry_handlers()
        )
        # HTTP acks in flight hold the handling back a little (see AckFirst).
        self._ack_first = AckFirst()
        self._lanes = Lanes(ack_first=self._ack_first)
        # Bolt's own threads only ack and queue, so a few suffice for many requests.
        self._listener_executor = ThreadPoolExecutor(
            max_workers=16, thread_name_prefix="slack-ack"
        )
        self._sweeper: InboxSweeper | None = None
        self._socket: TimedSocketModeHandler | None = None
        self._endpoint = SlackEndpoint(telemetry=bot.telemetry, ack_first=self._ack_first)
        self._bot_user: str | None = None

    def http_mount(self) -> HttpMount | None:
        if self._settings.mode == "socket":
            return None
        return HttpMount(
            routes=[Route(EVENTS_PATH, self._endpoint.handle, methods=["POST"])],
            host=self._settings.host,
            port=self._settings.port,
            port_setting="INCIDENT_BOT_SLACK_PORT",
        )

    def start(self) -> None:
        app, handlers = self._app()
        if self._handling is not None:
            # The child sweeps the inbox: it knows what it holds.
            self._handling.start(claimant=self._claimant, bot_user=self._bot_user)
        else:
            self._sweeper = InboxSweeper(
                inbox=self._inbox,
                platform=PLATFORM,
                claimant=self._claimant,
                retry_after=self._retry_after,
                take_up=handlers.queue,
                in_hand=handlers.in_hand,
            )
            self._sweeper.start()
        if self._settings.mode == "socket":
            assert self._settings.app_token is not None and isinstance(app, App)
            self._socket = TimedSocketModeHandler(
                app,
                telemetry=self._bot.telemetry,
                app_token=self._settings.app_token,
                web_client=self._client,
            )
            self._socket.connect()  # type: ignore[no-untyped-call]
            log.info("Slack Socket Mode connected")
            return
        self._endpoint.serve(app)
        log.info(
            "Slack HTTP mode listening on %s:%s%s (on the bot's HTTP server)",
            self._settings.host,
            self._settings.port,
            EVENTS_PATH,
        )

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()  # type: ignore[no-untyped-call]
        self._endpoint.close()
        if self._sweeper is not None:
            self._sweeper.stop()
        self._listener_executor.shutdown(wait=True)
        self._lanes.shutdown()  # the events already acked are still handled
        if self._handling is not None:
            self._handling.stop()

    def deliver(self, replies: Sequence[Reply]) -> None:
        self._delivery.deliver(replies)

    def alert_outlet(self) -> SlackAlertOutlet:
        """Where the alert receivers open incident channels and post (`start` first)."""
        return SlackAlertOutlet(
            SlackPlatform(client=self._client, names=self._names, bot_user=self._bot_user),
            self,
        )

    def mention(self, user: str) -> str:
        return own_mention(user)

    def readiness_problem(self) -> str | None:
        if self._handling is not None and (problem := self._handling.problem()):
            return problem
        if self._socket is not None:
            connected = self._socket.client.is_connected()
            return None if connected else "slack: the Socket Mode connection is down"
        if not self._endpoint.serving:
            return "slack: not started"
        return None

    def standing_by(self) -> bool:
        return False  # every Slack replica takes requests

    def _app(self) -> tuple[App | AsyncApp, SlackHandlers]:
        try:
            identity = self._client.auth_test()
        except SlackApiError as error:
            raise ConfigError(
                f"Slack did not accept SLACK_BOT_TOKEN (auth.test: {api_error(error)}); "
                "copy the Bot User OAuth Token from the app's OAuth & Permissions page."
            ) from None
        except OSError as error:  # URLError, refused, DNS, TLS
            reason = getattr(error, "reason", None) or error
            raise ConfigError(
                f"cannot reach the Slack Web API at {self._settings.api_url} ({reason}); "
                "check the network, or INCIDENT_BOT_SLACK_API_URL if you set it."
            ) from None
        self._bot_user = identity.get("user_id")
        handlers = SlackHandlers(
            bot=self._bot,
            client=self._client,
            names=self._names,
            delivery=self._delivery,
            lanes=self._lanes,
            bot_user=identity.get("user_id"),
            inbox=self._inbox,
            claimant=self._claimant,
            pass_on=self._handling,
        )
        if self._settings.mode == "socket":
            app = App(
                client=self._client,
                signing_secret=self._settings.signing_secret or "",
                request_verification_enabled=False,
                listener_executor=self._listener_executor,
                logger=_bolt_logger(),
                # The listener stores the request before Bolt answers: what Slack is
                # told "got it" for is on disk; what cannot be stored gets no ack.
                process_before_response=True,
            )
            handlers.register(app)
            return app, handlers
        # HTTP: Bolt's asyncio app, run by the HTTP server's event loop (see
        # SlackHandlers.register_async). Its client serves Bolt's own calls (auth.test,
        # once); the handling posts with the threads' client.
        async_app = AsyncApp(
            client=AsyncWebClient(
                token=self._settings.bot_token,
                base_url=self._settings.api_url,
                retry_handlers=async_retry_handlers(),
                timeout=30,
            ),
            signing_secret=self._settings.signing_secret or "",
            logger=_bolt_logger(),
            process_before_response=True,  # as above: no 200 for what is not stored
        )
        handlers.register_async(async_app)
        return async_app, handlers


class SlackAlertOutlet:
    """Slack as the alerts use it: a platform to open channels with, and delivery."""

    def __init__(self, platform: SlackPlatform, adapter: SlackAdapter) -> None:
        self.platform = platform
        self._adapter = adapter

    def deliver(self, replies: Sequence[Reply]) -> None:
        self._adapter.deliver(replies)

    def standing_by(self) -> bool:
        return False  # every Slack replica answers Slack


def _bolt_logger() -> logging.Logger:
    """Bolt's logger, without its warning that the token is unused: we hand Bolt a
    client (base URL, retries), and Bolt also finds SLACK_BOT_TOKEN in the environment."""
    logger = logging.getLogger("slack_bolt")
    if not any(isinstance(f, _UnusedTokenWarning) for f in logger.filters):
        logger.addFilter(_UnusedTokenWarning())
    return logger


class _UnusedTokenWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()
