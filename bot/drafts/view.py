"""What a template sees of an incident: everything already in the reader's terms.

Times are in the workspace zone and formatted, people are display names, sections are
paired with the template's headings and guidance. Text stays raw here; the renderer
of each format escapes it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from bot.alerts import is_alert_ref, links_in_entry
from bot.domain import (
    MILESTONE_LABELS,
    EntryKind,
    Incident,
    MilestoneKind,
    Role,
    RoleAssignment,
    TimelineEntry,
    slugify,
)
from bot.drafts.links import NO_TICKET_PATTERNS, Link, LinkRules, collect_links, safe_url
from bot.drafts.templates import Template
from bot.drafts.user_markdown import escape_text
from bot.mentions import resolve
from bot.ports import ChannelLink
from bot.timefmt import (
    abbreviation,
    format_duration,
    local_abbreviation,
    needs_dates,
    offset_changes,
    utc_offset,
    zone_label,
    zone_name,
)

NameOf = Callable[[str], str]


def with_names(text: str, name_of: NameOf, quote: Callable[[str], str] | None = None) -> str:
    """People named in text as references (`{@user}`: automatic entries, mentions in
    notes, tagged messages, sections, action items) get their names, as the platform
    (or, offline, the stored names) gives them now.

    This runs here, on the raw text, before any format's renderer escapes or renders
    it: escaping first would break the references (`{@U_1}` -> `{@U\\_1}`). Today every
    renderer escapes the whole text, so a name holding Markdown or HTML is shown as
    written. Where a text is rendered as Markdown instead, pass the Markdown escaper as
    `quote`: a name is data, never markup, whoever chose it.
    """
    if quote is None:
        return resolve(text, name_of)
    return resolve(text, lambda user: quote(name_of(user)))


@dataclass(frozen=True)
class EntryView:
    seq: int
    when: str  # as the template shows it: time, or date and time (`timeline_dates`)
    date: str  # the local date in the template's date format, for layouts grouped by day
    time: str  # HH:MM, with the zone's abbreviation when the draft spans an offset change
    who: str | None  # credited to, as the template's `timeline_names` says; else None
    text: str  # inline Markdown as people wrote it (a zone change: the bot's plain words)
    kind: str  # tagged, note, backdated, automatic, or zone-change (a line the bot adds)
    zone: str = ""  # the abbreviation in force at this instant: BST, GMT, UTC+04:00


@dataclass(frozen=True)
class RoleView:
    id: str
    title: str
    holder: str | None
    earlier: tuple[str, ...]  # people who held it before a handover, in order


@dataclass(frozen=True)
class HandoverView:
    role: str
    earlier: str
    later: str
    when: str

    @property
    def sentence(self) -> str:
        return f"{self.earlier} handed {self.role} over to {self.later} at {self.when}."


@dataclass(frozen=True)
class ActionView:
    seq: int
    text: str
    owner: str | None
    done: bool


@dataclass(frozen=True)
class LinkGroup:
    """One sub-heading of the generated `links` block and the references under it."""

    heading: str
    links: tuple[Link, ...]


@dataclass(frozen=True)
class SectionView:
    id: str
    heading: str
    guidance: str
    required: bool
    generated: bool
    text: str | None
    fill_command: str
    include: tuple[str, ...] = ()
    lead: bool = False

    @property
    def filled(self) -> bool:
        return bool(self.text and self.text.strip())


@dataclass(frozen=True)
class MilestoneView:
    kind: str  # a milestone kind, `declared` or `team-allocated`
    label: str  # the template's words for it ([milestones]), else the bot's
    when: str  # as the timeline shows times: time, or date and time
    date: str
    time: str  # HH:MM
    short: str  # 9:30, as seed 004 writes it (with the date when the draft shows dates)


@dataclass(frozen=True)
class FieldView:
    id: str
    label: str
    guidance: str
    text: str | None
    fill_command: str

    @property
    def filled(self) -> bool:
        return bool(self.text and self.text.strip())

    @property
    def cell(self) -> str:
        """The text on one line, as a table cell holds it; empty when not written."""
        return " ".join((self.text or "").split())

    @property
    def todo(self) -> SectionView:
        """What an empty field needs, in the shape every format's "to be written" mark
        takes, so an empty field is marked the way an empty section is."""
        guidance = f"{self.label}: {self.guidance}" if self.guidance else self.label
        return SectionView(
            id=self.id,
            heading=self.label,
            guidance=guidance,
            required=False,
            generated=False,
            text=None,
            fill_command=self.fill_command,
        )


DURATION_LABELS = {
    "impact": "Impact duration",
    "to_detect": "Time to detect",
    "to_mitigate": "Time to mitigate",
}


@dataclass(frozen=True)
class DraftView:
    number: int
    title: str
    severity: str
    status: str
    declared_by: str
    declared: str
    ended: str | None
    duration: str | None
    title_date: str
    zone: str
    dates_shown: bool
    names_shown: bool  # whether timeline lines are credited (`timeline_names`); else no "Who"
    timeline: tuple[EntryView, ...]
    roles: tuple[RoleView, ...]  # the roles someone holds, in the usual order
    handovers: tuple[HandoverView, ...]
    actions: tuple[ActionView, ...]
    sections: dict[str, SectionView]
    section_order: tuple[str, ...]
    template_name: str
    template_title: str
    generated_at: str
    declared_long: str  # "March 4, 2025", as a blog title writes it
    month_year: str  # "March 2025", as a report's title block writes it
    generated_date: str  # the draft's date in the template's date format
    author: str  # who reports: reporting lead, else commander, else the declarer
    generator: str  # "incident-bot, template NAME, DATE TIME ZONE": for a comment, never the body
    action_command: str  # how to add an action item
    options: dict[str, str]
    slug: str = ""  # the title as a file or URL name: `checkout-returns-502`
    declared_iso: str = ""  # the declared date, YYYY-MM-DD (a Jekyll post's file name)
    # The chat log and the references found in the incident's messages (`links` block).
    links: tuple[LinkGroup, ...] = ()
    # Key times and the durations they give; a duration nobody can know is None.
    milestones: tuple[MilestoneView, ...] = ()
    milestone_by_kind: dict[str, MilestoneView] = field(default_factory=dict)
    impact_duration: str | None = None  # impact started -> mitigated, else resolved
    time_to_detect: str | None = None  # impact started -> detected
    time_to_mitigate: str | None = None  # impact started -> mitigated
    fields: tuple[FieldView, ...] = ()  # the template's [[fields]], in order

    @property
    def durations(self) -> tuple[tuple[str, str], ...]:
        """(label, duration) for each duration the milestones give, in a fixed order."""
        known = (
            ("impact", self.impact_duration),
            ("to_detect", self.time_to_detect),
            ("to_mitigate", self.time_to_mitigate),
        )
        return tuple((DURATION_LABELS[key], value) for key, value in known if value)

    @property
    def empty_fields(self) -> tuple[FieldView, ...]:
        return tuple(item for item in self.fields if not item.filled)

    @property
    def headings(self) -> tuple[str, ...]:
        """The headings shown, in order: a report's table of contents."""
        return tuple(
            self.sections[id].heading for id in self.section_order if not self.sections[id].lead
        )


