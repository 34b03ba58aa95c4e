"""The service layer: one inbound chat event in, state changed through a unit of work,
platform-neutral replies out. Every adapter drives the bot through `IncidentBot.handle`.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import commands as c
from bot import limits, listings
from bot import milestones as key_times
from bot.domain import (
    STATUS_MILESTONES,
    EntryKind,
    Incident,
    IncidentError,
    MilestoneKind,
    Role,
    slugify,
)
from bot.drafts.links import NO_TICKET_PATTERNS, LinkRules
from bot.drafts.render import Draft, render
from bot.drafts.templates import Template, TemplateError, TemplateRegistry, TemplateSection
from bot.drafts.view import build_view
from bot.emoji import TagEmoji
from bot.events import (
    CommandReceived,
    InboundEvent,
    MessageDeleted,
    MessageEdited,
    MessageTagged,
    MessageUntagged,
)
from bot.mentions import parse_reference, resolve
from bot.people import clean_name, people_of
from bot.ports import (
    ChannelRef,
    ChatPlatform,
    Clock,
    ConcurrentChange,
    ReminderOutlet,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bot.reminder_delivery import (
    DeliveryReport,
    ReminderDelivery,
    add_new,
    empty_required,
    schedule_of,
)
from bot.reminders import (
    IncidentReminders,
    ReminderRules,
    format_duration,
    reconcile,
    sections_matter,
    snooze,
)
from bot.replies import FileUpload, Message, Reaction, ReactionRemoved, Reply
from bot.summary import IncidentSummary
from bot.telemetry import NoTelemetry, Telemetry, event_kind
from bot.timefmt import format_moment, needs_dates, resolve_when, zone_label


@dataclass(frozen=True)
class CoreSettings:
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    default_template: str = "standard"
    declarer_is_commander: bool = True
    tag_emoji: TagEmoji = field(default_factory=TagEmoji)
    reminders: ReminderRules = field(default_factory=ReminderRules)
    # Ticket numbers written without a link (`WR#404019`), for a report's references.
    links: LinkRules = NO_TICKET_PATTERNS


def _keeps_answer(command: c.Command | c.ParseError) -> bool:
    """A command that changed something: its answer is kept until it was sent."""
    return not isinstance(command, (c.ParseError, *c.READING_COMMANDS))


def _answer_json(replies: list[Reply]) -> str | None:
    """The messages among a command's replies, as kept with its event; None if none."""
    messages = [
        {"channel": reply.channel, "text": reply.text, "is_error": reply.is_error}
        for reply in replies
        if isinstance(reply, Message)
    ]
    return json.dumps(messages, separators=(",", ":")) if messages else None


def _answer_from_json(answer: str | None) -> list[Reply]:
    if answer is None:
        return []
    return [
        Message(channel=str(m["channel"]), text=str(m["text"]), is_error=bool(m["is_error"]))
        for m in json.loads(answer)
    ]


_OPENING = "(opening) "


def _opening(event: CommandReceived, number: int | None) -> str:
    """The channel id of an incident stored by `event` whose channel is not yet open:
    unique like a channel id, and never one. Made of the event's id when it has one, so
    that a redelivery of the event finds the incident; else of the incident's number,
    unique in its workspace."""
    if event.event_id is not None:
        return f"{_OPENING}{event.event_id}"
    return f"{_OPENING}{event.workspace} {number}"


def awaits_its_channel(incident: Incident) -> bool:
    """Whether the incident was stored and its channel never recorded (the process
    declaring it died in between)."""
    return incident.channel_id.startswith(_OPENING)


@dataclass(frozen=True)
class _Context:
    """One command being handled: who, where, when, and through which platform."""

    uow: UnitOfWork
    event: CommandReceived
    platform: ChatPlatform
    now: datetime
    # What to do once the unit of work is committed (invite people into a new channel).
    after_commit: list[Callable[[], list[Reply]]] = field(default_factory=list)

    @property
    def user(self) -> str:
        return self.event.user

    @property
    def at(self) -> datetime:
        return self.event.posted_at

    def say(self, text: str, channel: str | None = None) -> Message:
        return Message(channel=channel or self.event.channel, text=text)

    def who(self, user: str) -> str:
        return self.platform.mention(user)

    def resolve_user(self, ref: c.UserRef) -> str:
        return self.user if isinstance(ref, c.Me) else ref


