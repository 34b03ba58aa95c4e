"""Slack payloads in, neutral events to the core, replies back out.

Every listener stores the request in the inbox (one insert), acks, and queues the work:
Slack wants an answer within 3 seconds and never re-sends what it got an answer for,
so what is acked must already be on disk. What cannot be stored is not acked (Slack
sends an event again later); a slash command is answered that nothing was recorded.
The work runs from the stored copy, and whatever a process did not finish is taken up
again from the inbox (`InboxSweeper`), by it after a restart or by another replica.

With `handling = "process"` the acking process passes each stored request on to a child
process (adapters/slack/handoff.py) that runs these same handlers' work part.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from slack_bolt import Ack, App, BoltRequest
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from adapters.slack.delivery import Delivery, Origin, refusal
from adapters.slack.platform import USER_ID, DisplayNames, SlackPlatform, name_of_user
from adapters.slack.text import command_text, link_channels, mentioned_users, plain_text
from adapters.slack.workers import Lanes
from bot.events import (
    CommandReceived,
    InboundEvent,
    MessageDeleted,
    MessageEdited,
    MessageTagged,
    MessageUntagged,
)
from bot.mentions import users_in
from bot.ports import Inbox, InboxItem, StorageUnavailable
from bot.replies import Message
from bot.service import IncidentBot

log = logging.getLogger(__name__)

SHORTCUT_CALLBACK = "add_to_incident_timeline"
NAMES_LANE = "people"  # the lane that stores names changed outside any channel
PLATFORM = "slack"
Body = dict[str, Any]
# A request whose handling failed this many times (the database kept failing, or a bug)
# is given up, and its sender told so.
MAX_ATTEMPTS = 5
NOT_RECORDED = (
    "The bot could not record this: its database is not answering, so nothing was done. "
    "Try again in a minute."
)
SOMETHING_WENT_WRONG = (
    "Something went wrong on the bot's side, so nothing was recorded. Try again; "
    "if it keeps failing, the bot's log says why."
)


class PassOn(Protocol):
    """Where the listeners pass what they stored, when another process handles it."""

    def item(self, item: InboxItem) -> None:
        """A stored request to handle."""

    def renamed(self, workspace: str, user: str, name: str) -> None:
        """Someone's new display name to store."""


class TryAgainLater(Exception):
    """Handling failed before anything was recorded; the inbox keeps the request."""


def message_time(ts: str) -> datetime:
    """Slack's `1729757340.000200` as a UTC datetime, to the microsecond (no float)."""
    seconds, _, fraction = ts.partition(".")
    micro = int((fraction + "000000")[:6])
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micro)