def build_view(
    incident: Incident,
    template: Template,
    *,
    zone: tzinfo,
    name_of: NameOf,
    command_prefix: str,
    now: datetime,
    link_rules: LinkRules = NO_TICKET_PATTERNS,
    chat_log: ChannelLink | None = None,
) -> DraftView:
    # A name is looked up once per draft, not once per line that shows it.
    name_of = functools.cache(name_of)
    if template.timezone:
        # Some teams write every time in one zone whatever the workspace's (a blog post's
        # "Timeline (times in UTC)"); the template pins it.
        zone = ZoneInfo(template.timezone)
    # Sorted once, for the lines and for the references found in them.
    visible = incident.visible_timeline()
    includes = template.timeline_includes
    entries = [
        entry
        for entry in visible
        if entry.kind is not EntryKind.AUTOMATIC or (includes and entry.event in includes)
    ]
    instants = [entry.occurred_at for entry in entries]
    changes = offset_changes(instants, zone)
    milestone_moments = [milestone.at for milestone in incident.milestones]
    dates = template.timeline_dates == "always" or needs_dates(
        [*instants, incident.declared_at, *milestone_moments], zone
    )

    def clock(moment: datetime) -> str:
        # Where the times span an offset change, each says which side it is on.
        local = moment.astimezone(zone)
        return f"{local:%H:%M} {abbreviation(zone, moment)}" if changes else f"{local:%H:%M}"

    def when(moment: datetime) -> str:
        local = moment.astimezone(zone)
        return f"{local.strftime(template.date_format)} {clock(moment)}" if dates else clock(moment)

    def stamp(moment: datetime) -> str:
        local = moment.astimezone(zone)
        return f"{local.strftime(template.date_format)} {local:%H:%M} {abbreviation(zone, moment)}"

    def local_stamp(moment: datetime) -> str:
        local = moment.astimezone(zone)
        return f"{local.strftime(template.date_format)} {local:%H:%M}"

    day_of = _date_formatter(template.date_format)
    credits = template.timeline_names == "authors"  # else `_credited` names nobody

    def entry_view(entry: TimelineEntry) -> EntryView:
        # As `when`, `clock` and `abbreviation` write it, from one conversion to the
        # zone: a timeline can have 10,000 entries.
        local = entry.occurred_at.astimezone(zone)
        shown_zone = local_abbreviation(local)
        minute = f"{local.hour:02d}:{local.minute:02d}"
        time = f"{minute} {shown_zone}" if changes else minute
        date = day_of(local)
        text = entry.text
        return EntryView(
            seq=entry.seq,
            when=f"{date} {time}" if dates else time,
            date=date,
            time=time,
            who=_credited(entry, template.timeline_names, name_of) if credits else None,
            # Most lines name nobody (`resolve` would return them as they are).
            text=with_names(text, name_of, escape_text) if "{@" in text else text,
            kind=entry.kind.value,
            zone=shown_zone,
        )

    def change_view(moment: datetime) -> EntryView:
        before = moment - timedelta(seconds=1)
        shift = (moment.astimezone(zone).utcoffset() or timedelta(0)) - (
            before.astimezone(zone).utcoffset() or timedelta(0)
        )
        went = "forward" if shift > timedelta(0) else "back"
        amount = "an hour" if abs(shift) == timedelta(hours=1) else format_duration(abs(shift))
        return EntryView(
            seq=0,
            when=when(moment),
            date=moment.astimezone(zone).strftime(template.date_format),
            time=clock(moment),
            who=None,
            # Inline Markdown like the entries around it: in italics, the bot's own words.
            text=f"*The clocks went {went} {amount}: times before this are "
            f"{abbreviation(zone, before)} ({utc_offset(zone, before)}), times from here on "
            f"{abbreviation(zone, moment)} ({utc_offset(zone, moment)}).*",
            kind="zone-change",
            zone=abbreviation(zone, moment),
        )

    if changes:
        timeline = tuple(
            view
            for _, _, view in sorted(
                [(entry.occurred_at, 1, entry_view(entry)) for entry in entries]
                + [(moment, 0, change_view(moment)) for moment in changes],
                key=lambda item: (item[0], item[1]),
            )
        )
    else:
        timeline = tuple(entry_view(entry) for entry in entries)  # already in time order
    ended_at = incident.ended_at()
    durations = incident.durations()
    key_times = _milestone_views(incident, template, zone, dates, when, clock)
    declared_local = incident.declared_at.astimezone(zone)
    holders = {role: incident.holder(role) for role in Role}
    author = holders[Role.REPORTING] or holders[Role.COMMANDER] or incident.declared_by
    return DraftView(
        number=incident.number,
        title=with_names(incident.title, name_of),
        severity=f"SEV{incident.severity}" if incident.severity else "not set",
        status=incident.status.value,
        declared_by=name_of(incident.declared_by),
        declared=stamp(incident.declared_at),
        ended=stamp(ended_at) if ended_at else None,
        # Only what the milestones tell: declared -> resolved is how long people talked,
        # not how long customers were hurt.
        duration=_duration(durations.impact),
        title_date=incident.declared_at.astimezone(zone).strftime(template.date_format),
        zone=_zone_description(zone, instants or [incident.declared_at], changes, local_stamp),
        dates_shown=dates,
        names_shown=template.timeline_names != "none",
        timeline=timeline,
        roles=tuple(
            _role_view(incident, role, name_of) for role in Role if incident.holder(role)
        ),
        handovers=tuple(
            HandoverView(
                role=assignment.role.label,
                earlier=name_of(assignment.user),
                later=name_of(_successor(incident, assignment)),
                when=stamp(assignment.relieved_at),
            )
            for assignment in sorted(incident.roles, key=lambda a: a.assigned_at)
            if assignment.relieved_at is not None
        ),
        actions=tuple(
            ActionView(
                seq=action.seq,
                text=with_names(action.text, name_of, escape_text),
                owner=name_of(action.owner) if action.owner else None,
                done=action.done_at is not None,
            )
            for action in sorted(incident.actions, key=lambda action: action.seq)
        ),
        sections={
            section.id: SectionView(
                id=section.id,
                heading=section.heading,
                guidance=section.guidance,
                required=section.required,
                generated=section.generated,
                text=None if section.generated else _section_text(incident, section.id, name_of),
                fill_command=f"{command_prefix} set {section.id} TEXT",
                include=section.include,
                lead=section.lead,
            )
            for section in template.sections
        },
        section_order=tuple(section.id for section in template.sections),
        template_name=template.name,
        template_title=template.title,
        generated_at=stamp(now),
        declared_long=f"{declared_local:%B} {declared_local.day}, {declared_local:%Y}",
        month_year=f"{declared_local:%B %Y}",
        generated_date=now.astimezone(zone).strftime(template.date_format),
        author=name_of(author),
        generator=f"incident-bot, template {template.name}, {stamp(now)}",
        action_command=f"{command_prefix} action TEXT @owner",
        options=dict(template.options),
        slug=slugify(incident.title),
        declared_iso=f"{declared_local:%Y-%m-%d}",
        links=_link_groups(incident, visible, template, link_rules, chat_log),
        milestones=key_times,
        milestone_by_kind={view.kind: view for view in key_times},
        impact_duration=_duration(durations.impact),
        time_to_detect=_duration(durations.to_detect),
        time_to_mitigate=_duration(durations.to_mitigate),
        fields=tuple(
            FieldView(
                id=item.id,
                label=item.label,
                guidance=item.guidance,
                text=_section_text(incident, item.id, name_of),
                fill_command=f"{command_prefix} set {item.id} TEXT",
            )
            for item in template.fields
        ),
    )


