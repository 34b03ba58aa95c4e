"""The Slack handling process's work (see adapters/slack/handoff.py): what the acking
process passes on, handled by the same `SlackHandlers` as in one process, plus the
inbox sweep, which is this process's job since it knows what it holds."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import IO

from adapters.slack.adapter import retry_handlers, web_client
from adapters.slack.delivery import Delivery
from adapters.slack.handlers import PLATFORM, SlackHandlers
from adapters.slack.handoff import ToParent, item_from_line
from adapters.slack.platform import DisplayNames
from adapters.slack.settings import SlackSettings
from adapters.slack.workers import InboxSweeper, Lanes
from bot.ports import Inbox, InboxItem
from bot.service import IncidentBot

log = logging.getLogger(__name__)


class DoneInParent(Inbox):
    """The child's inbox: it claims and renews items itself (a sweep every few seconds),
    but leaves deleting handled ones to the parent. On SQLite the parent's inserts (the
    acks) and these deletions would meet on the inbox file's one write lock across two
    processes, where SQLite makes the waiting one sleep 1, 2, 5, 10 ms … between tries;
    within the parent, writers queue on a lock instead. (PostgreSQL locks rows, so
    there the child deletes them itself, sparing the acking process the work.)"""

    def __init__(self, inbox: Inbox, parent: ToParent) -> None:
        self._inbox = inbox
        self._parent = parent

    def put(
        self, *, platform: str, key: str, payload: str, received_at: datetime, claimant: str
    ) -> InboxItem | None:
        raise NotImplementedError("the handling process stores nothing: its parent acks")

    def claim_abandoned(
        self, *, platform: str, claimant: str, now: datetime, claimed_before: datetime, limit: int
    ) -> list[InboxItem]:
        return self._inbox.claim_abandoned(
            platform=platform, claimant=claimant, now=now, claimed_before=claimed_before,
            limit=limit,
        )

    def renew(self, item_ids: Collection[int], *, claimant: str, now: datetime) -> None:
        self._inbox.renew(item_ids, claimant=claimant, now=now)

    def done(self, item_id: int) -> None:
        self._parent.done(item_id)


def handle_for_parent(
    *,
    bot: IncidentBot,
    settings: SlackSettings,
    inbox: Inbox,
    retry_after: timedelta,
    requests: IO[bytes],
    parent: ToParent,
    done_in_parent: bool,
) -> None:
    """Handles what arrives on `requests` until it ends (the parent stopped or died).
    `done_in_parent`: handled items are deleted by the parent (see `DoneInParent`)."""
    first = requests.readline()
    if not first:
        return  # the parent was gone before it said anything
    hello = json.loads(first)["hello"]
    if done_in_parent:
        inbox = DoneInParent(inbox, parent)
    client = web_client(settings)
    names = DisplayNames(client)
    lanes = Lanes()
    handlers = SlackHandlers(
        bot=bot,
        client=client,
        names=names,
        delivery=Delivery(client=client, names=names, retry_handlers=retry_handlers()),
        lanes=lanes,
        bot_user=hello.get("bot_user"),
        inbox=inbox,
        claimant=str(hello["claimant"]),
        finished=parent.finished,
    )
    sweeper = InboxSweeper(
        inbox=inbox,
        platform=PLATFORM,
        claimant=str(hello["claimant"]),
        retry_after=retry_after,
        take_up=handlers.queue,
        in_hand=handlers.in_hand,
    )
    sweeper.start()
    try:
        for line in requests:
            if b"\t" in line:  # an item (`item_line`)
                handlers.queue(item_from_line(line))
                continue
            message = json.loads(line)
            if "renamed" in message:
                workspace, user, name = message["renamed"]
                handlers.store_new_name(str(workspace), str(user), str(name))
    finally:
        sweeper.stop()
        lanes.shutdown()  # the event in hand is finished; the rest stays in the inbox
        parent.close()  # says the last of it
