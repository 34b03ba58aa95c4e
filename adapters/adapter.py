"""What `incident-bot run` asks of a chat platform's adapter. Its own module, so that each
platform imports this and not the runner that starts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from starlette.routing import BaseRoute

from bot.replies import Reply


@dataclass(frozen=True)
class HttpMount:
    """Routes a platform adds to the one HTTP server, and the address its users know it
    by (Slack's Request URL). That address serves these routes alone."""

    routes: Sequence[BaseRoute]
    host: str
    port: int
    port_setting: str  # named when the port is taken


class Adapter(Protocol):
    """A running chat platform connection."""

    @property
    def platform(self) -> str:
        """The platform name the core knows it by (`slack`, `matrix`)."""

    def start(self) -> None:
        """Connects and handles events on background threads; returns once running."""

    def stop(self) -> None:
        """Disconnects; returns once no event is being handled."""

    @property
    def command_prefix(self) -> str:
        """How a user writes a command there (reminders suggest commands)."""

    def mention(self, user: str) -> str:
        """How a message posted there mentions the person."""

    def deliver(self, replies: Sequence[Reply]) -> None:
        """Posts replies that answer no event (reminders). Raises if the platform is down,
        so the caller can retry later."""

    def readiness_problem(self) -> str | None:
        """Why the platform cannot take events now (for `/readyz`), or None."""

    def standing_by(self) -> bool:
        """True while another replica does this platform's work (a Matrix standby): it
        takes no events and delivers no reminders until it takes over. Also while it
        takes over, until it can post (its first sync done): what is due waits for it."""

    def http_mount(self) -> HttpMount | None:
        """What the platform serves on the bot's one HTTP server (Slack's HTTP mode:
        /slack/events), or None. Asked once `start` returned."""
