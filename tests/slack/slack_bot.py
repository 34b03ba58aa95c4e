"""Runs `incident-bot run` against the fake Slack, and talks to it as Slack does."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fake_slack import BOT_TOKEN
from slack_sdk.signature import SignatureVerifier

COMMAND = Path(sys.executable).parent / "incident-bot"
SIGNING_SECRET = "test-signing-secret-3f9a1c"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BotProcess:
    """`incident-bot run` as a subprocess; its output goes to a log file."""

    def __init__(
        self, *, env: Mapping[str, str], workdir: Path, log_name: str = "bot.log"
    ) -> None:
        self.log_path = workdir / log_name
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("INCIDENT_BOT_", "SLACK_"))
        }
        environment.update(env)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(COMMAND), "run"],
            cwd=workdir,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_until(self, ready: Callable[[], bool], *, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"incident-bot exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"incident-bot not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """`kill -9` of the process this test started, by its pid: no clean shutdown."""
        assert self.process.poll() is None, "the bot is not running"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text("utf-8", "replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def http_mode_env(*, api_url: str, port: int) -> dict[str, str]:
    """The settings of `incident-bot run` in Slack HTTP mode on 127.0.0.1:`port`, talking
    to the fake Slack at `api_url`."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "INCIDENT_BOT_SLACK_PORT": str(port),
        "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
        "INCIDENT_BOT_SLACK_API_URL": api_url,
    }


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """The condition's first true value, or AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid` (the bot's Slack handling process)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue  # the thread ended meanwhile
    return found


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    seconds: float


def _exchange(
    connection: http.client.HTTPConnection, body: str, headers: dict[str, str]
) -> Answer:
    started = time.perf_counter()
    connection.request("POST", "/slack/events", body=body.encode(), headers=headers)
    response = connection.getresponse()
    text = response.read().decode()
    return Answer(response.status, text, time.perf_counter() - started)


class SlackSender:
    """Sends what Slack sends over HTTP: signed slash commands, events and shortcuts."""

    def __init__(
        self, *, port: int, secret: str = SIGNING_SECRET, keep_alive: bool = False
    ) -> None:
        """`keep_alive`: each thread keeps its connection open between requests, as a
        front or a load generator would (else one connection per request)."""
        self.port = port
        self._verifier = SignatureVerifier(secret)
        self._keep_alive = keep_alive
        self._connections = threading.local()

    def post(self, body: str, *, content_type: str, **signing: Any) -> Answer:
        """Sends `body` as Slack would; `signing`: what `signed` takes besides."""
        sent = self.signed(body, content_type=content_type, **signing)
        if not self._keep_alive:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                return _exchange(connection, body, sent)
            finally:
                connection.close()
        kept: http.client.HTTPConnection | None = getattr(self._connections, "open", None)
        if kept is not None:
            try:
                return _exchange(kept, body, sent)
            except (http.client.RemoteDisconnected, ConnectionError):
                kept.close()  # the server closed it meanwhile: once more on a new one
        kept = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self._connections.open = kept
        return _exchange(kept, body, sent)

    def signed(
        self,
        body: str,
        *,
        content_type: str,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        signature: str | None = None,
        signed_body: str | None = None,
    ) -> dict[str, str]:
        """The headers Slack would send with `body`, signed now (or as told)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature
            or self._verifier.generate_signature(
                timestamp=stamp, body=signed_body if signed_body is not None else body
            ),
        }
        sent.update(headers or {})
        return {key: value for key, value in sent.items() if value}

    def command(self, *, team: str, channel: str, user: str, text: str,
                response_url: str, **options: Any) -> Answer:
        return self.post(
            command_body(team=team, channel=channel, user=user, text=text,
                         response_url=response_url),
            content_type="application/x-www-form-urlencoded",
            **options,
        )

    def event(self, payload: dict[str, Any], **options: Any) -> Answer:
        return self.post(json.dumps(payload), content_type="application/json", **options)

    def shortcut(self, payload: dict[str, Any], **options: Any) -> Answer:
        return self.post(
            urlencode({"payload": json.dumps(payload)}),
            content_type="application/x-www-form-urlencoded",
            **options,
        )


def command_body(*, team: str, channel: str, user: str, text: str, response_url: str) -> str:
    return urlencode(command_payload(
        team=team, channel=channel, user=user, text=text, response_url=response_url
    ))


def command_payload(
    *, team: str, channel: str, user: str, text: str, response_url: str
) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "somewhere",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/incident",
        "text": text,
        "api_app_id": "A1",
        "response_url": response_url,
        "trigger_id": f"{uuid.uuid4().int % 10**10}.{uuid.uuid4().hex[:12]}",
    }


def event_callback(team: str, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "event": event,
        "authorizations": [{"team_id": team, "user_id": "UINCBOT", "is_bot": True}],
    }


def reaction(kind: str, *, user: str, channel: str, ts: str, author: str) -> dict[str, Any]:
    return {
        "type": kind,
        "user": user,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": author,
        "event_ts": f"{time.time():.6f}",
    }


def shortcut_payload(
    *, team: str, channel: str, user: str, message: dict[str, Any], response_url: str
) -> dict[str, Any]:
    return {
        "type": "message_action",
        "callback_id": "add_to_incident_timeline",
        "trigger_id": f"{uuid.uuid4().int % 10**10}.{uuid.uuid4().hex[:12]}",
        "response_url": response_url,
        "team": {"id": team, "domain": "fake"},
        "channel": {"id": channel, "name": "somewhere"},
        "user": {"id": user, "name": user.lower()},
        "message_ts": message["ts"],
        "message": message,
    }
