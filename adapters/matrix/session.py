"""The connection to the homeserver: login, the sync loop, Matrix events in as neutral
events, neutral replies out as Matrix events. Runs on the adapter's asyncio loop.

The sync token is stored only after every event of a sync has been handled, so a
crash or a restart carries on from the last fully handled batch; the core's record
of processed event ids makes the few re-delivered events no-ops. It is stored in the
bot's database, by the replica that holds the sync lease (adapters.matrix.lease): a
replica without it is a standby, and opens no connection to the homeserver until it
takes the lease over.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import nio  # type: ignore[import-untyped]  # nio ships no type information

from adapters.matrix.backfill import BackfillFailed, in_order_once, missed_events
from adapters.matrix.lease import SyncLease
from adapters.matrix.pins import Pin, PinMap
from adapters.matrix.platform import MatrixPlatform
from adapters.matrix.render import command_text, message_text, notice
from adapters.matrix.settings import MatrixSettings
from bot.domain import IncidentError
from bot.emoji import char_of
from bot.events import (
    CommandReceived,
    InboundEvent,
    MessageDeleted,
    MessageEdited,
    MessageTagged,
    MessageUntagged,
)
from bot.mentions import users_in
from bot.ports import ChannelRef, LeaseLost, StorageUnavailable
from bot.replies import FileUpload, Message, Reaction, ReactionRemoved, Reply
from bot.service import IncidentBot

log = logging.getLogger("adapters.matrix")

LONG_POLL_MS = 30_000
# One sync carries up to this many events per room (homeservers may cap it lower);
# a longer gap is fetched with /messages (adapters.matrix.backfill).
SYNC_FILTER: dict[str, Any] = {
    "room": {"timeline": {"limit": 200}},
    "presence": {"not_types": ["*"]},
}
MAX_BACKOFF = 300.0
DATABASE_RETRY = 3.0
ATTEMPTS_PER_EVENT = 3
REMEMBERED_MESSAGES = 5000


class HomeserverError(Exception):
    """The homeserver refused or failed a call; the message says which and why."""


class AlreadyReacted(HomeserverError):
    """The bot's reaction with that key is on that event already."""


class RetryLater(Exception):
    """Handling an event failed; the batch is synced again after a pause."""


class DatabaseAway(Exception):
    """The bot's database cannot be reached; the batch is synced again once it is back."""


class NotLeader(Exception):
    """This replica no longer holds the sync lease: it stops syncing at once."""


@dataclass(frozen=True)
class Posted:
    sender: str
    text: str
    at: datetime


@dataclass(frozen=True)
class ReplyTo:
    """The command a reply answers: replies quote it, inside its thread if it has one."""

    room_id: str
    event_id: str
    thread_root: str | None


def _describe(response: Any) -> str:
    status = getattr(response, "status_code", None)
    message = getattr(response, "message", None) or type(response).__name__
    return f"{status}: {message}" if status else str(message)


