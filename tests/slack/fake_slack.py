"""A fake Slack for tests: the Web API methods the bot uses, a response_url route, file
upload URLs and a Socket Mode websocket, on 127.0.0.1 at a random port.

Stateful (channels, members, messages, threads, reactions, files, users) and recording
every call, so a test asserts what a workspace would show. It checks token types as
Slack does (bot methods want `xoxb-`, apps.connections.open wants `xapp-`) and has
switches to make the next call to a method fail or answer 429.

It runs its own event loop on a thread; the test thread calls the public methods.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-1-fake-bot-token"
APP_TOKEN = "xapp-1-fake-app-token"
BOT_USER = "UINCBOT"
BOT_ID = "BINCBOT"
CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
APP_METHODS = {"apps.connections.open"}  # the only ones that take the app-level token

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    at: float


@dataclass
class Channel:
    id: str
    name: str
    topic: str = ""
    members: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Upload:
    file_id: str
    filename: str
    length: int
    content: bytes | None = None
    channel: str | None = None
    initial_comment: str | None = None
    title: str | None = None


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    retry_attempt: int = 0
    acked_at: float | None = None
    ack_payload: dict[str, Any] | None = None
    sent_at: float = 0.0
    deliveries: int = 0


class SlackError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class FakeSlack:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        # Slack never gives an id twice, and a database kept across fakes (the benches'
        # --database-url) would take a channel of this fake for an earlier one's, whose
        # incident it names: each fake numbers from a start of its own.
        self._ids = itertools.count(random.randrange(1, 90_000_000))
        self._ts_seq = itertools.count(1)
        self.calls: list[Call] = []
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, Upload] = {}
        self.responses: list[tuple[str, dict[str, Any]]] = []  # (response_url id, body)
        self.envelopes: dict[str, Envelope] = {}
        self.connections_opened = 0
        self._failures: dict[str, list[tuple[int, str, int]]] = {}  # method -> (status, err, after)
        self._latency: dict[str, float] = {}  # method -> seconds every call takes
        self._sockets: list[web.WebSocketResponse] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0
        self.add_user(BOT_USER, name="incident-bot", display_name="incident-bot")

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._thread.start()
        self._run(self._start())
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        async def close() -> None:
            for ws in list(self._sockets):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        self._run(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    # -- what a test sets up -----------------------------------------------------------

    def add_user(self, user_id: str, *, name: str, display_name: str, real_name: str = "") -> None:
        with self._lock:
            self.users[user_id] = {
                "id": user_id,
                "name": name,
                "real_name": real_name or display_name,
                "profile": {"display_name": display_name, "real_name": real_name or display_name},
            }

    def add_channel(self, name: str, *, members: set[str] | None = None) -> str:
        with self._lock:
            channel = Channel(id=f"C{next(self._ids):08d}", name=name, members=set(members or ()))
            self.channels[channel.id] = channel
            return channel.id

    def post_user_message(
        self,
        channel: str,
        *,
        user: str,
        text: str,
        at: datetime | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """A person posts; returns the message's ts (at `at`, for past messages)."""
        with self._lock:
            ts = self._new_ts(at)
            message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts}
            if thread_ts:
                message["thread_ts"] = thread_ts
                parent = self._message(channel, thread_ts)
                parent.setdefault("thread_ts", thread_ts)
                parent["reply_count"] = parent.get("reply_count", 0) + 1
            self.channels[channel].messages.append(message)
            return ts

    def edit_user_message(self, channel: str, ts: str, text: str) -> dict[str, Any]:
        with self._lock:
            message = self._message(channel, ts)
            previous = dict(message)
            message["text"] = text
            message["edited"] = {"user": message["user"], "ts": self._new_ts(None)}
            return previous

    def response_url(self) -> str:
        return f"{self.url}/response/{uuid.uuid4().hex}"

    def fail_next(self, method: str, error: str, *, times: int = 1) -> None:
        """The next `times` calls to `method` answer `{"ok": false, "error": error}`."""
        with self._lock:
            self._failures.setdefault(method, []).extend([(200, error, 0)] * times)

    def slow_down(self, method: str, seconds: float) -> None:
        """Every later call to `method` takes `seconds` before it is answered (0: none)."""
        with self._lock:
            self._latency[method] = seconds

    def rate_limit_next(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls to `method` answer HTTP 429 with Retry-After."""
        with self._lock:
            self._failures.setdefault(method, []).extend(
                [(429, "ratelimited", retry_after)] * times
            )

    # -- what a test reads -------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def channel_named(self, name: str) -> Channel | None:
        with self._lock:
            return next((c for c in self.channels.values() if c.name == name), None)

    def bot_messages(self, channel: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.channels[channel].messages if m.get("user") == BOT_USER]

    def checked(self, channel: str, ts: str) -> bool:
        """Whether the message carries the bot's ✅ (Slack keeps one per user and emoji:
        asking for it again is answered `already_reacted`)."""
        return any(
            r["name"] == "white_check_mark" and BOT_USER in r["users"]
            for r in self.reactions_on(channel, ts)
        )

    def reactions_on(self, channel: str, ts: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._message(channel, ts).get("reactions", []))

    def wait_for(self, what: Callable[[], T], *, timeout: float = 15, message: str = "") -> T:
        """Polls until `what()` is truthy; fails the test at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                value = what()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {message or what}")
            time.sleep(0.02)

    # -- Socket Mode -------------------------------------------------------------------

    @property
    def open_sockets(self) -> int:
        return sum(1 for ws in self._sockets if not ws.closed)

    def push(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        connection: int | None = None,
    ) -> Envelope:
        """Sends an envelope (`events_api`, `slash_commands`, `interactive`) on the newest
        connection, or on the open connection number `connection` (0 the oldest: Slack
        may use any of an app's connections); unacked envelopes are sent again when a
        new connection opens."""
        envelope = Envelope(
            envelope_id=str(uuid.uuid4()), type=kind, payload=payload, retry_attempt=retry_attempt
        )
        with self._lock:
            self.envelopes[envelope.envelope_id] = envelope
        self._run(self._send(envelope, connection))
        return envelope

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's `disconnect` message: the client should open a new connection."""

        async def send() -> None:
            ws = self._newest_socket()
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {}})

        self._run(send())

    def _newest_socket(self) -> web.WebSocketResponse:
        live = [ws for ws in self._sockets if not ws.closed]
        if not live:
            raise AssertionError("no Socket Mode connection is open")
        return live[-1]

    async def _send(self, envelope: Envelope, connection: int | None = None) -> None:
        if connection is None:
            ws = self._newest_socket()
        else:
            ws = [socket for socket in self._sockets if not socket.closed][connection]
        envelope.sent_at = time.monotonic()
        envelope.deliveries += 1
        await ws.send_json(
            {
                "envelope_id": envelope.envelope_id,
                "type": envelope.type,
                "payload": envelope.payload,
                "accepts_response_payload": envelope.type != "events_api",
                "retry_attempt": envelope.retry_attempt,
                "retry_reason": "timeout" if envelope.retry_attempt else "",
            }
        )

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": self.open_sockets,
                            "debug_info": {"host": "fake"}, "connection_info": {"app_id": "A1"}})
        with self._lock:
            unacked = [e for e in self.envelopes.values() if e.acked_at is None]
        for envelope in unacked:  # what Slack retries when an ack never came
            envelope.retry_attempt += 1
            await self._send(envelope)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            with self._lock:
                envelope = self.envelopes.get(data.get("envelope_id", ""))
                if envelope is not None and envelope.acked_at is None:
                    envelope.acked_at = time.monotonic()
                    envelope.ack_payload = data.get("payload")
        return ws

    # -- HTTP routes -------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            upload = self.uploads.get(request.match_info["file_id"])
            if upload is None:
                return web.Response(status=404, text="no such upload")
            upload.content = body
        return web.Response(text=f"OK - {len(body)}")

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.responses.append((request.match_info["rid"], body))
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                raw = await request.text()
                params.update(json.loads(raw) if raw.strip() else {})
            else:
                params.update(dict(await request.post()))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else params.get("token")
        with self._lock:
            self.calls.append(Call(method, params, token, time.time()))
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
            latency = self._latency.get(method, 0.0)
        if latency:
            await asyncio.sleep(latency)
        if failure is not None:
            status, error, retry_after = failure
            headers = {"Retry-After": str(retry_after)} if status == 429 else {}
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        token_error = _token_error(method, token)
        if token_error:
            return web.json_response({"ok": False, "error": token_error})
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        try:
            with self._lock:
                result = handler(params)
        except SlackError as error:
            return web.json_response({"ok": False, "error": error.code})
        return web.json_response({"ok": True, **result})

    # -- Web API methods (called with the lock held) -----------------------------------

    def m_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self.url}/",
            "team": "Fake Team",
            "user": "incident-bot",
            "team_id": "TFAKE",
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def m_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        self.connections_opened += 1
        return {"url": f"ws://127.0.0.1:{self.port}/socket?ticket={self.connections_opened}"}

    def m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(p)
        if not p.get("text") and not p.get("blocks"):
            raise SlackError("no_text")
        message = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "text": p.get("text", ""),
            "blocks": _json(p.get("blocks")) or [],
            "ts": self._new_ts(None),
        }
        channel.messages.append(message)
        return {"channel": channel.id, "ts": message["ts"], "message": message}

    def m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(p)
        if p.get("user") not in self.users:
            raise SlackError("user_not_found")
        return {"message_ts": self._new_ts(None), "channel": channel.id}

    def m_conversations_create(self, p: dict[str, Any]) -> dict[str, Any]:
        name = str(p.get("name", ""))
        if not CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if any(c.name == name for c in self.channels.values()):
            raise SlackError("name_taken")
        channel_id = self.add_channel(name, members={BOT_USER})
        return {"channel": {"id": channel_id, "name": name, "is_channel": True,
                            "creator": BOT_USER, "created": int(time.time())}}

    def m_conversations_setTopic(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(p)
        topic = str(p.get("topic", ""))
        if len(topic) > 250:
            raise SlackError("too_long")
        channel.topic = topic
        return {"channel": {"id": channel.id, "topic": {"value": topic}}}

    def m_conversations_invite(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(p)
        users = [u for u in str(p.get("users", "")).split(",") if u]
        if not users:
            raise SlackError("no_user")
        for user in users:
            if user == BOT_USER:
                raise SlackError("cant_invite_self")
            if user not in self.users:
                raise SlackError("user_not_found")
            if user in channel.members:
                raise SlackError("already_in_channel")
        channel.members.update(users)
        return {"channel": {"id": channel.id, "name": channel.name}}

    def m_conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        top = [m for m in channel.messages if m.get("thread_ts") in (None, m["ts"])]
        chosen = _window(top, p)
        chosen.sort(key=lambda m: _ts_key(m["ts"]), reverse=True)
        return {"messages": chosen[: int(p.get("limit", 100))], "has_more": False}

    def m_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        message = self._message(channel.id, str(p.get("ts", "")))
        root = message.get("thread_ts", message["ts"])
        thread = [m for m in channel.messages if m["ts"] == root or m.get("thread_ts") == root]
        chosen = _window(thread, p)
        chosen.sort(key=lambda m: _ts_key(m["ts"]))
        return {"messages": chosen[: int(p.get("limit", 1000))], "has_more": False}

    def m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def m_reactions_add(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        message = self._message(channel.id, str(p.get("timestamp", "")))
        name = str(p.get("name", ""))
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if BOT_USER in reaction["users"]:
            raise SlackError("already_reacted")
        reaction["users"].append(BOT_USER)
        reaction["count"] += 1
        return {}

    def m_reactions_remove(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        message = self._message(channel.id, str(p.get("timestamp", "")))
        name = str(p.get("name", ""))
        reactions = message.get("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None or BOT_USER not in reaction["users"]:
            raise SlackError("no_reaction")
        reaction["users"].remove(BOT_USER)
        reaction["count"] -= 1
        if not reaction["users"]:
            reactions.remove(reaction)
        return {}

    def m_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("filename") or not str(p.get("length", "")).isdigit():
            raise SlackError("invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self.uploads[file_id] = Upload(file_id, str(p["filename"]), int(p["length"]))
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def m_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = _json(p.get("files")) or []
        channel_id = p.get("channel_id")
        shared = []
        for entry in files:
            upload = self.uploads.get(entry.get("id", ""))
            if upload is None or upload.content is None:
                raise SlackError("file_not_found")
            if len(upload.content) != upload.length:
                raise SlackError("file_size_mismatch")
            upload.title = entry.get("title")
            shared.append({"id": upload.file_id, "name": upload.filename, "title": upload.title})
        if channel_id:
            channel = self._member_channel({"channel": channel_id})
            for info in shared:
                self.uploads[info["id"]].channel = channel.id
                self.uploads[info["id"]].initial_comment = p.get("initial_comment")
            channel.messages.append({
                "type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": self._new_ts(None),
                "text": p.get("initial_comment", ""), "files": shared,
            })
        return {"files": shared}

    def m_files_info(self, p: dict[str, Any]) -> dict[str, Any]:
        upload = self.uploads.get(str(p.get("file", "")))
        if upload is None:
            raise SlackError("file_not_found")
        return {"file": {"id": upload.file_id, "name": upload.filename, "title": upload.title}}

    # -- helpers -----------------------------------------------------------------------

    def _channel(self, p: dict[str, Any]) -> Channel:
        channel = self.channels.get(str(p.get("channel", "")))
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _member_channel(self, p: dict[str, Any]) -> Channel:
        channel = self._channel(p)
        if BOT_USER not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def _message(self, channel: str, ts: str) -> dict[str, Any]:
        for message in self.channels[channel].messages:
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    def _new_ts(self, at: datetime | None) -> str:
        moment = (at or datetime.now(UTC)).timestamp()
        # Slack's ts: seconds and a per-second sequence, unique within a channel.
        return f"{int(moment)}.{next(self._ts_seq) % 1_000_000:06d}"


def _token_error(method: str, token: str | None) -> str | None:
    if not token:
        return "not_authed"
    if method in APP_METHODS:
        return None if token == APP_TOKEN else (
            "not_allowed_token_type" if token.startswith("xox") else "invalid_auth"
        )
    if token == BOT_TOKEN:
        return None
    return "not_allowed_token_type" if token.startswith("xapp-") else "invalid_auth"


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    return int(seconds), int(fraction or 0)


def _window(messages: list[dict[str, Any]], p: dict[str, Any]) -> list[dict[str, Any]]:
    inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")
    chosen = []
    for message in messages:
        key = _ts_key(message["ts"])
        if p.get("oldest"):
            oldest = _ts_key(str(p["oldest"]))
            if key < oldest or (key == oldest and not inclusive):
                continue
        if p.get("latest"):
            latest = _ts_key(str(p["latest"]))
            if key > latest or (key == latest and not inclusive):
                continue
        chosen.append(message)
    return chosen


# The people of the fake workspace: user id -> (name, display name).
PEOPLE = {
    "UADA": ("ada", "Ada Lovelace"),
    "UBOB": ("bob", "Bob Martin"),
    "UCAROL": ("carol", "Carol Chen"),
}


def start_with_people() -> FakeSlack:
    """A started fake Slack whose workspace has the tests' people (stop it afterwards)."""
    fake = FakeSlack().start()
    for user_id, (name, display) in PEOPLE.items():
        fake.add_user(user_id, name=name, display_name=display)
    return fake
