"""The console chat: reads lines in the transcript format, hands them to the core as
neutral events, and prints the bot's replies as `[STAMP] #channel bot: TEXT`.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from adapters.console.lines import HANDLE, LineError, Post, React, is_comment, parse_line
from bot.clock import ManualClock, SystemClock
from bot.events import CommandReceived, InboundEvent, MessageTagged, MessageUntagged
from bot.mentions import literal
from bot.ports import ChannelLink, ChannelRef
from bot.replies import FileUpload, Message, Reaction, ReactionRemoved, Reply
from bot.service import IncidentBot

WORKSPACE = "console"
START_CHANNEL = "general"
COMMAND = re.compile(r"^[/!]incident(?:\s+(?P<rest>.*))?$", re.IGNORECASE | re.DOTALL)
DRAFT_PREVIEW_LINES = 12
_MENTION = re.compile(rf"^@({HANDLE})$")
# The clock starts before any plausible transcript; the first stamp sets it.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ConsolePlatform:
    """The console as a chat platform: channels are names, people are handles."""

    name = "console"
    command_prefix = "/incident"

    def __init__(self) -> None:
        self.opened: list[ChannelRef] = []

    def open_incident_channel(
        self, *, name: str, topic: str, invite: Sequence[str]
    ) -> ChannelRef:
        channel = ChannelRef(id=name, name=name)
        self.opened.append(channel)
        return channel

    def invite_to_channel(self, channel: ChannelRef, users: Sequence[str]) -> None:
        """Everyone in the console can post in every channel: nobody needs inviting."""

    def display_name(self, user: str) -> str:
        return user

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, token: str) -> str | None:
        match = _MENTION.match(token)
        return match.group(1) if match else None

    def channel_link(self, *, workspace: str, channel_id: str) -> ChannelLink | None:
        return None  # a terminal's channels leave nothing a reader could open later


@dataclass(frozen=True)
class PostedMessage:
    number: int
    user: str
    text: str
    posted_at: datetime
    ref: str


@dataclass
class ChannelLog:
    messages: list[PostedMessage] = field(default_factory=list)


class Console:
    def __init__(
        self,
        *,
        bot: IncidentBot,
        clock: ManualClock,
        zone: ZoneInfo,
        out: TextIO,
        err: TextIO,
        drafts_dir: Path,
        follow_system_clock: bool = False,
        default_user: str | None = None,
    ) -> None:
        self._bot = bot
        self._clock = clock
        self._zone = zone
        self._out = out
        self._err = err
        self._drafts_dir = drafts_dir
        self._follow_system_clock = follow_system_clock
        self._default_user = default_user
        self._platform = ConsolePlatform()
        self._channels: dict[str, ChannelLog] = {}
        self._current = START_CHANNEL
        self._last_printed_day: date | None = None
        # Message refs are unique per console run, so a later run on the same
        # database never mistakes its message 5 for an earlier run's message 5.
        self._run = uuid.uuid4().hex[:8]
        self.errors = 0
        self._printing = threading.Lock()

    @property
    def current_channel(self) -> str:
        return self._current

    # -- input ---------------------------------------------------------------------------

    def play(self, lines: Iterable[str]) -> int:
        """Plays a transcript; returns how many lines could not be read."""
        for number, raw in enumerate(lines, start=1):
            self.feed(raw, number)
        return self.errors

    def feed(self, raw: str, line_number: int | None = None) -> None:
        if is_comment(raw):
            return
        try:
            line = parse_line(raw, default_user=self._default_user)
        except LineError as problem:
            self._problem(line_number, str(problem))
            return
        if self._follow_system_clock:
            self._clock.advance_to(SystemClock().now())
        if line.stamp is not None:
            local_now = self._local(self._clock.now()) if self._started else None
            today = local_now.date() if local_now else self._local(SystemClock().now()).date()
            target = line.stamp.moment(today=today, zone=self._zone)
            if self._started and target < self._clock.now():
                self._warn(
                    line_number,
                    f"{self._stamp(target, full=True)} is before the clock "
                    f"({self._stamp(self._clock.now(), full=True)}); the clock does not go "
                    "backwards, so this line happens at the clock's time",
                )
            self._clock.advance_to(target)
        elif not self._started:
            self._clock.advance_to(SystemClock().now())
        # Whatever fell due by the new clock time goes out first, in order: a bare
        # stamp delivers it, and so does any later line before it is handled. The bot
        # knows when the next reminder is due, so a line before then costs no sweep.
        if self._bot.reminders_may_be_due(self._clock.now()):
            self.deliver_due_reminders()
        if line.action is None:
            return
        channel = line.channel or self._current
        self._current = channel
        if isinstance(line.action, Post):
            self._post(channel, line.action, line_number)
        else:
            self._react(channel, line.action, line_number)

    def deliver_due_reminders(self) -> None:
        """Posts every reminder due by the clock's time, as the bot, in its channel."""
        self._bot.deliver_due_reminders(
            {self._platform.name: _ConsoleOutlet(self)}, claimant=f"console-{self._run}"
        )

    @property
    def _started(self) -> bool:
        return self._clock.now() > _EPOCH

    def _post(self, channel: str, post: Post, line_number: int | None) -> None:
        log = self._channels.setdefault(channel, ChannelLog())
        now = self._clock.now()
        message = PostedMessage(
            number=len(log.messages) + 1,
            user=post.user,
            text=post.text,
            posted_at=now,
            ref=f"{self._run}/{channel}/{len(log.messages) + 1}",
        )
        log.messages.append(message)
        self._print(channel, f"#{message.number} {post.user}", post.text)
        command = COMMAND.match(post.text)
        if command is None:
            return
        opened_before = len(self._platform.opened)
        replies = self._handle(
            CommandReceived(
                workspace=WORKSPACE,
                channel=channel,
                user=post.user,
                # Handles are the console's names, so `@li` stays as typed; a typed
                # `{@…}` is text, as on every platform.
                text=literal((command.group("rest") or "").strip()),
                posted_at=now,
                message_ref=message.ref,
            ),
            line_number,
        )
        self._show(replies)
        if len(self._platform.opened) > opened_before:
            # `start` moves the speaker into the new incident's channel.
            self._current = self._platform.opened[-1].id

    def _react(self, channel: str, react: React, line_number: int | None) -> None:
        log = self._channels.get(channel, ChannelLog())
        if not log.messages:
            self._problem(line_number, f"#{channel} has no message to react to yet")
            return
        if react.message is None:
            message = log.messages[-1]
        elif 1 <= react.message <= len(log.messages):
            message = log.messages[react.message - 1]
        else:
            self._problem(
                line_number,
                f"#{channel} has no message {react.message} (it has 1 to {len(log.messages)})",
            )
            return
        sign = "+" if react.add else "-"
        shown = f":{react.emoji}:" if react.emoji.isascii() else react.emoji
        self._print(channel, react.user, f"{sign}{shown} #{message.number}")
        if not self._bot.settings.tag_emoji.matches(react.emoji):
            return
        event: MessageTagged | MessageUntagged
        if react.add:
            event = MessageTagged(
                workspace=WORKSPACE,
                channel=channel,
                user=react.user,
                message_ref=message.ref,
                author=message.user,
                text=literal(message.text),
                posted_at=message.posted_at,
            )
        else:
            event = MessageUntagged(
                workspace=WORKSPACE, channel=channel, user=react.user, message_ref=message.ref
            )
        self._show(self._handle(event, line_number))

    def _handle(self, event: InboundEvent, line_number: int | None) -> list[Reply]:
        """The core's replies; a failure of the core is one line on stderr and a short
        reply, never a traceback in the chat."""
        try:
            return self._bot.handle(event, platform=self._platform)
        except Exception as problem:
            self._problem(
                line_number, f"the bot failed on this line ({type(problem).__name__}: {problem})"
            )
            return [
                Message(
                    channel=event.channel,
                    text="Something went wrong on the bot's side, so nothing was recorded.",
                    is_error=True,
                )
            ]

    # -- output --------------------------------------------------------------------------

    def _show(self, replies: list[Reply]) -> None:
        for reply in replies:
            if isinstance(reply, Message):
                self._print(reply.channel, "bot", reply.text)
            elif isinstance(reply, Reaction):
                number = reply.message_ref.rsplit("/", 1)[-1]
                self._print(reply.channel, "bot", f"✅ #{number} is on the timeline")
            elif isinstance(reply, ReactionRemoved):
                number = reply.message_ref.rsplit("/", 1)[-1]
                self._print(reply.channel, "bot", f"✅ taken off #{number}")
            elif isinstance(reply, FileUpload):
                self._print(reply.channel, "bot", self._save(reply))

    def _save(self, upload: FileUpload) -> str:
        self._drafts_dir.mkdir(parents=True, exist_ok=True)
        path = self._drafts_dir / upload.filename
        path.write_bytes(upload.content)
        if not upload.media_type.startswith("text/") or upload.media_type.startswith("text/html"):
            # A Word file is binary and a page's first lines are its styles: the path is
            # what a person needs, not the bytes.
            return f"{upload.comment}\nWrote {path} ({len(upload.content)} bytes)."
        preview = upload.content.decode("utf-8", "replace").splitlines()[:DRAFT_PREVIEW_LINES]
        lines = [upload.comment, f"Wrote {path}:"] + [f"| {line}" for line in preview]
        return "\n".join(lines)

    def _print(self, channel: str, who: str, text: str, at: datetime | None = None) -> None:
        first, *rest = text.split("\n")
        with self._printing:
            stamp = self._stamp(at or self._clock.now())
            self._out.write(f"[{stamp}] #{channel} {who}: {first}\n")
            for line in rest:
                self._out.write(f"    {line}\n")
            self._out.flush()

    def alert_outlet(self) -> ConsoleAlertOutlet:
        """The console as the alerts' outlet, as Slack's and Matrix's adapters offer one."""
        return ConsoleAlertOutlet(self)

    def show_arrived(self, replies: Sequence[Reply]) -> None:
        """Replies to something that came from outside the console (an alert), from
        any thread, stamped with the system's time: the transcript's clock stays put."""
        now = SystemClock().now()
        for reply in replies:
            if isinstance(reply, Message):
                self._print(reply.channel, "bot", reply.text, at=now)

    def _problem(self, line_number: int | None, text: str) -> None:
        self.errors += 1
        self._warn(line_number, text)

    def _warn(self, line_number: int | None, text: str) -> None:
        where = f"line {line_number}: " if line_number is not None else ""
        self._err.write(f"console: {where}{text}\n")
        self._err.flush()

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self._zone)

    def _stamp(self, moment: datetime, *, full: bool = False) -> str:
        local = self._local(moment)
        clock = f"{local:%H:%M}" if local.second == 0 else f"{local:%H:%M:%S}"
        if full or local.date() != self._last_printed_day:
            if not full:
                self._last_printed_day = local.date()
            return f"{local:%Y-%m-%d} {clock}"
        return clock


class _ConsoleOutlet:
    """Reminders out to the console: printed like any other bot reply."""

    command_prefix = ConsolePlatform.command_prefix

    def __init__(self, console: Console) -> None:
        self._console = console

    def mention(self, user: str) -> str:
        return f"@{user}"

    def deliver(self, replies: Sequence[Reply]) -> None:
        self._console._show(list(replies))


class ConsoleAlertOutlet:
    """Alerts out to the console: its platform to open channels with, and its output."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self.platform = ConsolePlatform()

    def deliver(self, replies: Sequence[Reply]) -> None:
        self._console.show_arrived(replies)

    def standing_by(self) -> bool:
        return False  # one console, one process


def new_console_clock() -> ManualClock:
    return ManualClock(_EPOCH)