class SlackHandlers:
    def __init__(
        self,
        *,
        bot: IncidentBot,
        client: WebClient,
        names: DisplayNames,
        delivery: Delivery,
        lanes: Lanes,
        bot_user: str | None,
        inbox: Inbox,
        claimant: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pass_on: PassOn | None = None,
        finished: Callable[[int], None] = lambda item_id: None,
    ) -> None:
        """`pass_on`: the listeners hand what they stored to it instead of the lanes (the
        handling process). `finished`: told each item id whose handling ended, done or
        left for a later attempt."""
        self._bot = bot
        self._pass_on = pass_on
        self._finished = finished
        self._client = client
        self._names = names
        self._delivery = delivery
        self._lanes = lanes
        self._bot_user = bot_user
        self._inbox = inbox
        self._claimant = claimant
        self._clock = clock
        self._in_hand: set[int] = set()  # inbox items queued or being handled here
        self._in_hand_lock = threading.Lock()

    def register(self, app: App) -> None:
        """The listeners of Socket Mode's app (Bolt's threads)."""
        app.command("/incident")(self.on_command)
        app.shortcut(SHORTCUT_CALLBACK)(self.on_shortcut)
        app.event("reaction_added")(self.on_reaction)
        app.event("reaction_removed")(self.on_reaction)
        app.event({"type": "message", "subtype": "message_changed"})(self.on_message_changed)
        app.event({"type": "message", "subtype": "message_deleted"})(self.on_message_deleted)
        app.event("user_change")(self.on_user_change)
        # Every other message is ordinary chat; answered so Bolt does not report it.
        app.event("message")(self.ignore)

    def register_async(self, app: AsyncApp) -> None:
        """The same listeners for HTTP mode's app, which Bolt runs on the HTTP server's
        event loop: the ack waits for the inbox without holding a thread (bench/slack_ack.py
        measured the hand-overs of the interpreter lock between Bolt's threads as most of
        what the ack cost beyond a bare Bolt app)."""
        app.command("/incident")(self.on_command_async)
        app.shortcut(SHORTCUT_CALLBACK)(self.on_shortcut_async)
        app.event("reaction_added")(self.on_reaction_async)
        app.event("reaction_removed")(self.on_reaction_async)
        app.event({"type": "message", "subtype": "message_changed"})(self.on_event_async)
        app.event({"type": "message", "subtype": "message_deleted"})(self.on_event_async)
        app.event("user_change")(self.on_user_change_async)
        app.event("message")(self.ignore_async)

    # -- listeners (store, ack, queue, return) ---------------------------------------------

    def on_command(self, ack: Ack, body: Body) -> None:
        try:
            item = self._inbox.put(**self._record("command", body))
        except Exception as problem:
            _command_not_stored(problem)
            ack(text=NOT_RECORDED)
            return
        ack()
        if item is not None:
            self.queue(item)

    async def on_command_async(self, ack: AsyncAck, body: Body) -> None:
        try:
            item = await self._inbox.put_async(**self._record("command", body))
        except Exception as problem:
            _command_not_stored(problem)
            await ack(text=NOT_RECORDED)
            return
        await ack()
        if item is not None:
            self.queue(item)

    def on_shortcut(self, ack: Ack, body: Body) -> None:
        try:
            item = self._inbox.put(**self._record("shortcut", body))
        except Exception:
            log.exception("a shortcut could not be stored; told its sender to try again")
            ack()
            self._delivery.tell(_shortcut_origin(body), NOT_RECORDED)
            return
        ack()
        if item is not None:
            self.queue(item)

    async def on_shortcut_async(self, ack: AsyncAck, body: Body) -> None:
        try:
            item = await self._inbox.put_async(**self._record("shortcut", body))
        except Exception:
            log.exception("a shortcut could not be stored; told its sender to try again")
            await ack()
            # A Web API call: on a thread, not the loop that acks everyone else.
            await asyncio.to_thread(self._delivery.tell, _shortcut_origin(body), NOT_RECORDED)
            return
        await ack()
        if item is not None:
            self.queue(item)

    def on_reaction(self, body: Body, event: Body, request: BoltRequest) -> None:
        if self._is_tag(event):
            self._store_event(body, request)

    async def on_reaction_async(self, body: Body, event: Body, request: AsyncBoltRequest) -> None:
        if self._is_tag(event):
            await self.on_event_async(body, request)

    def on_message_changed(self, body: Body, event: Body, request: BoltRequest) -> None:
        self._store_event(body, request)

    def on_message_deleted(self, body: Body, event: Body, request: BoltRequest) -> None:
        self._store_event(body, request)

    async def on_event_async(self, body: Body, request: AsyncBoltRequest) -> None:
        """Stores the event and queues it; raises when it cannot be stored, so Bolt
        answers 500 and Slack delivers it again later."""
        try:
            item = await self._inbox.put_async(**self._record("event", body))
        except StorageUnavailable as problem:
            _event_not_stored(problem, body)
            raise
        self._queue_event(item, body, request.headers)

    def on_user_change(self, body: Body, event: Body) -> None:
        """Someone changed their profile: their name is current at once in what the bot
        renders, and stored for renderings with no Slack connection."""
        user = event.get("user") or {}
        user_id, name = user.get("id"), name_of_user(user)
        if not isinstance(user_id, str) or not USER_ID.match(user_id) or not name:
            return
        workspace = body.get("team_id") or user.get("team_id") or ""
        if self._pass_on is None:
            self.store_new_name(workspace, user_id, name)
            return
        self._names.changed(user_id, name)  # for what this process posts
        self._pass_on.renamed(workspace, user_id, name)

    async def on_user_change_async(self, body: Body, event: Body) -> None:
        self.on_user_change(body, event)  # queues its work only

    def store_new_name(self, workspace: str, user: str, name: str) -> None:
        """A new display name: current at once in what this process posts, stored on a lane."""
        self._names.changed(user, name)
        self._lanes.submit(NAMES_LANE, lambda: self._renamed(workspace, user, name))

    def ignore(self) -> None:
        return None

    async def ignore_async(self) -> None:
        return None

    def _is_tag(self, event: Body) -> bool:
        """A reaction with the tag emoji on a message."""
        item = event.get("item") or {}
        # Slack names reactions by short name, with a skin tone after `::` for some.
        name = str(event.get("reaction") or "").split("::", 1)[0]
        return name == self._bot.settings.tag_emoji.name and item.get("type") == "message"

    def _store_event(self, body: Body, request: BoltRequest) -> None:
        """Stores the event and queues it; raises when it cannot be stored, so Bolt
        answers 500 (or sends no Socket Mode ack) and Slack delivers it again later."""
        try:
            item = self._inbox.put(**self._record("event", body))
        except StorageUnavailable as problem:
            _event_not_stored(problem, body)
            raise
        self._queue_event(item, body, request.headers)

    def _queue_event(
        self, item: InboxItem | None, body: Body, headers: dict[str, Sequence[str]]
    ) -> None:
        if item is None:
            retry = (headers.get("x-slack-retry-num") or ["?"])[0]
            log.info("dropped Slack retry %s of event %s", retry, body.get("event_id"))
            return
        self.queue(item)

    def _record(self, kind: str, body: Body) -> dict[str, Any]:
        """What the inbox stores of a request: `put`'s arguments."""
        key = _key(kind, body.get("event_id" if kind == "event" else "trigger_id"))
        # A slash command has no timestamp of its own: its time is when it arrived.
        received_at = self._clock()
        payload = json.dumps(
            {"kind": kind, "body": body, "received_at": received_at.isoformat()},
            separators=(",", ":"),
        )
        return {
            "platform": PLATFORM,
            "key": key,
            "payload": payload,
            "received_at": received_at,
            "claimant": self._claimant,
        }

    def queue(self, item: InboxItem) -> None:
        """Hands a stored request to its channel's lane (in the order of arrival),
        unless this process holds it already; or to the handling process."""
        if self._pass_on is not None:
            self._pass_on.item(item)
            return
        with self._in_hand_lock:
            if item.id in self._in_hand:
                return
            self._in_hand.add(item.id)
        record = json.loads(item.payload)
        body: Body = record.get("body") or {}
        self._lanes.submit(_channel_of(record.get("kind", ""), body), lambda: self._work(item))

    def in_hand(self) -> set[int]:
        with self._in_hand_lock:
            return set(self._in_hand)

    def _work(self, item: InboxItem) -> None:
        try:
            self._work_on(item)
        finally:
            with self._in_hand_lock:
                self._in_hand.discard(item.id)
            self._finished(item.id)

    # -- work (on a lane) --------------------------------------------------------------

    def _work_on(self, item: InboxItem) -> None:
        record = json.loads(item.payload)
        kind, body = record.get("kind"), record.get("body") or {}
        final = item.attempts >= MAX_ATTEMPTS
        try:
            if kind == "command":
                self._command(body, datetime.fromisoformat(record["received_at"]), final)
            elif kind == "shortcut":
                self._shortcut(body, final)
            else:
                self._event(body, final)
        except TryAgainLater:
            log.warning(
                "handling %s failed (attempt %d of %d); it is tried again later",
                item.key,
                item.attempts,
                MAX_ATTEMPTS,
            )
            return
        except Exception:
            if not final:
                log.exception(
                    "handling %s failed (attempt %d of %d); it is tried again later",
                    item.key,
                    item.attempts,
                    MAX_ATTEMPTS,
                )
                return
            log.exception("handling %s failed %d times; given up", item.key, item.attempts)
        self._inbox.done(item.id)

    def _event(self, body: Body, final: bool) -> None:
        event = body.get("event") or {}
        if event.get("type") in ("reaction_added", "reaction_removed"):
            self._reaction(body, event, final)
        elif event.get("subtype") == "message_changed":
            self._changed(body, event, final)
        elif event.get("subtype") == "message_deleted":
            self._deleted(body, event, final)

    def _command(self, body: Body, received_at: datetime, final: bool) -> None:
        origin = Origin(
            channel=body.get("channel_id", ""),
            user=body.get("user_id", ""),
            response_url=body.get("response_url"),
        )
        raw = body.get("text") or ""
        trigger = body.get("trigger_id")
        event = CommandReceived(
            workspace=body.get("team_id", ""),
            channel=origin.channel,
            user=origin.user,
            text=command_text(raw),
            posted_at=received_at,
            event_id=f"command:{trigger}" if trigger else None,
        )
        self._handle(event, origin, final)

    def _shortcut(self, body: Body, final: bool) -> None:
        message = body.get("message") or {}
        origin = _shortcut_origin(body)
        trigger = body.get("trigger_id")
        event = MessageTagged(
            workspace=(body.get("team") or {}).get("id", ""),
            channel=origin.channel,
            user=origin.user,
            message_ref=message.get("ts", ""),
            author=message.get("user") or message.get("bot_id") or "",
            text=self._message_text(message),
            posted_at=message_time(message.get("ts", "0")),
            event_id=f"shortcut:{trigger}" if trigger else None,
        )
        if not self._handle(event, origin, final):
            self._explain_silent_shortcut(origin)

    def _reaction(self, body: Body, event: Body, final: bool) -> None:
        item = event.get("item") or {}
        channel, ts = item.get("channel", ""), item.get("ts", "")
        origin = Origin(channel=channel, user=event.get("user", ""))
        common = {
            "workspace": body.get("team_id", ""),
            "channel": channel,
            "user": origin.user,
            "event_id": body.get("event_id"),
        }
        if event.get("type") == "reaction_removed":
            self._handle(MessageUntagged(message_ref=ts, **common), origin, final)
            return
        try:
            message = self._fetch_message(channel, ts)
        except SlackApiError as error:
            problem = refusal(error, "read the message you pinned")
            log.warning("%s", problem)
            self._delivery.tell(origin, f"{problem} It is not on the timeline yet; try again.")
            return
        if message is None:
            log.info("a pinned message %s in %s is gone; nothing to tag", ts, channel)
            return
        self._handle(
            MessageTagged(
                message_ref=ts,
                author=message.get("user") or message.get("bot_id") or "",
                text=self._message_text(message),
                posted_at=message_time(ts),
                **common,
            ),
            origin,
            final,
        )

    def _changed(self, body: Body, event: Body, final: bool) -> None:
        message = event.get("message") or {}
        previous = event.get("previous_message") or {}
        if message.get("text") == previous.get("text"):
            return  # a thread reply or an unfurl changed the message, not its words
        origin = Origin(channel=event.get("channel", ""), user=message.get("user", ""))
        self._handle(
            MessageEdited(
                workspace=body.get("team_id", ""),
                channel=origin.channel,
                user=origin.user,
                event_id=body.get("event_id"),
                message_ref=message.get("ts", ""),
                text=self._message_text(message),
            ),
            origin,
            final,
        )

    def _deleted(self, body: Body, event: Body, final: bool) -> None:
        previous = event.get("previous_message") or {}
        origin = Origin(channel=event.get("channel", ""), user=previous.get("user", ""))
        self._handle(
            MessageDeleted(
                workspace=body.get("team_id", ""),
                channel=origin.channel,
                user=origin.user,
                event_id=body.get("event_id"),
                message_ref=event.get("deleted_ts", ""),
            ),
            origin,
            final,
        )

    # -- the core, and what goes wrong around it -----------------------------------------

    def _handle(self, event: InboundEvent, origin: Origin, final: bool) -> bool:
        """Hands the event to the core and delivers its replies; False when it had none.

        When the core fails (the database is away, or a bug), nothing was recorded:
        TryAgainLater leaves the request in the inbox for a later attempt, and after the
        last one the sender is told."""
        platform = SlackPlatform(
            client=self._client,
            names=self._names,
            bot_user=self._bot_user,
        )
        people = self._people_in(event)
        self._tell_names(event.workspace, people)
        try:
            replies = self._bot.handle(event, platform=platform)
        except SlackApiError as error:
            problem = refusal(error, "do that")
            log.warning("%s (while handling %s)", problem, type(event).__name__)
            self._delivery.tell(origin, f"{problem} Nothing was recorded; try again.")
            return True
        except StorageUnavailable as problem:
            # Not the request's fault: it waits in the inbox until the database is back.
            log.warning("%s; %s waits for it", problem, type(event).__name__)
            raise TryAgainLater() from None
        except Exception:
            log.exception("the core failed on %s", type(event).__name__)
            if not final:
                raise TryAgainLater() from None
            self._delivery.tell(origin, SOMETHING_WENT_WRONG)
            return True
        if platform.opened:
            links = {channel.name: channel.id for channel in platform.opened}
            replies = [
                replace(reply, text=link_channels(reply.text, links))
                if isinstance(reply, Message)
                else reply
                for reply in replies
            ]
        self._delivery.deliver(replies, origin)
        return bool(replies)

    def _people_in(self, event: InboundEvent) -> list[str]:
        """Everyone the event involves: who did it, whose message, who is mentioned."""
        people = [event.user]
        if isinstance(event, MessageTagged):
            people.append(event.author)
        if isinstance(event, CommandReceived | MessageTagged | MessageEdited):
            people += users_in(event.text) + mentioned_users(event.text)
        return [
            user
            for user in dict.fromkeys(people)
            if user and user != self._bot_user and USER_ID.match(user)
        ]

    def _tell_names(self, workspace: str, people: list[str]) -> None:
        """Stores the names of these people that are new or changed (looked up with
        users.info, cached): on most events there are none and this costs nothing."""
        if not workspace:
            return
        names = self._names.untold(workspace, people)
        if not names:
            return
        try:
            self._bot.remember_names("slack", workspace, names)
        except Exception:
            log.exception("storing %d display names failed; tried again later", len(names))
            return
        self._names.told(workspace, names)

    def _renamed(self, workspace: str, user: str, name: str) -> None:
        """Stores a changed name, if the person is stored in the workspace (one update
        by key, which changes nothing for the many people the bot never had to name)."""
        try:
            self._bot.rename_people("slack", workspace, {user: name})
        except Exception:
            log.exception("storing a changed display name failed")
            return
        self._names.renamed(workspace, user, name)

    def _explain_silent_shortcut(self, origin: Origin) -> None:
        """The core says nothing for a message already tagged or outside an incident
        channel; a shortcut deserves an answer either way."""
        if self._bot.incident_in_channel("slack", origin.channel) is not None:
            text = "That message is already on the incident's timeline."
        else:
            text = (
                "“Add to incident timeline” works in an incident's channel, and this channel "
                "has no incident. Declare one with `/incident start TITLE`."
            )
        self._delivery.tell(origin, text)

    def _fetch_message(self, channel: str, ts: str) -> Body | None:
        """The message with this ts, whether in the channel or in a thread."""
        history = self._client.conversations_history(
            channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
        )
        for message in history.get("messages") or []:
            if message.get("ts") == ts:
                return dict(message)
        replies = self._client.conversations_replies(
            channel=channel, ts=ts, latest=ts, oldest=ts, inclusive=True, limit=1
        )
        for message in replies.get("messages") or []:
            if message.get("ts") == ts:
                return dict(message)
        return None

    def _message_text(self, message: Body) -> str:
        text = plain_text(message.get("text") or "")
        if text.strip():
            return text
        files = [f.get("name") or f.get("title") or "file" for f in message.get("files") or []]
        return f"(shared {', '.join(files)})" if files else "(a message without text)"


