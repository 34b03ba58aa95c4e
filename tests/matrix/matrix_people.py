"""The people in the Matrix tests: humans as matrix-nio clients (with encryption), and
the bot as the real `incident-bot run` command in a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nio
from nio.crypto.attachments import decrypt_attachment
from synapse_server import Account, Synapse, tail

COMMAND = Path(sys.executable).parent / "incident-bot"
DEADLINE = 30.0


@dataclass
class Seen:
    room_id: str
    event: Any

    @property
    def source(self) -> dict[str, Any]:
        return self.event.source if isinstance(self.event.source, dict) else {}

    @property
    def sender(self) -> str:
        return str(self.source.get("sender"))

    @property
    def event_id(self) -> str:
        return str(self.source.get("event_id"))

    @property
    def type(self) -> str:
        return str(self.source.get("type"))

    @property
    def content(self) -> dict[str, Any]:
        content = self.source.get("content")
        return content if isinstance(content, dict) else {}

    @property
    def body(self) -> str:
        return str(self.content.get("body", ""))


@dataclass
class Human:
    """A person in Element, as far as the bot can tell: a nio client with its own device."""

    server: Synapse
    account: Account
    store: Path
    client: nio.AsyncClient = field(init=False)
    seen: list[Seen] = field(default_factory=list)
    invites: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def user_id(self) -> str:
        return self.account.user_id

    async def __aenter__(self) -> Human:
        self.store.mkdir(parents=True, exist_ok=True)
        self.client = nio.AsyncClient(
            self.server.url,
            self.account.user_id,
            device_id=self.account.device_id,
            store_path=str(self.store),
            config=nio.AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
        )
        self.client.restore_login(
            self.account.user_id, self.account.device_id, self.account.access_token
        )
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        self.client.add_event_callback(self._on_event, (nio.Event,))
        self.client.add_event_callback(self._on_invite, (nio.InviteMemberEvent,))
        self.client.add_response_callback(self._on_sync, (nio.SyncResponse,))
        # Synapse's default filter carries 10 timeline events per room per sync and drops
        # the rest of a burst; ask for its cap (100), so a person sees every reply.
        self._task = asyncio.create_task(
            self.client.sync_forever(
                timeout=1000, sync_filter={"room": {"timeline": {"limit": 100}}}
            )
        )
        await self.wait_until(lambda: self.client.next_batch != "", "the first sync")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    async def _on_event(self, room: nio.MatrixRoom, event: Any) -> None:
        self.seen.append(Seen(room.room_id, event))
        self._changed.set()

    async def _on_invite(self, room: nio.MatrixRoom, event: Any) -> None:
        if event.state_key == self.user_id and event.membership == "invite":
            self.invites.append(room.room_id)
            self._changed.set()

    async def _on_sync(self, response: Any) -> None:
        self._changed.set()

    async def wait_until(
        self, condition: Callable[[], Any], what: str, timeout: float = DEADLINE
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.user_id} waited {timeout:.0f} s for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 1.0))

    def events(
        self, room_id: str, *, sender: str | None = None, type: str | None = None
    ) -> list[Seen]:
        return [
            s
            for s in self.seen
            if s.room_id == room_id
            and (sender is None or s.sender == sender)
            and (type is None or s.type == type)
        ]

    async def wait_for(
        self,
        room_id: str,
        predicate: Callable[[Seen], bool],
        what: str,
        *,
        after: int = 0,
        timeout: float = DEADLINE,
    ) -> Seen:
        """The first event in the room (from index `after` of `seen`) that matches."""

        def find() -> Seen | None:
            for seen in self.seen[after:]:
                if seen.room_id == room_id and predicate(seen):
                    return seen
            return None

        found: Seen = await self.wait_until(find, what, timeout)
        return found

    # -- acting ----------------------------------------------------------------------------

    async def create_room(self, *, invite: list[str], encrypted: bool) -> str:
        encryption = {
            "type": "m.room.encryption",
            "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"},
        }
        initial_state = [encryption] if encrypted else []
        response = await self.client.room_create(
            name="general", invite=invite, initial_state=initial_state
        )
        assert isinstance(response, nio.RoomCreateResponse), response
        room_id = str(response.room_id)
        await self.wait_until(lambda: room_id in self.client.rooms, f"room {room_id} in sync")
        return room_id

    async def join(self, room_id: str) -> None:
        response = await self.client.join(room_id)
        assert isinstance(response, nio.JoinResponse), response
        await self.wait_until(lambda: room_id in self.client.rooms, f"joined {room_id}")

    async def declare(self, bot: str, title: str) -> tuple[str, str]:
        """In a new room with the bot, `!incident start TITLE` (incident 1), then into
        the incident's room once the bot's summary is there: (that room, the incident's)."""
        general = await self.create_room(invite=[bot], encrypted=False)
        await self.wait_for(general, bot_joined(bot), "the bot to join")
        await self.send(general, f"!incident start {title}")
        room: str = await self.wait_until(lambda: self.invites and self.invites[-1], "an invite")
        await self.join(room)
        await self.wait_for(room, notice_from(bot, f"Incident 1: {title}"), "summary")
        return general, room

    async def send(
        self,
        room_id: str,
        body: str,
        *,
        html: str | None = None,
        thread_root: str | None = None,
    ) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if html is not None:
            content.update({"format": "org.matrix.custom.html", "formatted_body": html})
        if thread_root is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": thread_root},
            }
        return await self._send(room_id, "m.room.message", content)

    async def edit(self, room_id: str, event_id: str, body: str) -> str:
        return await self._send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": f"* {body}",
                "m.new_content": {"msgtype": "m.text", "body": body},
                "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
            },
        )

    async def react(self, room_id: str, event_id: str, key: str = "📌") -> str:
        return await self._send(
            room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
        )

    async def redact(self, room_id: str, event_id: str) -> None:
        response = await self.client.room_redact(room_id, event_id)
        assert isinstance(response, nio.RoomRedactResponse), response

    async def _send(self, room_id: str, kind: str, content: dict[str, Any]) -> str:
        if self.client.should_query_keys:
            await self.client.keys_query()
        response = await self.client.room_send(
            room_id, kind, content, ignore_unverified_devices=True
        )
        assert isinstance(response, nio.RoomSendResponse), response
        return str(response.event_id)

    async def download(self, content: dict[str, Any]) -> bytes:
        """A received m.file's bytes, decrypted when it came encrypted."""
        encrypted = content.get("file")
        url = encrypted["url"] if encrypted else content["url"]
        response = await self.client.download(mxc=url)
        assert isinstance(response, nio.DownloadResponse), response
        if not encrypted:
            return bytes(response.body)
        return bytes(
            decrypt_attachment(
                response.body, encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"]
            )
        )