class IncidentBot:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        settings: CoreSettings,
        templates: TemplateRegistry,
        sleep: Callable[[float], None] = time.sleep,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        self._uow = uow
        self._clock = clock
        self._settings = settings
        self._templates = templates
        self._sleep = sleep
        # When the earliest pending reminder is due, as far as this process knows: the
        # last sweep's answer, moved earlier by every reminder armed since. `_UNKNOWN`
        # until the first sweep. Lets a driver that sweeps as its clock moves (the
        # console) skip the sweep's queries while nothing can be due.
        self._next_due: datetime | object | None = _UNKNOWN
        self._next_due_lock = threading.Lock()

    @property
    def settings(self) -> CoreSettings:
        return self._settings

    @property
    def templates(self) -> TemplateRegistry:
        return self._templates

    @property
    def telemetry(self) -> Telemetry:
        """Where the adapters report what only they can measure (acks, sync lag)."""
        return self._telemetry

    # -- the entry point ---------------------------------------------------------------

    def keeps_answer(self, event: CommandReceived, *, platform: ChatPlatform) -> bool:
        """Whether the core may have kept the answer to this command until `answered` is
        called: a command that changes something. One that only reads or does not parse
        keeps none, so an adapter need not say its answer was sent (a command refused as
        it runs keeps none either, but that shows only then)."""
        return event.event_id is not None and _keeps_answer(self._parse(event, platform))

    def answered(self, *, platform: str, event_id: str) -> None:
        """The answer to a command was sent: a redelivery of the command (a Matrix sync
        after a restart, which repeats the events after the last saved token) does not
        send it again."""
        with self._uow() as uow:
            uow.events.keep_answer(platform, event_id, None)
            uow.commit()

    def handle(self, event: InboundEvent, *, platform: ChatPlatform) -> list[Reply]:
        """Applies one event exactly once and returns what the bot says about it."""
        started = time.perf_counter()
        try:
            return self._handle_with_retries(_without_control_characters(event), platform)
        finally:
            self._telemetry.event_handled(
                platform=platform.name,
                kind=event_kind(event),
                seconds=time.perf_counter() - started,
            )

    def _handle_with_retries(self, event: InboundEvent, platform: ChatPlatform) -> list[Reply]:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                replies = self._handle_once(event, platform)
                return [_with_names(reply, platform.display_name) for reply in replies]
            except ConcurrentChange:
                # Another process stored a conflicting change (two `start`s took the
                # same number, a deadlock between two writers); nothing of ours was
                # kept, so handle it again afresh, after a pause that grows and is
                # spread at random so that the racers do not meet again.
                if attempt == _ATTEMPTS:
                    raise
                self._sleep(_backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _handle_once(self, event: InboundEvent, platform: ChatPlatform) -> list[Reply]:
        now = self._clock.now()
        try:
            after_commit: list[Callable[[], list[Reply]]] = []
            with self._uow() as uow:
                if self._first_delivery(uow, event, platform, now):
                    replies = self._dispatch(uow, event, platform, now, after_commit)
                else:
                    # Handled before: a redelivery changes nothing, but what the first
                    # handling left undone when its process died is finished.
                    replies = self._redelivered(uow, event, platform, now, after_commit)
                    if not replies:
                        return []
                uow.commit()
            for action in after_commit:
                replies += action()
            return replies
        except IncidentError as problem:
            # Nothing of the failed command is kept, but the event still counts as
            # handled, so a redelivery does not repeat the error.
            with self._uow() as uow:
                self._first_delivery(uow, event, platform, now)
                uow.commit()
            return [_error(event.channel, problem.message, problem.usage, platform)]

    @staticmethod
    def _first_delivery(
        uow: UnitOfWork, event: InboundEvent, platform: ChatPlatform, now: datetime
    ) -> bool:
        if event.event_id is None:
            return True
        return uow.events.record(platform.name, event.event_id, now)

    def _dispatch(
        self,
        uow: UnitOfWork,
        event: InboundEvent,
        platform: ChatPlatform,
        now: datetime,
        after_commit: list[Callable[[], list[Reply]]],
    ) -> list[Reply]:
        limits.check_person(event.user)
        if isinstance(event, CommandReceived):
            return self._command(_Context(uow, event, platform, now, after_commit))
        incident = uow.incidents.get_by_channel(platform.name, event.channel)
        if incident is None:
            return []  # reactions and edits outside incident channels are ordinary chat
        if isinstance(event, MessageTagged) and (
            incident.entry_for_message(event.message_ref) is None
        ):  # a new entry, not another 📌 on one already there
            limits.check_person(event.author)
            limits.check_timeline_room(
                uow.incidents.entry_count(incident), incident.number, automatic=False
            )
        before = incident.timeline_changes
        replies = self._message_event(incident, event, now)
        if incident.timeline_changes != before:
            self._reminders_follow(uow, incident, now, activity=True)
        return replies

    @staticmethod
    def _message_event(
        incident: Incident,
        event: MessageTagged | MessageUntagged | MessageEdited | MessageDeleted,
        now: datetime,
    ) -> list[Reply]:
        if isinstance(event, MessageTagged):
            outcome = incident.tag_message(
                source_ref=event.message_ref,
                author=event.author,
                text=event.text,
                posted_at=event.posted_at,
                tagger=event.user,
                now=now,
            )
            if not outcome.created:
                return []
            return [Reaction(channel=event.channel, message_ref=event.message_ref)]
        if isinstance(event, MessageUntagged):
            if incident.untag_message(source_ref=event.message_ref, tagger=event.user, now=now):
                entry = incident.entry_for_message(event.message_ref)
                assert entry is not None
                return [
                    # The ✅ said "on the timeline"; with the last tag gone, so is it.
                    ReactionRemoved(channel=event.channel, message_ref=event.message_ref),
                    Message(
                        channel=event.channel,
                        text=f"Took #{entry.seq} off the timeline: {listings.quote(entry.text)}",
                    ),
                ]
            return []
        if isinstance(event, MessageEdited):
            incident.message_edited(source_ref=event.message_ref, text=event.text, now=now)
            return []
        incident.message_deleted(source_ref=event.message_ref, now=now)
        return []

    # -- commands ----------------------------------------------------------------------

    def _parse(self, event: CommandReceived, platform: ChatPlatform) -> c.Command | c.ParseError:
        platform_mention = platform.parse_mention

        def mention(token: str) -> str | None:
            # A reference the adapter wrote for a mention (`{@U…}`) names the person on
            # every platform, as does the platform's own form.
            return parse_reference(token) or platform_mention(token)

        return c.parse(event.text, mention=mention, fields=self._templates.field_ids())

    def _command(self, ctx: _Context) -> list[Reply]:
        command = self._parse(ctx.event, ctx.platform)
        replies = self._command_replies(ctx, command)
        if ctx.event.event_id is not None and _keeps_answer(command):
            # Kept with the event, committed with what the command changed: if the
            # process dies before the answer is sent, the redelivery sends it.
            answer = _answer_json(replies)
            if answer is not None:
                ctx.uow.events.keep_answer(ctx.platform.name, ctx.event.event_id, answer)
        return replies

    def _command_replies(self, ctx: _Context, command: c.Command | c.ParseError) -> list[Reply]:
        if isinstance(command, c.ParseError):
            return [_error(ctx.event.channel, command.message, command.usage, ctx.platform)]
        if isinstance(command, c.Start):
            return self._start(ctx, command)
        if isinstance(command, c.Help):
            return [ctx.say(listings.help_text(command.topic, ctx.platform.command_prefix))]
        incident = ctx.uow.incidents.get_by_channel(ctx.platform.name, ctx.event.channel)
        if isinstance(command, c.ListTemplates):
            return [ctx.say(listings.templates_text(self._templates, incident))]
        if incident is None:
            name = ctx.event.text.split()[0].lower()
            raise IncidentError(
                f"`{name}` works in an incident's channel, and this channel has no incident. "
                f"Run it in the incident's channel, or declare one with "
                f"`{ctx.platform.command_prefix} start TITLE`.",
                c.usage_of(name),
            )
        if isinstance(command, c.RemindCommand):
            return self._remind(ctx, incident, command)
        changes_before = incident.timeline_changes
        inputs_before = self._reminder_inputs(incident)
        replies = self._incident_command(ctx, incident, command)
        activity = incident.timeline_changes != changes_before
        # The schedule is rebuilt only when what it depends on changed: a listing, an
        # action item or a section nobody requires leaves it as it is.
        if activity or self._reminder_inputs(incident) != inputs_before:
            self._reminders_follow(ctx.uow, incident, ctx.now, activity=activity)
        return replies

    def _incident_command(
        self, ctx: _Context, incident: Incident, command: c.Command
    ) -> list[Reply]:
        _check_room(ctx.uow, incident, command)
        match command:
            case c.AssignRole(role=role, user=ref):
                user = ctx.resolve_user(ref)
                what = incident.assign_role(role, user, by=ctx.user, at=ctx.at, now=ctx.now)
                if what == "handover":
                    earlier = [a for a in incident.roles if a.role is role][-2].user
                    return [
                        ctx.say(
                            f"{role.label} handed over from {ctx.who(earlier)} to {ctx.who(user)}."
                        )
                    ]
                return [ctx.say(f"{ctx.who(user)} is now {role.label}.")]
            case c.ListRoles():
                return [ctx.say(listings.roles_text(ctx.platform, incident))]
            case c.SetSeverity(level=level):
                incident.set_severity(level, by=ctx.user, at=ctx.at, now=ctx.now)
                return [ctx.say(f"Severity set to SEV{level}.")]
            case c.SetStatus(status=status):
                kind = STATUS_MILESTONES.get(status)
                before = incident.milestone(kind) if kind else None
                incident.set_status(status, by=ctx.user, at=ctx.at, now=ctx.now)
                noted = key_times.status_note(incident, status, before)
                return [ctx.say(f"Status: {status.value}.{noted}")]
            case c.AddNote(text=text):
                entry = incident.add_note(
                    text, author=ctx.user, at=ctx.at, now=ctx.now, source_ref=ctx.event.message_ref
                )
                noted_at = listings.local_time(incident, ctx.at)
                return [ctx.say(f"Noted on the timeline at {noted_at} (#{entry.seq}).")]
            case c.AddBackdated(when=when, text=text):
                occurred_at = resolve_when(when, zone=listings.zone_of(incident), posted_at=ctx.at)
                entry = incident.add_backdated(
                    text, author=ctx.user, occurred_at=occurred_at, now=ctx.now
                )
                with_date = needs_dates([occurred_at, ctx.at], listings.zone_of(incident))
                added_at = listings.local_time(incident, occurred_at, with_date)
                zone = zone_label(listings.zone_of(incident), occurred_at)
                return [ctx.say(f"Added to the timeline at {added_at} {zone} (#{entry.seq}).")]
            case c.ShowTimeline():
                return [ctx.say(listings.timeline_text(ctx.platform, incident))]
            case c.RemoveEntry(seq=seq):
                was_tagged = incident.entry(seq).kind is EntryKind.TAGGED
                entry = incident.remove_entry(seq, now=ctx.now)
                removed: list[Reply] = [
                    ctx.say(f"Removed #{seq} from the timeline: {listings.quote(entry.text)}")
                ]
                if was_tagged and entry.source_ref:
                    removed.insert(
                        0,
                        ReactionRemoved(channel=incident.channel_id, message_ref=entry.source_ref),
                    )
                return removed
            case c.EditEntry(seq=seq, text=text):
                incident.edit_entry(seq, text, now=ctx.now)
                return [ctx.say(f"Timeline entry #{seq} now reads: {listings.quote(text)}")]
            case c.SetSection(section_id=section_id, text=text):
                incident.set_section(section_id, text, by=ctx.user, now=ctx.now)
                return [
                    ctx.say(listings.section_saved(self._templates, incident, section_id, "saved"))
                ]
            case c.AppendSection(section_id=section_id, text=text):
                current = incident.section_text(section_id)
                limits.check_section_text(
                    section_id, f"{current}\n\n{text}" if current else text, c.usage_of("append")
                )
                incident.append_section(section_id, text, by=ctx.user, now=ctx.now)
                return [
                    ctx.say(
                        listings.section_saved(self._templates, incident, section_id, "extended")
                    )
                ]
            case c.ClearSection(section_id=section_id):
                if not incident.clear_section(section_id):
                    raise IncidentError(f"Section `{section_id}` is already empty.")
                return [ctx.say(f"Section `{section_id}` cleared.")]
            case c.ListSections():
                return [
                    ctx.say(
                        listings.sections_text(
                            ctx.platform,
                            incident,
                            self._template(incident.template),
                            tag_emoji=self._settings.tag_emoji.char,
                        )
                    )
                ]
            case c.AddAction(text=text, owner=owner_ref):
                owner = ctx.resolve_user(owner_ref) if owner_ref is not None else None
                action = incident.add_action(text, owner=owner, by=ctx.user, now=ctx.now)
                owned = f" (owner {ctx.who(owner)})" if owner else ""
                return [ctx.say(f"Action item #{action.seq}: {text}{owned}.")]
            case c.ListActions():
                return [ctx.say(listings.actions_text(ctx.platform, incident))]
            case c.CompleteAction(seq=seq):
                action = incident.complete_action(seq, by=ctx.user, now=ctx.now)
                return [ctx.say(f"Action item #{seq} done: {action.text}")]
            case c.UseTemplate(name=name):
                template = self._template(name)
                incident.template = template.name
                return [ctx.say(f"Incident {incident.number} will use the `{name}` template.")]
            case c.Resolve():
                before = incident.milestone(MilestoneKind.RESOLVED)
                incident.resolve(by=ctx.user, at=ctx.at, now=ctx.now)
                resolved_at = listings.local_time(incident, ctx.at)
                noted = key_times.status_note(incident, incident.status, before)
                return [ctx.say(f"Incident {incident.number} resolved at {resolved_at}.{noted}")]
            case c.Close():
                closed_at = listings.local_time(incident, ctx.at)
                incident.close(by=ctx.user, at=ctx.at, now=ctx.now)
                closed = ctx.say(f"Incident {incident.number} closed at {closed_at}.")
                try:
                    template = self._template(incident.template)
                    draft = self.draft(incident, template, "md", ctx.platform, ctx.now)
                except IncidentError as problem:
                    # The incident closes all the same; only its draft is missing.
                    return [closed, ctx.say(problem.message)]
                return [closed, self._upload(ctx, incident, template, draft)]
            case c.Reopen():
                resolved = incident.milestone(MilestoneKind.RESOLVED)
                incident.reopen(by=ctx.user, at=ctx.at, now=ctx.now)
                cleared = (
                    f" The resolved milestone ({listings.local_time(incident, resolved)}) is "
                    "cleared; resolving again sets it."
                    if resolved is not None
                    else ""
                )
                return [
                    ctx.say(
                        f"Incident {incident.number} reopened: status investigating.{cleared}"
                    )
                ]
            case c.SetMilestone():
                said = key_times.set_milestone(
                    incident, command, by=ctx.user, at=ctx.at, now=ctx.now
                )
                return [ctx.say(said)]
            case c.ClearMilestone(kind=kind):
                return [ctx.say(key_times.clear_milestone(incident, kind))]
            case c.ListMilestones():
                return [ctx.say(key_times.milestones_text(ctx.platform, incident))]
            case c.SetField(field_id=field_id, text=text):
                incident.set_section(field_id, text, by=ctx.user, now=ctx.now)
                return [ctx.say(listings.field_saved(self._templates, incident, field_id))]
            case c.ClearField(field_id=field_id):
                if not incident.clear_section(field_id):
                    raise IncidentError(f"Field `{field_id}` is already empty.")
                return [ctx.say(f"Field `{field_id}` cleared.")]
            case c.Export(template=name, format=fmt):
                template = self._template(name or incident.template)
                chosen = fmt or "md"
                if chosen not in template.formats:
                    raise IncidentError(
                        f"The `{template.name}` template has no `{chosen}` format yet; it has "
                        f"{', '.join(template.formats)}.",
                        c.usage_of("export"),
                    )
                draft = self.draft(incident, template, chosen, ctx.platform, ctx.now)
                return [self._upload(ctx, incident, template, draft)]
        raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover

    def _start(self, ctx: _Context, command: c.Start) -> list[Reply]:
        return self._declare(ctx, command)[1]

    def declare_from_alerts(
        self,
        uow: UnitOfWork,
        platform: ChatPlatform,
        *,
        workspace: str,
        announce: str,
        title: str,
        severity: int | None,
        source: str,
        now: datetime,
        on_stored: Callable[[Incident], None] = lambda incident: None,
    ) -> tuple[Incident, list[Reply], list[Callable[[], list[Reply]]]]:
        """Declares an incident for an alert group, in `uow`, the way `start` does (the
        channel opened with nobody in it), announced in `announce`; nobody becomes its
        commander and nobody is invited. `on_stored` adds to the first commit (the
        incident stored, its channel not yet open). Returns the incident, the replies,
        and what to do once `uow` is committed."""
        event = CommandReceived(
            workspace=workspace, channel=announce, user=source, text="", posted_at=now
        )
        ctx = _Context(uow, event, platform, now)
        incident, replies = self._declare(
            ctx, c.Start(title=title), by_alerts=True, severity=severity, on_stored=on_stored
        )
        return incident, replies, ctx.after_commit

    def open_alerts_channel(
        self,
        uow: UnitOfWork,
        platform: ChatPlatform,
        incident: Incident,
        *,
        announce: str,
        source: str,
        now: datetime,
    ) -> tuple[list[Reply], list[Callable[[], list[Reply]]]]:
        """Opens the channel of an incident `declare_from_alerts` stored and whose
        channel was never recorded (`awaits_its_channel`: the process died in between),
        as that declaration would have; in `uow`, uncommitted. Returns the replies, and
        what to do once `uow` is committed."""
        event = CommandReceived(
            workspace=incident.workspace, channel=announce, user=source, text="",
            posted_at=incident.declared_at,
        )
        ctx = _Context(uow, event, platform, now)
        _log.warning(
            "incident %s was declared for alerts but its channel was never recorded (the "
            "bot stopped in between); opening it now",
            incident.number,
        )
        replies = self._open_channel(ctx, incident, c.Start(title=incident.title), by_alerts=True)
        return replies, ctx.after_commit

    def alert_changes_applied(self, uow: UnitOfWork, incident: Incident, now: datetime) -> None:
        """The reminders follow an alert's entries as they follow anyone's."""
        self._reminders_follow(uow, incident, now, activity=True)

    def _declare(
        self,
        ctx: _Context,
        command: c.Start,
        *,
        by_alerts: bool = False,
        severity: int | None = None,
        on_stored: Callable[[Incident], None] = lambda incident: None,
    ) -> tuple[Incident, list[Reply]]:
        """Declares an incident in three steps, so that a lost race opens no channel and
        nobody is in a channel the bot does not know as the incident's:

        1. the incident is stored (committed) with its number and no channel yet; a
           `start` elsewhere that took the number first makes this commit fail, and the
           event is handled again with the next number, before any channel exists;
        2. the channel is opened, with nobody invited; if that fails, the incident is
           deleted again (and the event un-recorded, so a redelivery starts afresh);
        3. the channel is recorded as the incident's (the event's own commit), and only
           then are the declarer and the invitees invited.

        A process that dies between steps 1 and 3 leaves the incident without a channel;
        the redelivered `start` (or the inbox handing it to another process) finds it by
        its placeholder and does steps 2 and 3 (`_resume_start`).
        """
        # The title names the channel and its topic on the platform, so people named in
        # it are written by name once, now.
        title = " ".join(resolve(command.title, ctx.platform.display_name).split())
        limits.check_title(title, c.usage_of("start"))  # names may have made it longer
        workspace = ctx.event.workspace
        number = ctx.uow.incidents.next_number(workspace)
        name = f"inc-{number}-{slugify(title)}"
        incident = Incident.declare(
            workspace=workspace,
            number=number,
            title=title,
            platform=ctx.platform.name,
            channel_id=_opening(ctx.event, number),
            channel_name=name,
            declared_by=ctx.user,
            declared_at=ctx.at,
            captured_at=ctx.now,
            template=self._settings.default_template,
            timezone=self._settings.timezone.key,
        )
        if severity is not None:
            incident.set_severity(severity, by=ctx.user, at=ctx.at, now=ctx.now)
        if self._settings.declarer_is_commander and not by_alerts:
            incident.assign_role(Role.COMMANDER, ctx.user, by=ctx.user, at=ctx.at, now=ctx.now)
        ctx.uow.incidents.add(incident)
        self._reminders_follow(ctx.uow, incident, ctx.now, activity=True)
        on_stored(incident)
        ctx.uow.commit()
        return incident, self._open_channel(ctx, incident, command, by_alerts=by_alerts)

    def _redelivered(
        self,
        uow: UnitOfWork,
        event: InboundEvent,
        platform: ChatPlatform,
        now: datetime,
        after_commit: list[Callable[[], list[Reply]]],
    ) -> list[Reply]:
        """What an event handled before still needs, when it is delivered again (the
        platform's redelivery, the inbox handing it on, a Matrix re-sync): a process
        that died after the commit and before its replies left them unsent.

        - A `start` stored without its channel: the channel is opened (`_resume_start`).
        - A 📌 whose message is on the timeline: the ✅ again. Adding one that is there
          already changes nothing on either platform.
        - A 📌 taken off whose entry went with it, and was not pinned again since: the ✅
          off again (taking off one that is gone is a no-op on both platforms). The
          "Took #N off" notice is not sent again: the ✅ is the state people read.
        - A command that changed something: the answer kept with it (`_command`), again.
          The process may also have died after sending it: at least once, not at most.

        Nothing for other events, nor for a command that only reads (asked again)."""
        if isinstance(event, (MessageTagged, MessageUntagged)) and event.event_id is not None:
            incident = uow.incidents.get_by_channel(platform.name, event.channel)
            entry = incident.entry_for_message(event.message_ref) if incident else None
            if entry is None or entry.kind is not EntryKind.TAGGED:
                return []
            if isinstance(event, MessageTagged):
                if entry.visible and entry.tagged_by:
                    return [Reaction(channel=event.channel, message_ref=event.message_ref)]
            elif not entry.visible:
                return [ReactionRemoved(channel=event.channel, message_ref=event.message_ref)]
            return []
        if not isinstance(event, CommandReceived) or event.event_id is None:
            return []
        resumed = self._resume_start(_Context(uow, event, platform, now, after_commit))
        if resumed:
            return resumed
        return _answer_from_json(uow.events.kept_answer(platform.name, event.event_id))

    def _resume_start(self, ctx: _Context) -> list[Reply]:
        """A `start` delivered again after its first handling stored the incident and
        died before its channel was recorded: opens the channel, records it and invites
        (steps 2 and 3 of `_declare`). Nothing for any other redelivered command."""
        incident = ctx.uow.incidents.get_by_channel(ctx.platform.name, _opening(ctx.event, None))
        if incident is None:
            return []
        _log.warning(
            "incident %s was stored but its channel was never recorded (the bot stopped "
            "in between); opening it now",
            incident.number,
        )
        command = self._parse(ctx.event, ctx.platform)
        if not isinstance(command, c.Start):  # pragma: no cover - it parsed as one before
            command = c.Start(title=incident.title)
        return self._open_channel(ctx, incident, command, by_alerts=False)

    def _open_channel(
        self, ctx: _Context, incident: Incident, command: c.Start, *, by_alerts: bool
    ) -> list[Reply]:
        """Steps 2 and 3 of `_declare`, for the stored `incident`."""
        number, title, name = incident.number, incident.title, incident.channel_name
        try:
            channel = ctx.platform.open_incident_channel(
                name=name, topic=f"Incident {number}: {title}", invite=[]
            )
        except BaseException:
            self._abandon_start(ctx, incident)
            raise
        incident.channel_id = channel.id
        incident.channel_name = channel.name
        people = list(dict.fromkeys([ctx.user, *command.invite]))
        if not by_alerts:  # an alert source is nobody to invite
            ctx.after_commit.append(lambda: self._invite(ctx, channel, people))
        prefix = ctx.platform.command_prefix
        commander = incident.holder(Role.COMMANDER)
        declarer = f"{ctx.user} alerts" if by_alerts else ctx.who(ctx.user)
        lines = [
            f"Incident {number}: {title}",
            f"Declared by {declarer} at {listings.local_time(incident, ctx.at)} "
            f"{zone_label(listings.zone_of(incident), ctx.at)}. Status: {incident.status.value}. "
            + (f"Severity: SEV{incident.severity}." if incident.severity else "Severity: not set."),
            f"Commander: {ctx.who(commander)}." if commander else "Commander: unassigned.",
            f"Assign roles with `{prefix} role ROLE @user`; set the severity with "
            f"`{prefix} severity 1..4`.",
            f"React with {self._settings.tag_emoji.char} to put a message on the timeline; "
            f"`{prefix} help` lists every command.",
        ]
        replies: list[Reply] = [ctx.say("\n".join(lines), channel=channel.id)]
        if channel.id != ctx.event.channel:
            replies.insert(
                0,
                ctx.say(
                    f"Incident {number} declared by {declarer}: {title}. "
                    f"Join #{channel.name}."
                ),
            )
        return replies

    @staticmethod
    def _abandon_start(ctx: _Context, incident: Incident) -> None:
        """Takes back step 1 of `_start` when its channel could not be opened."""
        ctx.uow.incidents.remove(incident)
        if ctx.event.event_id is not None:
            ctx.uow.events.forget(ctx.platform.name, ctx.event.event_id)
        ctx.uow.commit()

    @staticmethod
    def _invite(ctx: _Context, channel: ChannelRef, people: list[str]) -> list[Reply]:
        try:
            ctx.platform.invite_to_channel(channel, people)
        except Exception as problem:  # the incident and its channel stand; say who is missing
            _log.warning("inviting people into %s failed: %s", channel.name, problem)
            who = ", ".join(ctx.who(person) for person in people)
            return [
                ctx.say(
                    f"Could not invite {who} into #{channel.name}; join it, or invite them "
                    "there yourself.",
                )
            ]
        return []

    # -- reminders ---------------------------------------------------------------------

    @staticmethod
    def _schedule(uow: UnitOfWork, incident: Incident) -> IncidentReminders:
        return schedule_of(uow, incident)

    def _empty_required(self, incident: Incident) -> list[TemplateSection]:
        return empty_required(self._templates, incident)

    def _empty_sections_for_rules(self, incident: Incident) -> list[str]:
        """The empty required sections, where the rules look at them (after close)."""
        if not sections_matter(incident):
            return []
        return [section.id for section in self._empty_required(incident)]

    def _reminder_inputs(self, incident: Incident) -> tuple[object, ...]:
        """What `reconcile` reads of the incident besides the timeline's activity."""
        return (
            incident.status,
            incident.closed_at,
            incident.holder(Role.COMMANDER),
            incident.template,
            tuple(self._empty_sections_for_rules(incident)),
        )

    def _reminders_follow(
        self, uow: UnitOfWork, incident: Incident, now: datetime, *, activity: bool
    ) -> IncidentReminders:
        """Arms and cancels the incident's reminders after a change, in the same unit of
        work as the change itself."""
        schedule = self._schedule(uow, incident)
        reconcile(
            schedule,
            rules=self._settings.reminders,
            now=now,
            empty_sections=self._empty_sections_for_rules(incident),
            activity=activity,
        )
        self._add_new(uow, schedule)
        return schedule

    def _add_new(self, uow: UnitOfWork, schedule: IncidentReminders) -> None:
        armed = [reminder.due_at for reminder in schedule.new if reminder.is_pending]
        add_new(uow, schedule)
        if armed:
            self._armed_due(min(armed))

    # -- when reminders may be due -------------------------------------------------------

    def _armed_due(self, due: datetime) -> None:
        with self._next_due_lock:
            known = self._next_due
            if known is _UNKNOWN:
                return
            if known is None or (isinstance(known, datetime) and due < known):
                self._next_due = due

    def reminders_may_be_due(self, now: datetime) -> bool:
        """False when no reminder can be due by `now`: none was due at the last sweep's
        end, none armed since is. True before the first sweep.

        For a single process that sweeps as its clock moves (the console); several
        processes on one database arm reminders the others do not hear of, so
        `incident-bot run` sweeps on a timer instead.
        """
        with self._next_due_lock:
            known = self._next_due
        if known is _UNKNOWN:
            return True
        return isinstance(known, datetime) and known <= now

    def _remind(self, ctx: _Context, incident: Incident, command: c.RemindCommand) -> list[Reply]:
        prefix = ctx.platform.command_prefix
        if isinstance(command, c.ShowReminders):
            schedule = self._schedule(ctx.uow, incident)
            return [ctx.say(listings.reminders_text(ctx.platform, schedule, ctx.now))]
        if isinstance(command, c.RemindersOff):
            schedule = self._schedule(ctx.uow, incident)
            if schedule.control.off:
                raise IncidentError(
                    f"Reminders for incident {incident.number} are already off; "
                    f"`{prefix} remind on` turns them back on."
                )
            schedule.control.off = True
            self._reminders_follow(ctx.uow, incident, ctx.now, activity=False)
            return [
                ctx.say(
                    f"Reminders for incident {incident.number} are off. "
                    f"`{prefix} remind on` turns them back on."
                )
            ]
        if isinstance(command, c.RemindersOn):
            schedule = self._schedule(ctx.uow, incident)
            was_off = schedule.control.off
            schedule.control.off = False
            schedule.control.snoozed_until = None
            schedule = self._reminders_follow(ctx.uow, incident, ctx.now, activity=False)
            what = "are back on" if was_off else "were already on (any snooze is lifted)"
            return [
                ctx.say(
                    f"Reminders for incident {incident.number} {what}.\n"
                    + listings.reminders_text(ctx.platform, schedule, ctx.now)
                )
            ]
        until = ctx.now + command.duration
        schedule = self._schedule(ctx.uow, incident)
        snooze(schedule, until)
        when = listings.local_time(
            incident, until, with_date=needs_dates([ctx.now, until], listings.zone_of(incident))
        )
        still_off = (
            f" They are off as well; `{prefix} remind on` turns them back on."
            if schedule.control.off
            else ""
        )
        return [
            ctx.say(
                f"Reminders for incident {incident.number} snoozed for "
                f"{format_duration(command.duration)}, until {when} "
                f"{zone_label(listings.zone_of(incident), until)}.{still_off}"
            )
        ]

    def deliver_due_reminders(
        self, outlets: Mapping[str, ReminderOutlet], *, claimant: str, limit: int = 10_000
    ) -> DeliveryReport:
        """Delivers every reminder due by the clock's time on these platforms, exactly
        once (see `bot.reminder_delivery.ReminderDelivery.deliver_due`)."""
        sweep = ReminderDelivery(
            uow=self._uow,
            clock=self._clock,
            rules=self._settings.reminders,
            templates=self._templates,
        )
        with self._next_due_lock:
            # Whatever is armed while the sweep runs moves this earlier again.
            self._next_due = None
        try:
            report = sweep.deliver_due(outlets, claimant=claimant, limit=limit)
        except BaseException:
            with self._next_due_lock:
                self._next_due = _UNKNOWN
            raise
        if report.next_due is not None:
            self._armed_due(report.next_due)
        for platform, delivered in report.outcomes:
            self._telemetry.reminder_sent(platform=platform, delivered=delivered)
        return report

    # -- people ------------------------------------------------------------------------

    def remember_names(self, platform: str, workspace: str, names: Mapping[str, str]) -> int:
        """Stores display names an adapter learned (new or changed ones; the adapter keeps
        track of what it told), so renderings with no platform connection name people.
        Returns how many were written."""
        cleaned = {user: clean_name(name) for user, name in names.items() if user}
        cleaned = {user: name for user, name in cleaned.items() if name}
        if not cleaned:
            return 0
        with self._uow() as uow:
            written = uow.people.remember(platform, workspace, cleaned, self._clock.now())
            uow.commit()
        return written

    def rename_people(self, platform: str, workspace: str, names: Mapping[str, str]) -> int:
        """A platform says people changed their names (Slack's `user_change` comes for
        everyone in a workspace): the stored ones are updated, nobody is added."""
        cleaned = {user: clean_name(name) for user, name in names.items() if user}
        cleaned = {user: name for user, name in cleaned.items() if name}
        if not cleaned:
            return 0
        with self._uow() as uow:
            written = uow.people.rename(platform, workspace, cleaned, self._clock.now())
            uow.commit()
        return written

    def stored_names(self, incident: Incident) -> dict[str, str]:
        """The stored names of everyone the incident names (one lookup by key)."""
        with self._uow() as uow:
            return uow.people.names(incident.platform, incident.workspace, people_of(incident))

    # -- housekeeping ------------------------------------------------------------------

    def forget_processed_events(self, *, older_than: timedelta, batch: int = 1000) -> int:
        """Forgets the platform event ids recorded more than `older_than` ago, `batch`
        at a time, each batch in its own short transaction; returns how many.

        Several processes may run it at once: on PostgreSQL each takes rows the others
        have not locked (SKIP LOCKED), on SQLite they take turns.
        """
        before = self._clock.now() - older_than
        forgotten = 0
        while True:
            with self._uow() as uow:
                count = uow.events.prune(before=before, limit=batch)
                uow.commit()
            forgotten += count
            if count < batch:
                return forgotten

    # -- reading, for the command line ----------------------------------------------

    def find(self, number: int, workspace: str | None = None) -> Incident:
        """Incident `number`; the workspace may be left out when only one has that number."""
        with self._uow() as uow:
            found = list(uow.incidents.numbered(number, workspace))
        if not found:
            where = f" in workspace {workspace}" if workspace else ""
            raise IncidentError(f"There is no incident {number}{where}.")
        if len(found) > 1:
            spaces = ", ".join(incident.workspace for incident in found)
            raise IncidentError(
                f"Incident {number} exists in several workspaces ({spaces}); name one "
                "with --workspace."
            )
        return found[0]

    def incident_in_channel(self, platform: str, channel: str) -> Incident | None:
        """The incident whose channel this is, if any."""
        with self._uow() as uow:
            return uow.incidents.find_by_channel(platform, channel)

    def incident(self, workspace: str, number: int) -> Incident | None:
        """Incident `number` of `workspace`, or None."""
        with self._uow() as uow:
            return uow.incidents.get(workspace, number)

    def database_problem(self) -> str | None:
        """Why the database cannot serve the bot now, or None when it answers."""
        try:
            with self._uow() as uow:
                uow.incidents.next_number("")
        except Exception as problem:  # any failure is the answer, not a crash
            return f"the database does not answer ({type(problem).__name__})"
        return None

    def list_incidents(self, workspace: str | None = None) -> list[Incident]:
        """Every incident whole, timelines loaded: for lists and figures across
        incidents, `incident_summaries` reads a fraction of that."""
        with self._uow() as uow:
            return list(uow.incidents.list(workspace))

    def incident_summaries(self, workspace: str | None = None) -> list[IncidentSummary]:
        """Every incident as lists and figures see it (bot/summary.py), by workspace then
        number; no timeline is read."""
        with self._uow() as uow:
            return list(uow.incidents.summaries(workspace))

    def change_marker(self, workspace: str, number: int) -> Hashable | None:
        """A value that changes whenever anything a reader sees of the incident changes;
        None when there is no such incident. Cheap: for a page that polls."""
        with self._uow() as uow:
            return uow.incidents.change_marker(workspace, number)

    def names_of(self, platform: str, workspace: str, users: Collection[str]) -> dict[str, str]:
        """The stored names of these people (one lookup by key); unknown ones are left out."""
        with self._uow() as uow:
            return uow.people.names(platform, workspace, users)

    def describe(self, incident: Incident, platform: ChatPlatform) -> str:
        """A plain-text account of an incident: what `show N` prints."""
        zone = listings.zone_of(incident)
        ended = incident.ended_at()
        header = [
            f"Incident {incident.number}: {incident.title}",
            f"Workspace {incident.workspace} on {incident.platform}, #{incident.channel_name}",
            f"Status {incident.status.value}; severity "
            f"{'SEV' + str(incident.severity) if incident.severity else 'not set'}; "
            f"template {incident.template}",
            f"Declared {format_moment(incident.declared_at, zone, with_date=True)} "
            f"{zone_label(zone, incident.declared_at)} by {platform.mention(incident.declared_by)}"
            + (f"; ended {format_moment(ended, zone, with_date=True)}" if ended else ""),
        ]
        parts = [
            "\n".join(header),
            listings.roles_text(platform, incident),
            key_times.milestones_text(platform, incident),
            listings.timeline_text(platform, incident),
            listings.sections_text(
                platform,
                incident,
                self._template(incident.template),
                tag_emoji=self._settings.tag_emoji.char,
            ),
            listings.actions_text(platform, incident),
        ]
        return resolve("\n\n".join(parts), platform.display_name) + "\n"

    def export(
        self, incident: Incident, template_name: str | None, fmt: str, platform: ChatPlatform
    ) -> Draft:
        template = self._template(template_name or incident.template)
        if fmt not in template.formats:
            raise IncidentError(
                f"The `{template.name}` template has no `{fmt}` format yet; it has "
                f"{', '.join(template.formats)}."
            )
        return self.draft(incident, template, fmt, platform, self._clock.now())

    # -- drafts ------------------------------------------------------------------------

    def draft(
        self,
        incident: Incident,
        template: Template,
        fmt: str,
        platform: ChatPlatform,
        now: datetime,
    ) -> Draft:
        view = build_view(
            incident,
            template,
            zone=listings.zone_of(incident),
            name_of=platform.display_name,
            command_prefix=platform.command_prefix,
            now=now,
            link_rules=self._settings.links,
            chat_log=platform.channel_link(
                workspace=incident.workspace, channel_id=incident.channel_id
            ),
        )
        try:
            return render(view, template, self._templates, fmt)
        except TemplateError as problem:
            # Only a team's layout can fail here (the built-ins are tested); say which
            # file, and keep the incident as it is.
            raise IncidentError(
                f"The `{template.name}` template cannot be rendered as {fmt}: {problem}"
            ) from None
        except Exception as problem:
            # Nothing recorded should break a draft (the fuzzer in tests/drafts tries
            # hard); if something does, say which format failed and that the others
            # work, rather than "something went wrong". The log keeps the traceback.
            _log.exception(
                "rendering incident %s/%s as %s (%s) failed",
                incident.workspace, incident.number, fmt, template.name,
            )
            others = ", ".join(
                f"`{platform.command_prefix} export {other}`"
                for other in template.formats
                if other != fmt
            )
            raise IncidentError(
                f"The {fmt} draft of incident {incident.number} could not be made "
                f"({type(problem).__name__}); the bot's log says why. "
                + (f"The other formats still work: {others}." if others else "")
            ) from None

    def _upload(
        self, ctx: _Context, incident: Incident, template: Template, draft: Draft
    ) -> FileUpload:
        empty = [
            section.heading
            for section in template.sections
            if section.required
            and not section.generated
            and not (incident.section_text(section.id) or "").strip()
        ]
        still = (
            f" Still to be written: {', '.join(empty)}."
            if empty
            else " Every required section is written."
        )
        return FileUpload(
            channel=ctx.event.channel,
            filename=draft.filename,
            content=draft.content,
            media_type=draft.media_type,
            comment=f"Postmortem draft for incident {incident.number} "
            f"(template `{template.name}`, {draft.format}).{still}",
        )

    def _template(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:
            raise IncidentError(
                f"There is no template `{name}`. Templates: {', '.join(self._templates.names())}.",
                c.usage_of("template"),
            )
        return template

    # -- listings ----------------------------------------------------------------------


# A lost race is tried again up to this many times in all, pausing 10 ms, 20 ms, 40 ms …
# (at most 1 s, each spread at random by ±50 %): about 3 s before giving up.
_ATTEMPTS = 10
_BACKOFF_FIRST = 0.01
_BACKOFF_LONGEST = 1.0
_UNKNOWN = object()
_log = logging.getLogger(__name__)

# Commands that add a timeline entry: True for the bot's own (automatic) entries.
_ADDS_ENTRY: dict[type, bool] = {
    c.AddNote: False,
    c.AddBackdated: False,
    c.AssignRole: True,
    c.SetSeverity: True,
    c.SetStatus: True,
    c.Resolve: True,
    c.Close: True,
    c.Reopen: True,
}


def _check_room(uow: UnitOfWork, incident: Incident, command: c.Command) -> None:
    """Refuses a command that would add to a full timeline or action list. The entries
    are counted by the repository (an indexed COUNT), never by loading them."""
    automatic = _ADDS_ENTRY.get(type(command))
    if automatic is not None:
        limits.check_timeline_room(
            uow.incidents.entry_count(incident), incident.number, automatic=automatic
        )
    if isinstance(command, c.AddAction):
        limits.check_action_room(len(incident.actions), incident.number)


def _backoff(attempt: int) -> float:
    pause: float = min(_BACKOFF_FIRST * 2.0 ** (attempt - 1), _BACKOFF_LONGEST)
    return pause * random.uniform(0.5, 1.5)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A lone UTF-16 surrogate (JSON may carry "\ud800") can be encoded by no codec, so no
# database, file or platform could take it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_control_characters(event: InboundEvent) -> InboundEvent:
    """Chat text may carry NULs and other control bytes that no document (and no
    PostgreSQL text column) can hold; they carry no meaning, so they go. A 📌 message
    longer than a timeline entry may be is shortened, with a visible mark."""
    if isinstance(event, CommandReceived | MessageTagged | MessageEdited):
        text = _SURROGATE.sub("\ufffd", _CONTROL.sub("", event.text))
        if isinstance(event, MessageTagged | MessageEdited):
            text = limits.shortened(text)
        return replace(event, text=text)
    return event


def _with_names(reply: Reply, name_of: Callable[[str], str]) -> Reply:
    """References in a reply's text become the people's current names: the platform
    resolves them as the reply goes out (an echoed note, an action item, a listing)."""
    if isinstance(reply, Message) and "{@" in reply.text:
        return replace(reply, text=resolve(reply.text, name_of))
    if isinstance(reply, FileUpload) and "{@" in reply.comment:
        return replace(reply, comment=resolve(reply.comment, name_of))
    return reply


def _error(channel: str, message: str, usage: str | None, platform: ChatPlatform) -> Message:
    text = message
    if usage:
        forms = " or ".join(
            f"`{platform.command_prefix} {form.strip()}`" for form in usage.split(" | ")
        )
        text = f"{message}\nUsage: {forms}"
    return Message(channel=channel, text=text, is_error=True)
