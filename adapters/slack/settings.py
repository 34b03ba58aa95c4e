"""Slack's own settings, read from the environment (platform extras stay in the adapter)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from adapters.config import ConfigError, secret_from

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_PORT = 3000
EVENTS_PATH = "/slack/events"
# Where the stored requests are handled: a child process (the default), so that the
# acks never share an interpreter lock or a CPU queue with the ORM's work, or threads
# of the acking process (one process fewer, slower acks under load).
HANDLING_MODES = ("process", "thread")


@dataclass(frozen=True)
class SlackSettings:
    bot_token: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    port: int = DEFAULT_PORT
    host: str = "0.0.0.0"  # HTTP mode listens where Slack (or a proxy) can reach it
    api_url: str = DEFAULT_API_URL
    handling: Literal["process", "thread"] = "process"

    @property
    def mode(self) -> Literal["socket", "http"]:
        """Socket Mode whenever an app token is set; HTTP otherwise."""
        return "socket" if self.app_token else "http"


def slack_settings(environ: Mapping[str, str]) -> SlackSettings | None:
    """The Slack settings, or None when no bot token is set (Slack is not configured)."""
    bot_token = secret_from(environ, "SLACK_BOT_TOKEN") or ""
    if not bot_token:
        return None
    if not bot_token.startswith("xoxb-"):
        raise ConfigError(
            "SLACK_BOT_TOKEN must be the app's bot token, which starts with `xoxb-` "
            "(Slack app settings -> OAuth & Permissions -> Bot User OAuth Token)."
        )
    app_token = secret_from(environ, "SLACK_APP_TOKEN")
    if app_token is not None and not app_token.startswith("xapp-"):
        raise ConfigError(
            "SLACK_APP_TOKEN must be an app-level token, which starts with `xapp-` "
            "(Slack app settings -> Basic Information -> App-Level Tokens, scope "
            "connections:write)."
        )
    signing_secret = secret_from(environ, "SLACK_SIGNING_SECRET")
    if app_token is None and signing_secret is None:
        raise ConfigError(
            "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor "
            "SLACK_SIGNING_SECRET (HTTP mode) is; set one of them."
        )
    port_text = environ.get("INCIDENT_BOT_SLACK_PORT", str(DEFAULT_PORT))
    try:
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"INCIDENT_BOT_SLACK_PORT: `{port_text}` is not a port number; use 1 to 65535, "
            f"e.g. {DEFAULT_PORT}."
        ) from None
    api_url = environ.get("INCIDENT_BOT_SLACK_API_URL", DEFAULT_API_URL)
    if not api_url.endswith("/"):
        api_url += "/"  # the Web API client joins method names onto it
    handling = environ.get("INCIDENT_BOT_SLACK_HANDLING", "process").strip().lower()
    if handling not in HANDLING_MODES:
        raise ConfigError(
            f"INCIDENT_BOT_SLACK_HANDLING: `{environ['INCIDENT_BOT_SLACK_HANDLING']}` is not "
            "a handling mode; use `process` (the default: a child process handles what was "
            "acknowledged) or `thread` (handled on threads of the acking process)."
        )
    return SlackSettings(
        handling="thread" if handling == "thread" else "process",
        bot_token=bot_token,
        app_token=app_token,
        signing_secret=signing_secret,
        port=port,
        host=environ.get("INCIDENT_BOT_SLACK_HOST", "0.0.0.0"),
        api_url=api_url,
    )