def _link_groups(
    incident: Incident,
    visible: Sequence[TimelineEntry],
    template: Template,
    rules: LinkRules,
    chat_log: ChannelLink | None,
) -> tuple[LinkGroup, ...]:
    """The chat log, then each kind of reference people linked or named anywhere in the
    incident: timeline entries (`visible`: its visible timeline), sections (of any
    template), action items."""
    texts = [
        *(entry.text for entry in visible if entry.kind is not EntryKind.AUTOMATIC),
        *(section.text for section in incident.sections),
        *(action.text for action in incident.actions),
    ]
    found = collect_links(texts, rules)
    headings = template.link_headings
    groups = []
    if chat_log is not None:
        heading = headings.chat_log.replace("{platform}", chat_log.platform)
        groups.append(LinkGroup(heading, (Link(f"#{incident.channel_name}", chat_log.url),)))
    for heading, links in (
        (headings.tickets, found.tickets),
        (headings.merge_requests, found.merge_requests),
        (headings.pull_requests, found.pull_requests),
        (headings.commits, found.commits),
        (headings.alerts, _alert_links(visible)),
    ):
        if links:
            groups.append(LinkGroup(heading, links))
    return tuple(groups)


def _alert_links(visible: Sequence[TimelineEntry]) -> tuple[Link, ...]:
    """The links the alerts brought (where each fired, its runbook, its dashboard),
    each once."""
    found: dict[str, Link] = {}
    for entry in visible:
        if not is_alert_ref(entry.source_ref):
            continue
        for label, url in links_in_entry(entry.text):
            safe = safe_url(url)
            if safe is not None:
                found.setdefault(safe, Link(label, safe))
    return tuple(found.values())