class BotProcess:
    """`incident-bot run` with the Matrix settings in its environment."""

    def __init__(self, *, env: dict[str, str], workdir: Path) -> None:
        self._env = env
        self._workdir = workdir
        self.log = workdir / "bot.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> None:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("INCIDENT_BOT_", "MATRIX_", "SLACK_"))
        }
        environment.update(self._env)
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(COMMAND), "run"],
                cwd=self._workdir,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + DEADLINE
        while "matrix adapter running" not in self.output():
            if self._process.poll() is not None:
                raise AssertionError(
                    f"incident-bot run exited with {self._process.returncode}:\n{tail(self.log)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the bot did not start in time:\n{tail(self.log)}")
            time.sleep(0.05)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        """The process id of the latest start (it names the process in the database's
        claims and leases)."""
        assert self._process is not None, "the bot was not started"
        return self._process.pid

    def output(self) -> str:
        """What the bot logged since its latest start."""
        with self.log.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode("utf-8", "replace")

    def kill(self) -> None:
        """`kill -9` of the process this test started, by its pid: no clean shutdown."""
        process = self._process
        assert process is not None and process.poll() is None, "the bot is not running"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP of the process this test started, by its pid: it stands still, as a
        process starved of CPU or stuck on a full disk would, and holds what it held."""
        process = self._process
        assert process is not None and process.poll() is None, "the bot is not running"
        os.kill(process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        process = self._process
        assert process is not None
        os.kill(process.pid, signal.SIGCONT)

    def stop(self) -> int:
        process = self._process
        if process is None or process.poll() is not None:
            return process.returncode if process else 0
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the bot did not stop on SIGTERM:\n{tail(self.log)}") from None


def wait_for_log(process: BotProcess, text: str, timeout: float = 60.0) -> None:
    """Until the bot logs `text` (since its latest start); fails if it exits first."""
    deadline = time.monotonic() + timeout
    while text not in process.output():
        assert process.running(), process.output()
        assert time.monotonic() < deadline, f"no `{text}` in:\n{process.output()}"
        time.sleep(0.1)


# -- what the tests look for in a room ----------------------------------------------------


def notice_from(bot: str, *words: str) -> Callable[[Seen], bool]:
    """The bot's notice (how it says everything) holding every one of `words`."""

    def match(seen: Seen) -> bool:
        return (
            seen.sender == bot
            and seen.type == "m.room.message"
            and seen.content.get("msgtype") == "m.notice"
            and all(word in seen.body for word in words)
        )

    return match


def bot_joined(bot: str) -> Callable[[Seen], bool]:
    def match(seen: Seen) -> bool:
        return (
            seen.type == "m.room.member"
            and seen.source.get("state_key") == bot
            and seen.content.get("membership") == "join"
        )

    return match


def confirmations(seen: list[Seen], room: str, bot: str) -> list[str]:
    """The events the bot put its ✅ (any reaction of its own) on, in `room`."""
    return [
        str((s.content.get("m.relates_to") or {}).get("event_id"))
        for s in seen
        if s.room_id == room and s.sender == bot and s.type == "m.reaction"
    ]


# The `run_bot` fixture (conftest.py): settings in, the bot's account and process out.
RunBot = Callable[..., tuple[Account, BotProcess]]