def _command_not_stored(problem: Exception) -> None:
    if isinstance(problem, StorageUnavailable):
        log.warning("%s: a slash command was answered that nothing was recorded", problem)
    else:
        log.exception("a slash command could not be stored; told its sender to try again")


def _event_not_stored(problem: StorageUnavailable, body: Body) -> None:
    log.warning("%s: event %s not acked; Slack sends it again", problem, body.get("event_id"))


def _key(kind: str, platform_id: object) -> str:
    """The request's identity across Slack's redeliveries: its event id or trigger id."""
    if isinstance(platform_id, str) and platform_id:
        return platform_id if kind == "event" else f"{kind}:{platform_id}"
    return f"{kind}:unidentified:{uuid.uuid4().hex}"


def _channel_of(kind: str, body: Body) -> str:
    if kind == "command":
        return str(body.get("channel_id", ""))
    if kind == "shortcut":
        return str((body.get("channel") or {}).get("id", ""))
    event = body.get("event") or {}
    return str((event.get("item") or {}).get("channel") or event.get("channel") or "")


def _shortcut_origin(body: Body) -> Origin:
    return Origin(
        channel=(body.get("channel") or {}).get("id", ""),
        user=(body.get("user") or {}).get("id", ""),
        response_url=body.get("response_url"),
    )