# strftime directives that name the date alone (nothing of the time or the zone).
_DATE_ONLY_DIRECTIVES = frozenset("aAbBCdDeFgGhjmuUVwWxyY%nt")
_DIRECTIVE = re.compile(r"%(.)", re.DOTALL)


def _date_formatter(date_format: str) -> Callable[[datetime], str]:
    """`local.strftime(date_format)`, worked out once a day where the format names only
    the date (every built-in's does): 10,000 lines fall on a few days."""
    if not all(
        directive in _DATE_ONLY_DIRECTIVES for directive in _DIRECTIVE.findall(date_format)
    ):
        return lambda local: local.strftime(date_format)
    days: dict[date, str] = {}

    def formatted(local: datetime) -> str:
        day = local.date()
        text = days.get(day)
        if text is None:
            text = days[day] = local.strftime(date_format)
        return text

    return formatted


def _credited(entry: TimelineEntry, names: str, name_of: NameOf) -> str | None:
    """Who a line names. Only what someone wrote or 📌'd is ever credited to its author; a
    back-dated entry describes someone's action, not the typist's, so it never is."""
    if names != "authors" or entry.author is None:
        return None
    if entry.kind not in (EntryKind.TAGGED, EntryKind.NOTE):
        return None
    return name_of(entry.author)