class MatrixSession:
    def __init__(self, *, bot: IncidentBot, settings: MatrixSettings, lease: SyncLease) -> None:
        self._bot = bot
        self._settings = settings
        self._lease = lease
        self._renewing: asyncio.Task[None] | None = None
        # Another replica syncs; this one waits to take over (readiness says so).
        self.standby = False
        # This replica took the lease and its first sync since is not done: it cannot
        # post yet (it logs in, then handles what was written while nobody synced,
        # possibly for seconds), so Matrix work waits for it as for a standby, rather
        # than being tried, failed and postponed (a reminder by its 30 s backoff).
        self.taking_over = False
        self.platform = MatrixPlatform(
            open_room=self._open_room, invite=self._invite_people, known_name=self._known_name
        )
        self.client: nio.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = False
        self._poll: asyncio.Future[Any] | None = None
        self._token: str | None = None
        self._full_state = True
        self._pins = PinMap(settings.store / "pins.sqlite3")
        self._posted: OrderedDict[str, Posted] = OrderedDict()
        self._room_links: dict[str, str] = {}
        self._failures: dict[str, int] = {}
        self._ignored_invites: set[str] = set()
        self._notes: list[str] = []  # problems found while the core handled an event
        self._told: dict[str, str] = {}  # display names the core has stored, by user id
        self._profiles: dict[str, str | None] = {}  # profile names fetched, for people
        # in no room the bot shares
        self.connected = asyncio.Event()

    # -- the loop ------------------------------------------------------------------------

    async def run(self, on_state: Callable[[bool], None] | None = None) -> None:
        """Syncs until asked to stop; homeserver trouble is logged and retried, never raised."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        backoff = 1.0
        while not self._stopping:
            try:
                if not self._lease.held() and not await self._lead(on_state):
                    await self._pause(self._lease.renew_every)  # a standby, for now
                    continue
                if self.client is None:
                    self.client = await self._connect()
                await self._sync_once()
                self.taking_over = False
                backoff = 1.0
                if not self.connected.is_set():
                    self.connected.set()
                    if on_state is not None:
                        on_state(True)
                continue
            except asyncio.CancelledError:
                if self.stopping:
                    break
                if not self._lease.held():
                    continue  # the renewal ended the long poll: stepping down, above
                raise
            except (NotLeader, LeaseLost) as problem:
                log.error("Matrix: %s; this replica stops syncing", problem)
                self._lease.drop()
                continue
            except HomeserverError as problem:
                log.error("Matrix: %s; retrying in %.0f s", problem, backoff)
            except RetryLater:
                log.error("Matrix: an event failed; syncing it again in %.0f s", backoff)
            except StorageUnavailable as problem:
                # Taking the lease or saving the token: the same wait as for an event.
                log.warning("Matrix: %s; sync paused, trying again in %.0f s", problem,
                            DATABASE_RETRY)
                await self._pause(DATABASE_RETRY)
                continue
            except DatabaseAway as problem:
                # Checked often: the bot should carry on as soon as the database is back.
                log.warning("Matrix: %s; sync paused, trying again in %.0f s", problem,
                            DATABASE_RETRY)
                await self._pause(DATABASE_RETRY)
                continue
            except (aiohttp.ClientError, OSError, TimeoutError) as problem:
                log.error(
                    "Matrix: cannot reach %s (%s: %s); retrying in %.0f s",
                    self._settings.homeserver,
                    type(problem).__name__,
                    problem,
                    backoff,
                )
            except Exception:
                log.exception("Matrix: unexpected error; retrying in %.0f s", backoff)
            # The homeserver is in trouble: work for Matrix is tried, and retried later,
            # as on a replica that lost its connection.
            self.taking_over = False
            self.connected.clear()
            if on_state is not None:
                on_state(False)
            await self._pause(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def request_stop(self) -> None:
        """Called on the loop: ends a long poll now, or the batch being handled, then stops."""
        self._stopping = True
        if self._stop is not None:
            self._stop.set()
        if self._poll is not None:
            self._poll.cancel()

    async def close(self) -> None:
        await self._stop_renewing()
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self._lease.held():
            try:
                await self._lease.give_up()
                log.info("Matrix: gave up the sync lease; a standby may take over at once")
            except Exception as problem:  # it runs out by itself
                log.warning("Matrix: could not give up the sync lease (%s)", problem)
        self._pins.close()

    # -- the lease: one replica syncs ------------------------------------------------------

    async def _lead(self, on_state: Callable[[bool], None] | None) -> bool:
        """Steps down if this replica was syncing, then tries to take the lease: True
        when this replica is to sync now."""
        await self._stop_renewing()
        if self.client is not None:
            client, self.client = self.client, None
            await client.close()
            self.connected.clear()
            if on_state is not None:
                on_state(False)
        if not await self._lease.take():
            if not self.standby:
                self.standby = True
                log.info(
                    "Matrix: standby; another replica syncs %s (lease %s); taking over "
                    "if its lease runs out",
                    self._settings.user_id,
                    self._lease.name,
                )
            if on_state is not None:
                on_state(False)
            return False
        log.info(
            "Matrix: this replica syncs %s (lease %s held as %s)",
            self._settings.user_id,
            self._lease.name,
            self._lease.holder,
        )
        self.standby = False
        self.taking_over = True
        self._renewing = asyncio.ensure_future(self._renew())
        return True

    async def _renew(self) -> None:
        """Renews the lease while syncing; when it cannot (another replica took it, or the
        database is away until it runs out), ends the sync at once."""
        lease = self._lease
        while lease.held():
            # Woken at the lease's end too, when renewing has been failing until then.
            await self._pause(min(lease.renew_every, lease.remaining()))
            if self._stopping:
                return
            if not lease.held():
                break
            try:
                if not await lease.take():
                    log.error("Matrix: another replica took over the sync lease")
            except Exception as problem:
                log.warning(
                    "Matrix: cannot renew the sync lease (%s); this replica stops syncing "
                    "if it runs out",
                    problem,
                )
        if not self._stopping and self._poll is not None:
            self._poll.cancel()

    async def _stop_renewing(self) -> None:
        task, self._renewing = self._renewing, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _pause(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    # -- login -----------------------------------------------------------------------------

    async def _connect(self) -> nio.AsyncClient:
        settings = self._settings
        # Read first: a database that is away stops the start before any login.
        stored_token = await self._lease.position()
        settings.store.mkdir(parents=True, exist_ok=True)
        device_file = settings.store / "device.json"
        device_id = settings.device_id or _saved_device(device_file)
        config = nio.AsyncClientConfig(
            encryption_enabled=True,
            store_sync_tokens=False,  # we store it ourselves, after handling the events
            max_timeouts=2,
            request_timeout=60,
        )
        client = nio.AsyncClient(
            settings.homeserver,
            settings.user_id,
            device_id=device_id or "",
            store_path=str(settings.store),
            config=config,
        )
        try:
            if settings.access_token:
                if not device_id:
                    client.access_token = settings.access_token
                    client.user_id = settings.user_id
                    who = await client.whoami()
                    if not isinstance(who, nio.WhoamiResponse) or not who.device_id:
                        raise HomeserverError(
                            f"the access token for {settings.user_id} was refused "
                            f"({_describe(who)}); check MATRIX_ACCESS_TOKEN"
                        )
                    device_id = str(who.device_id)
                client.restore_login(settings.user_id, device_id, settings.access_token)
            else:
                response = await client.login(
                    password=settings.password, device_name="incident-bot"
                )
                if not isinstance(response, nio.LoginResponse):
                    raise HomeserverError(
                        f"logging in as {settings.user_id} failed ({_describe(response)}); "
                        "check MATRIX_USER_ID and MATRIX_PASSWORD"
                    )
                device_id = str(response.device_id)
            device_file.write_text(json.dumps({"device_id": device_id}), "utf-8")
            if client.should_upload_keys:
                uploaded = await client.keys_upload()
                if not isinstance(uploaded, nio.KeysUploadResponse):
                    raise HomeserverError(
                        f"uploading encryption keys failed ({_describe(uploaded)})"
                    )
        except BaseException:
            await client.close()
            raise
        self._token = stored_token
        if self._token is None and client.store:
            # Kept in the store directory before the database had it.
            self._token = client.store.load_sync_token()
            if self._token:
                log.info("Matrix: the sync token moves from the store into the database")
        self._full_state = True
        log.info(
            "Matrix: logged in as %s (device %s) on %s; %s",
            settings.user_id,
            device_id,
            settings.homeserver,
            "continuing from the stored sync token"
            if self._token
            else "first start: earlier messages are history and are not run as commands",
        )
        return client

    # -- sync --------------------------------------------------------------------------------

    async def _sync_once(self) -> None:
        client = self.client
        assert client is not None
        first_start = self._token is None
        # nio skips a response whose `next_batch` equals the token it holds. A retried
        # batch must be handled again, and so must the full-state sync after a start:
        # when nothing happened while the bot was down, it carries the stored token
        # unchanged, and skipping it would leave nio knowing none of the bot's rooms (so
        # nothing could be sent to a quiet room). `since` is passed explicitly below.
        client.next_batch = ""
        self._poll = asyncio.ensure_future(
            client.sync(
                timeout=0 if self._full_state else LONG_POLL_MS,
                sync_filter=SYNC_FILTER,
                since=self._token,
                full_state=self._full_state or None,
            )
        )
        try:
            response = await self._poll
        finally:
            self._poll = None
        if not isinstance(response, nio.SyncResponse):
            raise HomeserverError(f"sync failed ({_describe(response)})")
        self._full_state = False
        await self._crypto_chores()
        await self._answer_invites(response)
        newest: int | None = None  # origin_server_ts (ms) of the newest event from others
        if not first_start:
            for room_id, joined in response.rooms.join.items():
                events = await self._new_events(room_id, joined.timeline)
                for event in events:
                    if self._stopping:
                        return  # the token stays before this batch; the rest comes again
                    if not self._lease.held():
                        raise NotLeader("the sync lease ran out before it was renewed")
                    await self._event(room_id, event)
                    stamp = self._stamp_from_others(event)
                    if stamp is not None and (newest is None or stamp > newest):
                        newest = stamp
        await self._tell_changed_names(response)
        # Saved only while the lease is held, checked in the same transaction: a replica
        # paused past its lease cannot move the token behind the one that took over.
        token = str(response.next_batch)
        await self._lease.save_position(token)
        self._token = token
        if newest is not None:
            # How far behind the rooms the bot is once a batch is fully handled: the
            # homeserver's delivery, the handling of the whole batch, and any backlog
            # (an outage, a restart) all show here. The stamp is the homeserver's
            # clock: a skewed clock shifts every sample alike.
            self._bot.telemetry.matrix_synced(lag_seconds=time.time() - newest / 1000)

    async def _new_events(self, room_id: str, timeline: Any) -> list[Any]:
        """The room's events since the saved token, in order, each once: a `limited`
        timeline is completed with the events the sync left out (adapters.matrix.backfill)."""
        events = list(timeline.events)
        _, joined_now = self._after_own_join(events)
        if timeline.limited and not joined_now and self._token:
            client = self.client
            assert client is not None
            try:
                gap = await missed_events(
                    client,
                    room_id,
                    since=self._token,
                    until=timeline.prev_batch,
                    limit=self._settings.backfill_limit,
                )
            except BackfillFailed as problem:
                raise HomeserverError(str(problem)) from None
            if not gap.complete:
                log.warning(
                    "Matrix: more than %d events reached %s while the bot was away; the "
                    "first %d and the latest %d are handled, those between were not seen "
                    "(INCIDENT_BOT_MATRIX_BACKFILL_LIMIT)",
                    self._settings.backfill_limit,
                    room_id,
                    len(gap.events),
                    len(events),
                )
            elif gap.events:
                log.info(
                    "Matrix: fetched %d events the sync left out in %s", len(gap.events), room_id
                )
            events = in_order_once(gap.events, events)
        return self._after_own_join(events)[0]

    def _stamp_from_others(self, event: Any) -> int | None:
        """When the homeserver received an event someone else sent (the bot's own echoes
        say nothing about how far behind it is)."""
        source = event.source if isinstance(event.source, dict) else {}
        stamp = source.get("origin_server_ts")
        if source.get("sender") == self._settings.user_id or not isinstance(stamp, int):
            return None
        return stamp

    def _after_own_join(self, events: list[Any]) -> tuple[list[Any], bool]:
        """A room joined in this batch comes with some of its history: that is history,
        not commands. Only what follows the bot's own join is handled."""
        start = None
        for index, event in enumerate(events):
            source = event.source if isinstance(event.source, dict) else {}
            if (
                source.get("type") == "m.room.member"
                and source.get("state_key") == self._settings.user_id
                and (source.get("content") or {}).get("membership") == "join"
                and ((source.get("unsigned") or {}).get("prev_content") or {}).get("membership")
                != "join"
            ):
                start = index + 1
        return (events, False) if start is None else (events[start:], True)

    async def _crypto_chores(self) -> None:
        """What nio's sync_forever does between syncs: keys up, keys queried and claimed."""
        client = self.client
        assert client is not None
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    async def _answer_invites(self, response: nio.SyncResponse) -> None:
        client = self.client
        assert client is not None
        for room_id, invited in response.rooms.invite.items():
            inviter = next(
                (
                    event.sender
                    for event in invited.invite_state
                    if isinstance(event, nio.InviteMemberEvent)
                    and event.state_key == self._settings.user_id
                    and event.membership == "invite"
                ),
                None,
            )
            if inviter is None or not self._settings.may_invite(inviter):
                if room_id not in self._ignored_invites:
                    self._ignored_invites.add(room_id)
                    log.info(
                        "Matrix: not joining %s: the invitation came from %s, who is not in "
                        "INCIDENT_BOT_MATRIX_ALLOWED_INVITERS",
                        room_id,
                        inviter or "an unknown user",
                    )
                continue
            joined = await client.join(room_id)
            if isinstance(joined, nio.JoinResponse):
                log.info("Matrix: joined %s, invited by %s", room_id, inviter)
            else:
                log.error("Matrix: joining %s failed (%s)", room_id, _describe(joined))

    # -- Matrix events to neutral events ---------------------------------------------------

    async def _event(self, room_id: str, event: Any) -> None:
        if isinstance(event, nio.MegolmEvent):
            log.warning(
                "Matrix: cannot decrypt %s in %s (this device has no key for it); skipped",
                event.event_id,
                room_id,
            )
            return
        source: dict[str, Any] = event.source if isinstance(event.source, dict) else {}
        sender = source.get("sender")
        event_id = source.get("event_id")
        if not isinstance(sender, str) or not isinstance(event_id, str):
            return
        if sender == self._settings.user_id:
            return
        kind = source.get("type")
        log.debug("Matrix: %s %s from %s in %s", kind, event_id, sender, room_id)
        content = source.get("content")
        if not isinstance(content, dict):
            return
        if kind == "m.room.message":
            await self._message(room_id, event_id, sender, content, _moment(source))
        elif kind == "m.reaction":
            await self._reaction(room_id, event_id, sender, content)
        elif kind == "m.room.redaction":
            redacts = source.get("redacts") or content.get("redacts")
            if isinstance(redacts, str):
                await self._redaction(room_id, event_id, sender, redacts)

    async def _message(
        self, room_id: str, event_id: str, sender: str, content: dict[str, Any], at: datetime
    ) -> None:
        relates = content.get("m.relates_to") or {}
        if relates.get("rel_type") == "m.replace" and isinstance(relates.get("event_id"), str):
            original = relates["event_id"]
            new_content = content.get("m.new_content") or {}
            text = message_text(new_content)
            known = self._posted.get(original)
            if known is not None:
                self._posted[original] = Posted(known.sender, text, known.at)
            await self._handle(
                MessageEdited(
                    workspace=self._settings.server_name,
                    channel=room_id,
                    user=sender,
                    event_id=event_id,
                    message_ref=original,
                    text=text,
                ),
                reply_to=None,
            )
            return
        self._remember(event_id, Posted(sender, message_text(content), at))
        command = command_text(content)
        if command is None:
            return
        thread_root = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
        reply_to = ReplyTo(room_id, event_id, thread_root)
        await self._handle(
            CommandReceived(
                workspace=self._settings.server_name,
                channel=room_id,
                user=sender,
                event_id=event_id,
                text=command,
                posted_at=at,
                message_ref=event_id,
            ),
            reply_to=reply_to,
        )

    async def _reaction(
        self, room_id: str, event_id: str, sender: str, content: dict[str, Any]
    ) -> None:
        relates = content.get("m.relates_to") or {}
        key = str(relates.get("key", ""))
        target = relates.get("event_id")
        tag = self._bot.settings.tag_emoji
        if relates.get("rel_type") != "m.annotation" or not tag.matches(key):
            return
        if not isinstance(target, str):
            return
        posted = await self._posted_message(room_id, target)
        if posted is None:
            return
        self._pins.remember(Pin(event_id, room_id, target, sender))
        await self._handle(
            MessageTagged(
                workspace=self._settings.server_name,
                channel=room_id,
                user=sender,
                event_id=event_id,
                message_ref=target,
                author=posted.sender,
                text=posted.text,
                posted_at=posted.at,
            ),
            reply_to=None,
        )

    async def _redaction(self, room_id: str, event_id: str, sender: str, redacts: str) -> None:
        pin = self._pins.find(redacts)
        event: InboundEvent
        if pin is not None:
            event = MessageUntagged(
                workspace=self._settings.server_name,
                channel=room_id,
                user=pin.sender,
                event_id=event_id,
                message_ref=pin.message_id,
            )
        else:
            event = MessageDeleted(
                workspace=self._settings.server_name,
                channel=room_id,
                user=sender,
                event_id=event_id,
                message_ref=redacts,
            )
        await self._handle(event, reply_to=None)

    def _remember(self, event_id: str, posted: Posted) -> None:
        self._posted[event_id] = posted
        while len(self._posted) > REMEMBERED_MESSAGES:
            self._posted.popitem(last=False)

    async def _posted_message(self, room_id: str, event_id: str) -> Posted | None:
        """A message by id: from what this process saw, else fetched (and decrypted)."""
        known = self._posted.get(event_id)
        if known is not None:
            return known
        client = self.client
        assert client is not None
        response = await client.room_get_event(room_id, event_id)
        if not isinstance(response, nio.RoomGetEventResponse):
            log.warning(
                "Matrix: cannot fetch %s in %s to tag it (%s)",
                event_id,
                room_id,
                _describe(response),
            )
            return None
        event = response.event
        if isinstance(event, nio.MegolmEvent):
            try:
                event = client.decrypt_event(event)
            except (nio.EncryptionError, nio.LocalProtocolError) as problem:
                log.warning("Matrix: cannot decrypt %s to tag it (%s)", event_id, problem)
                return None
        source = event.source if isinstance(event.source, dict) else {}
        content = source.get("content")
        if source.get("type") != "m.room.message" or not isinstance(content, dict):
            return None
        if not content:
            return None  # redacted
        posted = Posted(str(source.get("sender")), message_text(content), _moment(source))
        self._remember(event_id, posted)
        return posted

    # -- people's names ----------------------------------------------------------------

    async def _names_to_tell(self, event: InboundEvent) -> dict[str, str]:
        """The display names of the people this event involves that the core has not
        stored yet, or stored differently: on most events, none."""
        people = [event.user]
        if isinstance(event, MessageTagged):
            people.append(event.author)
        if isinstance(event, CommandReceived | MessageTagged | MessageEdited):
            people += users_in(event.text)
        names: dict[str, str] = {}
        for user in dict.fromkeys(people):
            if not user or user == self._settings.user_id:
                continue
            name = self._known_name(user)
            if name is None and user not in self._profiles:
                name = self._profiles[user] = await self._profile_name(user)
            if name and self._told.get(user) != name:
                names[user] = name
        return names

    async def _profile_name(self, user: str) -> str | None:
        client = self.client
        if client is None:
            return None
        response = await client.get_displayname(user)
        name = getattr(response, "displayname", None)
        return str(name) if name else None

    async def _tell_changed_names(self, response: nio.SyncResponse) -> None:
        """Someone the core knows changed their display name (a member event in a room
        the bot shares): stored, so drafts rendered offline show it too."""
        changed: dict[str, str] = {}
        for joined in response.rooms.join.values():
            for event in [*joined.state, *joined.timeline.events]:
                source = event.source if isinstance(event.source, dict) else {}
                if source.get("type") != "m.room.member":
                    continue
                user = source.get("state_key")
                name = (source.get("content") or {}).get("displayname")
                if not isinstance(user, str) or not isinstance(name, str) or not name:
                    continue
                if user in self._told and self._told[user] != name:
                    changed[user] = name
        if changed:
            await self._store_names(changed)

    async def _store_names(self, names: dict[str, str]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                None, self._bot.remember_names, "matrix", self._settings.server_name, names
            )
        except Exception:
            log.exception("Matrix: storing %d display names failed; tried again later", len(names))
            return
        self._told.update(names)

    async def _handle(self, event: InboundEvent, *, reply_to: ReplyTo | None) -> None:
        """Runs the core off the loop (it does database work) and posts its replies."""
        loop = asyncio.get_running_loop()
        self._notes = []
        names = await self._names_to_tell(event)
        if names:
            await self._store_names(names)
        try:
            replies = await loop.run_in_executor(
                None, functools.partial(self._bot.handle, event, platform=self.platform)
            )
        except StorageUnavailable as problem:
            # Not the event's fault: the sync pauses, its token stays where it was, and
            # the same events come again once the database is back.
            raise DatabaseAway(str(problem)) from None
        except Exception:
            key = event.event_id or ""
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            if failures >= ATTEMPTS_PER_EVENT:
                log.exception(
                    "Matrix: giving up on %s in %s after %d attempts",
                    event.event_id,
                    event.channel,
                    failures,
                )
                return
            log.exception("Matrix: handling %s in %s failed", event.event_id, event.channel)
            raise RetryLater() from None
        notes = [
            Message(channel=event.channel, text=note, is_error=True) for note in self._notes
        ]
        await self._send_replies([*replies, *notes], reply_to)
        if (
            isinstance(event, CommandReceived)
            and event.event_id is not None
            and any(isinstance(reply, Message) for reply in replies)
            and self._bot.keeps_answer(event, platform=self.platform)
        ):
            # Sent: not again when this event is synced again after a restart.
            try:
                await loop.run_in_executor(None, functools.partial(
                    self._bot.answered, platform=self.platform.name, event_id=event.event_id
                ))
            except Exception as problem:  # the answer may come twice after a restart
                log.warning("Matrix: could not note the answer to %s as sent: %s",
                            event.event_id, problem)

    # -- the core's platform requests (called from the core's worker thread) ---------------

    def _open_room(self, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
        loop = self._loop
        assert loop is not None
        future = asyncio.run_coroutine_threadsafe(self._create_room(name, topic, invite), loop)
        return future.result(timeout=120)

    def _invite_people(self, channel: ChannelRef, invite: Sequence[str]) -> None:
        loop = self._loop
        assert loop is not None
        future = asyncio.run_coroutine_threadsafe(
            self._invite_into(channel.id, channel.name, invite), loop
        )
        future.result(timeout=120)

    def _known_name(self, user: str) -> str | None:
        client = self.client
        if client is None:
            return None
        try:
            # Read from the core's worker thread while the loop may be adding rooms.
            rooms = list(client.rooms.values())
        except RuntimeError:
            return None
        for room in rooms:
            member = room.users.get(user)
            if member is not None and member.display_name:
                return str(member.display_name)
        return self._profiles.get(user)

    async def _create_room(self, name: str, topic: str, invite: Sequence[str]) -> ChannelRef:
        client = self.client
        assert client is not None
        encrypted = self._settings.encrypt_rooms
        initial_state = (
            [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ]
            if encrypted
            else []
        )
        response = await client.room_create(
            name=name,
            topic=topic,
            preset=nio.RoomPreset.private_chat,
            initial_state=initial_state,
        )
        if not isinstance(response, nio.RoomCreateResponse):
            log.error("Matrix: creating room %s failed (%s)", name, _describe(response))
            raise IncidentError(
                f"The homeserver would not create the room {name} ({_describe(response)}); "
                "nothing was recorded. Try again, or ask the homeserver's admin."
            )
        room_id = str(response.room_id)
        # Known before the next sync brings its state, so the summary can go out now
        # (encrypted, with the invitees' devices among the recipients).
        room = client.rooms.get(room_id)
        if room is None:
            room = nio.MatrixRoom(room_id, client.user_id, encrypted)
            client.rooms[room_id] = room
        room.name = name
        room.encrypted = encrypted
        if encrypted:
            client.encrypted_rooms.add(room_id)
        room.add_member(client.user_id, None, None)
        await self._invite_into(room_id, name, invite)
        self._room_links[name] = room_id
        return ChannelRef(id=room_id, name=name)

    async def _invite_into(self, room_id: str, name: str, invite: Sequence[str]) -> None:
        client = self.client
        assert client is not None
        room = client.rooms.get(room_id)
        for person in invite:
            invited = await client.room_invite(room_id, person)
            if isinstance(invited, nio.RoomInviteResponse):
                if room is not None:
                    room.add_member(person, None, None, invited=True)
            else:
                log.error("Matrix: inviting %s to %s failed (%s)", person, name, _describe(invited))
                self._notes.append(f"Could not invite {person} to #{name}: {_describe(invited)}")

    # -- neutral replies to Matrix events ---------------------------------------------------

    async def deliver(self, replies: Sequence[Reply]) -> None:
        """Replies that answer no event (reminders); raises when they cannot be posted."""
        await self._send_replies(replies, None, raise_errors=True)

    async def _send_replies(
        self, replies: Sequence[Reply], reply_to: ReplyTo | None, *, raise_errors: bool = False
    ) -> None:
        for reply in replies:
            try:
                if isinstance(reply, Message):
                    await self._send(
                        reply.channel,
                        "m.room.message",
                        self._relate(self._notice(reply.text, reply.is_error), reply, reply_to),
                    )
                elif isinstance(reply, Reaction):
                    await self._react(reply)
                elif isinstance(reply, ReactionRemoved):
                    await self._unreact(reply)
                else:
                    await self._upload(reply, reply_to)
            except HomeserverError as problem:
                if raise_errors:
                    raise
                log.error("Matrix: a reply to %s was not posted: %s", reply.channel, problem)

    async def _react(self, reaction: Reaction) -> None:
        key = char_of(reaction.emoji)
        if self._pins.confirmation(reaction.channel, reaction.message_ref, key) is not None:
            return  # put there before: a 📌 synced again after a restart
        try:
            event_id = await self._send(
                reaction.channel,
                "m.reaction",
                {
                    "m.relates_to": {
                        "rel_type": "m.annotation",
                        "event_id": reaction.message_ref,
                        "key": key,
                    }
                },
            )
        except AlreadyReacted:
            return  # sent, and the bot stopped before remembering it
        # Remembered so that it can be taken off again (a redaction names the event).
        self._pins.remember_confirmation(reaction.channel, reaction.message_ref, key, event_id)

    async def _unreact(self, removal: ReactionRemoved) -> None:
        client = self.client
        if client is None:
            raise HomeserverError("not connected to the homeserver yet")
        key = char_of(removal.emoji)
        event_id = self._pins.confirmation(removal.channel, removal.message_ref, key)
        if event_id is None:
            log.info(
                "Matrix: no %s of the bot's own on %s to take off (the store does not know it)",
                key,
                removal.message_ref,
            )
            return
        response = await client.room_redact(
            removal.channel, event_id, reason="no longer on the incident timeline"
        )
        if not isinstance(response, nio.RoomRedactResponse):
            raise HomeserverError(
                f"taking {key} off {removal.message_ref} failed ({_describe(response)})"
            )
        self._pins.forget_confirmation(removal.channel, removal.message_ref, key)

    def _notice(self, text: str, is_error: bool) -> dict[str, Any]:
        return notice(
            text,
            name_of=self.platform.display_name,
            room_links=self._room_links,
            is_error=is_error,
        )

    @staticmethod
    def _relate(
        content: dict[str, Any], reply: Message | FileUpload, reply_to: ReplyTo | None
    ) -> dict[str, Any]:
        if reply_to is None or reply.channel != reply_to.room_id:
            return content
        relation: dict[str, Any] = {"m.in_reply_to": {"event_id": reply_to.event_id}}
        if reply_to.thread_root:
            relation.update(
                {"rel_type": "m.thread", "event_id": reply_to.thread_root, "is_falling_back": False}
            )
        return {**content, "m.relates_to": relation}

    async def _send(self, room_id: str, kind: str, content: dict[str, Any]) -> str:
        """Sends one event; returns its event id."""
        client = self.client
        if client is None:
            raise HomeserverError("not connected to the homeserver yet")
        try:
            response = await client.room_send(
                room_id, kind, content, ignore_unverified_devices=True
            )
        except (nio.LocalProtocolError, nio.SendRetryError) as problem:
            raise HomeserverError(f"cannot send to {room_id}: {problem}") from None
        if not isinstance(response, nio.RoomSendResponse):
            duplicate = getattr(response, "status_code", None) == "M_DUPLICATE_ANNOTATION"
            failure = AlreadyReacted if duplicate else HomeserverError
            raise failure(f"sending to {room_id} failed ({_describe(response)})")
        return str(response.event_id)

    async def _upload(self, upload: FileUpload, reply_to: ReplyTo | None) -> None:
        client = self.client
        if client is None:
            raise HomeserverError("not connected to the homeserver yet")
        room = client.rooms.get(upload.channel)
        encrypt = bool(room is not None and room.encrypted)
        data = upload.content
        response, keys = await client.upload(
            lambda *_: io.BytesIO(data),
            content_type=upload.media_type,
            filename=upload.filename,
            encrypt=encrypt,
            filesize=len(data),
        )
        if not isinstance(response, nio.UploadResponse):
            raise HomeserverError(f"uploading {upload.filename} failed ({_describe(response)})")
        await self._send(
            upload.channel,
            "m.room.message",
            self._relate(self._notice(upload.comment, False), upload, reply_to),
        )
        content: dict[str, Any] = {
            "msgtype": "m.file",
            "body": upload.filename,
            "filename": upload.filename,
            "info": {"mimetype": upload.media_type, "size": len(data)},
        }
        if encrypt and keys:
            content["file"] = {**keys, "url": response.content_uri}
        else:
            content["url"] = response.content_uri
        await self._send(upload.channel, "m.room.message", content)


def _moment(source: dict[str, Any]) -> datetime:
    stamp = source.get("origin_server_ts")
    millis = stamp if isinstance(stamp, int) else 0
    return datetime.fromtimestamp(millis / 1000, UTC)


def _saved_device(path: Any) -> str | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    device = data.get("device_id") if isinstance(data, dict) else None
    return device if isinstance(device, str) and device else None