def _successor(incident: Incident, relieved: RoleAssignment) -> str:
    later = [
        a.user
        for a in incident.roles
        if a.role is relieved.role and a.assigned_at >= (relieved.relieved_at or a.assigned_at)
        and a is not relieved
    ]
    return later[0] if later else relieved.user


def _zone_description(
    zone: tzinfo,
    instants: list[datetime],
    changes: list[datetime],
    stamp: Callable[[datetime], str],
) -> str:
    """`Europe/London (BST)` when every time shown is on one side of the zone's offset
    changes; otherwise each side named, and from when: `Europe/London: BST (UTC+01:00),
    then GMT (UTC+00:00) from 27-10-2024 01:00`."""
    if not changes:
        return zone_label(zone, min(instants))
    first = min(instants)
    sides = [f"{abbreviation(zone, first)} ({utc_offset(zone, first)})"] + [
        f"{abbreviation(zone, change)} ({utc_offset(zone, change)}) from {stamp(change)}"
        for change in changes
    ]
    return f"{zone_name(zone)}: {', then '.join(sides)}"


def _section_text(incident: Incident, section_id: str, name_of: NameOf) -> str | None:
    text = incident.section_text(section_id)
    # Section text is Markdown the team wrote; a name put into it is data, never markup.
    return None if text is None else with_names(text, name_of, escape_text)


def _duration(delta: timedelta | None) -> str | None:
    return format_duration(delta) if delta is not None else None


def team_allocated(incident: Incident) -> datetime | None:
    """When the response team was allocated, as seed 004's key times mean it ("Incident
    response team allocated 9:30", before the identification at 9:45): the first role
    someone was given, the commander's included. The declarer made commander by `start`
    is the declaration itself, not an allocation; a role given later (a reporting lead
    named once the fix is in) does not move it. None when nobody was given a role."""
    given = [
        assignment.assigned_at
        for assignment in incident.roles
        if not _made_commander_by_start(incident, assignment)
    ]
    return min(given, default=None)


def _made_commander_by_start(incident: Incident, assignment: RoleAssignment) -> bool:
    return (
        assignment.role is Role.COMMANDER
        and assignment.user == incident.declared_by
        and assignment.assigned_by == incident.declared_by
        and assignment.assigned_at == incident.declared_at
    )


def _milestone_views(
    incident: Incident,
    template: Template,
    zone: tzinfo,
    dates: bool,
    when: Callable[[datetime], str],
    clock: Callable[[datetime], str],
) -> tuple[MilestoneView, ...]:
    # `when` and `clock` write a time as the timeline does (with its zone abbreviation
    # when the times shown span an offset change).
    moments: dict[str, datetime] = {"declared": incident.declared_at}
    for milestone in incident.milestones:
        moments[milestone.kind.value] = milestone.at
    allocated = team_allocated(incident)
    if allocated is not None:
        moments["team-allocated"] = allocated
    default_labels = {
        **{kind.value: label for kind, label in MILESTONE_LABELS.items()},
        "declared": "Declared",
        "team-allocated": "Team allocated",
    }
    if template.milestone_labels:
        chosen = [(kind, label) for kind, label in template.milestone_labels.items()]
    else:
        order = sorted(moments, key=lambda kind: (moments[kind], _KIND_ORDER.index(kind)))
        chosen = [(kind, default_labels[kind]) for kind in order]
    views = []
    for kind, label in chosen:
        moment = moments.get(kind)
        if moment is None:
            continue  # not known: left out, never guessed
        local = moment.astimezone(zone)
        day = local.strftime(template.date_format)
        hour_minute = f"{local.hour}:{local:%M}"
        views.append(
            MilestoneView(
                kind=kind,
                label=label,
                when=when(moment),
                date=day,
                time=clock(moment),
                short=f"{day} {hour_minute}" if dates else hour_minute,
            )
        )
    return tuple(views)


_KIND_ORDER = (
    MilestoneKind.STARTED.value,
    MilestoneKind.DETECTED.value,
    "declared",
    MilestoneKind.IDENTIFIED.value,
    "team-allocated",
    MilestoneKind.MITIGATED.value,
    MilestoneKind.RESOLVED.value,
)


def _role_view(incident: Incident, role: Role, name_of: NameOf) -> RoleView:
    assignments = [a for a in incident.roles if a.role is role]
    holder = incident.holder(role)
    earlier = tuple(name_of(a.user) for a in assignments if a.relieved_at is not None)
    return RoleView(
        id=role.value,
        title=role.label,
        holder=name_of(holder) if holder else None,
        earlier=earlier,
    )
