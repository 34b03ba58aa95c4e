"""The chat grammar: one command line in, a typed command or a usage error out.

`parse` never raises. Whatever a person types, they get either a command or a
`ParseError` saying what was wrong and showing the right usage.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, time, timedelta

from bot import limits
from bot.domain import (
    GENERATED_SECTION_IDS,
    MILESTONE_ALIASES,
    ROLE_ALIASES,
    SECTION_IDS,
    WRITTEN_SECTION_IDS,
    IncidentError,
    MilestoneKind,
    Role,
    Status,
)
from bot.reminders import DURATION_FORMS, parse_duration

# -- the commands ----------------------------------------------------------------------


@dataclass(frozen=True)
class Me:
    """`role comms me`: the person who sent the command."""


ME = Me()
UserRef = str | Me


@dataclass(frozen=True)
class When:
    """A `timeline add` time as written: a date is optional, a zone is optional."""

    on: date | None
    at: time
    utc_offset: timedelta | None  # None: the workspace timezone


@dataclass(frozen=True)
class Start:
    title: str
    invite: tuple[str, ...] = ()  # `--invite @a @b`: asked into the channel with the declarer


@dataclass(frozen=True)
class AssignRole:
    role: Role
    user: UserRef


@dataclass(frozen=True)
class ListRoles:
    pass


@dataclass(frozen=True)
class SetSeverity:
    level: int


@dataclass(frozen=True)
class SetStatus:
    status: Status


@dataclass(frozen=True)
class AddNote:
    text: str


@dataclass(frozen=True)
class AddBackdated:
    when: When
    text: str


@dataclass(frozen=True)
class ShowTimeline:
    pass


@dataclass(frozen=True)
class RemoveEntry:
    seq: int


@dataclass(frozen=True)
class EditEntry:
    seq: int
    text: str


@dataclass(frozen=True)
class SetSection:
    section_id: str
    text: str


@dataclass(frozen=True)
class AppendSection:
    section_id: str
    text: str


@dataclass(frozen=True)
class ClearSection:
    section_id: str


@dataclass(frozen=True)
class ListSections:
    pass


@dataclass(frozen=True)
class SetField:
    """`set customers-impacted All`: one cell of the template's fields table."""

    field_id: str
    text: str


@dataclass(frozen=True)
class ClearField:
    field_id: str


@dataclass(frozen=True)
class SetMilestone:
    kind: MilestoneKind
    when: When | None  # None: the message's own time


@dataclass(frozen=True)
class ClearMilestone:
    kind: MilestoneKind


@dataclass(frozen=True)
class ListMilestones:
    pass


@dataclass(frozen=True)
class AddAction:
    text: str
    owner: UserRef | None


@dataclass(frozen=True)
class ListActions:
    pass


@dataclass(frozen=True)
class CompleteAction:
    seq: int


@dataclass(frozen=True)
class UseTemplate:
    name: str


@dataclass(frozen=True)
class ListTemplates:
    pass


@dataclass(frozen=True)
class Resolve:
    pass


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class Reopen:
    pass


@dataclass(frozen=True)
class Export:
    template: str | None
    format: str | None


@dataclass(frozen=True)
class Help:
    topic: str | None


@dataclass(frozen=True)
class ShowReminders:
    pass


@dataclass(frozen=True)
class SnoozeReminders:
    duration: timedelta


@dataclass(frozen=True)
class RemindersOff:
    pass


@dataclass(frozen=True)
class RemindersOn:
    pass


RemindCommand = ShowReminders | SnoozeReminders | RemindersOff | RemindersOn


Command = (
    Start
    | AssignRole
    | ListRoles
    | SetSeverity
    | SetStatus
    | AddNote
    | AddBackdated
    | ShowTimeline
    | RemoveEntry
    | EditEntry
    | SetSection
    | AppendSection
    | ClearSection
    | ListSections
    | SetField
    | ClearField
    | SetMilestone
    | ClearMilestone
    | ListMilestones
    | AddAction
    | ListActions
    | CompleteAction
    | UseTemplate
    | ListTemplates
    | Resolve
    | Close
    | Reopen
    | Export
    | Help
    | RemindCommand
)

# Commands that work anywhere; every other one needs an incident channel.
GLOBAL_COMMANDS = (Start, Help, ListTemplates)
# Commands that change nothing: an answer of theirs that never came is asked for again.
READING_COMMANDS = (
    ListRoles,
    ShowTimeline,
    ListSections,
    ListMilestones,
    ListActions,
    ListTemplates,
    Help,
    ShowReminders,
    Export,
)


@dataclass(frozen=True)
class ParseError:
    message: str  # what was wrong, in a sentence
    usage: str  # the right way to write it, without the platform prefix


# -- usage -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    forms: tuple[str, ...]
    summary: str


FORMATS = ("md", "html", "docx")
WHEN_FORMS = "HH:MM, HH:MM:SS, YYYY-MM-DD HH:MM or YYYY-MM-DD HH:MM:SS"

MILESTONE_USAGE = "milestone KIND [WHEN]"

USAGES: dict[str, Usage] = {
    "start": Usage(
        ("start TITLE [--invite @user …]",),
        "declare an incident and open its channel, inviting you and anyone named",
    ),
    "role": Usage(
        ("role ROLE @user", "role ROLE me"),
        "assign a role: commander (ic, lead), comms (communications), ops (operations), "
        "reporting (scribe, reporter)",
    ),
    "roles": Usage(("roles",), "list who holds which role"),
    "severity": Usage(("severity 1..4",), "set the severity (1 is the worst)"),
    "status": Usage(
        ("status investigating|identified|monitoring|resolved",), "set the status"
    ),
    "note": Usage(("note TEXT",), "put TEXT on the timeline at this message's time"),
    "timeline": Usage(
        ("timeline", "timeline add WHEN TEXT", "timeline remove N", "timeline edit N TEXT"),
        f"show or correct the timeline; WHEN is {WHEN_FORMS}, in the workspace timezone "
        "unless followed by Z, UTC or ±HH:MM",
    ),
    "set": Usage(
        ("set SECTION TEXT", "set FIELD TEXT"),
        "write a postmortem section, or a field of the template's table (customers-impacted)",
    ),
    "append": Usage(("append SECTION TEXT",), "add a paragraph to a postmortem section"),
    "clear": Usage(("clear SECTION", "clear FIELD"), "empty a postmortem section or field"),
    "sections": Usage(
        ("sections",), "list the template's sections and fields, filled or empty"
    ),
    "milestone": Usage(
        ("milestone KIND [WHEN]", "milestone clear KIND", "milestone"),
        "record when the impact started, was detected, identified, mitigated or resolved "
        "(KIND: started, detected, identified, mitigated, resolved); WHEN as in "
        "`timeline add`, now if left out",
    ),
    "milestones": Usage(
        ("milestones",), "list the milestones and the durations they give"
    ),
    "action": Usage(
        ("action TEXT [@owner]", "action done N"), "add an action item, or mark one done"
    ),
    "actions": Usage(("actions",), "list the action items"),
    "template": Usage(("template NAME",), "choose this incident's postmortem template"),
    "templates": Usage(("templates",), "list the postmortem templates"),
    "resolve": Usage(("resolve",), "mark the incident resolved"),
    "close": Usage(("close",), "close the incident and post the postmortem draft"),
    "reopen": Usage(("reopen",), "reopen a resolved or closed incident"),
    "export": Usage(("export [TEMPLATE] [md|html|docx]",), "post the postmortem draft now"),
    "remind": Usage(
        ("remind", "remind snooze DURATION", "remind off", "remind on"),
        "list this incident's reminders, or quiet them for a while (30m, 2h, 1d), or "
        "stop and restart them",
    ),
    "help": Usage(("help [COMMAND]",), "show the commands, or one command's usage"),
}


# Other names a command answers to, and the command whose usage they share.
ALIASES = {"declare": "start", "sev": "severity"}


def usage_of(name: str) -> str:
    return " | ".join(USAGES[ALIASES.get(name, name)].forms)


# -- parsing ---------------------------------------------------------------------------

MentionParser = Callable[[str], str | None]

_HANDLE_MENTION = re.compile(r"^@([a-z0-9._-]+)$", re.IGNORECASE)


def default_mention(token: str) -> str | None:
    """`@alice` -> `alice`; anything else is no mention. Platforms bring their own forms
    through `ChatPlatform.parse_mention`."""
    match = _HANDLE_MENTION.match(token)
    return match.group(1) if match else None


def parse(
    line: str, *, mention: MentionParser = default_mention, fields: Collection[str] = ()
) -> Command | ParseError:
    """Parses a command line without its prefix (`role comms @jonas`).

    `fields` are the field ids the templates declare (`customers-impacted`): `set`
    and `clear` take them besides the section ids.
    """
    text = line.strip()
    if not text:
        return ParseError("No command given.", "help [COMMAND]")
    name, rest = _split_first(text)
    name = name.lower()
    handler = _HANDLERS.get(name)
    if handler is None:
        return _unknown_command(name)
    try:
        if name in _FIELD_COMMANDS:
            field_command = _parse_field(name, rest, fields)
            if field_command is not None:
                return field_command
        return handler(rest, mention)
    except (_Invalid, IncidentError) as problem:  # IncidentError: a limit (bot.limits)
        message = problem.message
        if fields and name in _FIELD_COMMANDS and message.startswith("Unknown section"):
            message += f" Fields: {', '.join(sorted(fields))}."
        return ParseError(message, problem.usage or usage_of(name))


class _Invalid(Exception):
    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


def _unknown_command(name: str) -> ParseError:
    close = difflib.get_close_matches(name, list(USAGES), n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    shown = name if len(name) <= 40 else name[:40] + "…"
    return ParseError(
        f"Unknown command `{shown}`.{hint} Commands: {', '.join(USAGES)}.", "help [COMMAND]"
    )


def _split_first(text: str) -> tuple[str, str]:
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def _no_arguments(command: Command, name: str) -> Callable[[str, MentionParser], Command]:
    def handler(rest: str, mention: MentionParser) -> Command:
        if rest:
            raise _Invalid(f"`{name}` takes no arguments.")
        return command

    return handler


def _require_text(rest: str, what: str) -> str:
    if not rest:
        raise _Invalid(f"Missing {what}.")
    return rest


_INVITE_OPTION = re.compile(r"(?:^|\s)--invite(?:\s+(?P<who>.*))?$", re.DOTALL)


def _parse_start(rest: str, mention: MentionParser) -> Command:
    option = _INVITE_OPTION.search(rest)
    if option is None:
        return Start(_title(rest))
    people: list[str] = []
    for token in (option.group("who") or "").split():
        user = mention(token.rstrip(","))
        if user is None:
            raise _Invalid(f"`--invite` takes mentions, and `{token}` is not one.")
        limits.check_person(user)
        people.append(user)
    if not people:
        raise _Invalid("Name someone after `--invite`, or leave it out.")
    title = _title(rest[: option.start()].strip())
    return Start(title, tuple(dict.fromkeys(people)))


def _title(rest: str) -> str:
    title = _require_text(rest, "the incident title")
    limits.check_title(" ".join(title.split()))
    return title


def _parse_role(rest: str, mention: MentionParser) -> Command:
    role_word, who = _split_first(rest)
    if not role_word:
        raise _Invalid("Missing the role and the person.")
    role = _parse_role_name(role_word)
    if not who:
        raise _Invalid(f"Missing the person to make {role.label}: `@user` or `me`.")
    if len(who.split()) > 1:
        raise _Invalid(f"Name one person for {role.label}, not `{who}`.")
    return AssignRole(role, _parse_user(who, mention))


def _parse_role_name(word: str) -> Role:
    role = ROLE_ALIASES.get(word.lower())
    if role is None:
        raise _Invalid(
            f"Unknown role `{word}`. Roles: commander (ic, lead), comms (communications), "
            "ops (operations), reporting (scribe, reporter)."
        )
    return role


def _parse_user(token: str, mention: MentionParser) -> UserRef:
    if token.lower() == "me":
        return ME
    user = mention(token)
    if user is None:
        raise _Invalid(f"`{token}` is not a mention; write `@user` or `me`.")
    limits.check_person(user)
    return user


def _parse_severity(rest: str, mention: MentionParser) -> Command:
    word = _require_text(rest, "the severity, a number from 1 to 4")
    match = re.fullmatch(r"(?:sev-?)?([0-9]+)", word.strip(), re.IGNORECASE)
    if match is None or int(match.group(1)) not in (1, 2, 3, 4):
        raise _Invalid(f"Severity must be a number from 1 (worst) to 4, not `{word}`.")
    return SetSeverity(int(match.group(1)))


def _parse_status(rest: str, mention: MentionParser) -> Command:
    word = _require_text(rest, "the status").lower()
    try:
        return SetStatus(Status(word))
    except ValueError:
        raise _Invalid(
            f"Unknown status `{rest}`. Statuses: {', '.join(s.value for s in Status)}."
        ) from None


def _parse_note(rest: str, mention: MentionParser) -> Command:
    text = _require_text(rest, "the note's text")
    limits.check_entry_text(text)
    return AddNote(text)


def _parse_timeline(rest: str, mention: MentionParser) -> Command:
    if not rest:
        return ShowTimeline()
    sub, args = _split_first(rest)
    sub = sub.lower()
    if sub == "add":
        when, text = parse_when(args)
        if not text:
            raise _Invalid("Missing the entry's text after the time.", "timeline add WHEN TEXT")
        limits.check_entry_text(text, "timeline add WHEN TEXT")
        return AddBackdated(when, text)
    if sub in ("remove", "rm", "delete"):
        number, extra = _split_first(args)
        if extra:
            raise _Invalid("`timeline remove` takes only the entry number.", "timeline remove N")
        return RemoveEntry(_parse_number(number, "entry", "timeline remove N"))
    if sub == "edit":
        number, text = _split_first(args)
        seq = _parse_number(number, "entry", "timeline edit N TEXT")
        if not text:
            raise _Invalid("Missing the entry's new text.", "timeline edit N TEXT")
        limits.check_entry_text(text, "timeline edit N TEXT")
        return EditEntry(seq, text)
    raise _Invalid(f"Unknown `timeline` subcommand `{sub}`; use add, remove or edit.")


def _parse_number(word: str, what: str, usage: str) -> int:
    if not word:
        raise _Invalid(f"Missing the {what} number.", usage)
    match = re.fullmatch(r"#?([0-9]{1,9})", word)
    if match is None or int(match.group(1)) == 0:
        raise _Invalid(f"`{word}` is not an {what} number like 3.", usage)
    return int(match.group(1))


_WHEN = re.compile(
    r"^(?:(?P<date>[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})[ T])?"
    r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?"
    r"(?P<zone>Z|UTC|[+-][0-9]{2}:?[0-9]{2})?"
    # A zone standing apart must be written in capitals: `13:40 z-index broke` is text.
    r"(?:\s+(?P<zoneword>(?-i:UTC|Z)|[+-][0-9]{2}:?[0-9]{2})(?=\s|$))?"
    r"(?:\s+(?P<text>.*))?$",
    re.IGNORECASE | re.DOTALL,
)


def parse_when(args: str, usage: str = "timeline add WHEN TEXT") -> tuple[When, str]:
    """Splits `2025-03-04 13:40 UTC text` into the time as written and the text."""
    match = _WHEN.match(args)
    if not args:
        raise _Invalid(f"Missing the time: WHEN is {WHEN_FORMS}.", usage)
    if match is None:
        first = args.split()[0]
        raise _Invalid(f"`{first}` is not a time: WHEN is {WHEN_FORMS}.", usage)
    on: date | None = None
    if match.group("date"):
        year, month, day = (int(part) for part in match.group("date").split("-"))
        try:
            on = date(year, month, day)
        except ValueError:
            raise _Invalid(
                f"`{match.group('date')}` is not a real date; write YYYY-MM-DD.", usage
            ) from None
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    second = int(match.group("second") or 0)
    if hour > 23 or minute > 59 or second > 59:
        written = " ".join(args.split()[: 2 if match.group("date") else 1])
        raise _Invalid(
            f"`{written}` is not a time of day; hours go 00-23, minutes and seconds 00-59.",
            usage,
        )
    zone = (match.group("zone") or match.group("zoneword") or "").upper()
    offset: timedelta | None = None
    if zone in ("Z", "UTC"):
        offset = timedelta(0)
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 14 or minutes > 59:
            raise _Invalid(f"`{zone}` is not a UTC offset; write ±HH:MM, e.g. +01:00.", usage)
        offset = sign * timedelta(hours=hours, minutes=minutes)
    return When(on, time(hour, minute, second), offset), (match.group("text") or "").strip()


def normalize_section(word: str) -> str:
    return word.strip().lower().replace("_", "-")


def _parse_section_id(word: str, usage: str) -> str:
    section_id = normalize_section(word)
    if section_id in GENERATED_SECTION_IDS:
        how = {
            "timeline": "`note`, `timeline add` or the tagging reaction (📌 by default)",
            "team": "`role`",
            "action-items": "`action`",
            "metadata": "`severity`, `status` and the incident's title",
            "links": "links and ticket numbers in notes, sections and 📌 messages",
            "fields": "`set FIELD TEXT`, one field at a time",
            "milestones": "`milestone KIND [WHEN]`",
            "durations": "`milestone KIND [WHEN]`",
        }[section_id]
        raise _Invalid(f"The `{section_id}` section is generated; change it with {how}.", usage)
    if section_id not in WRITTEN_SECTION_IDS:
        close = difflib.get_close_matches(section_id, list(SECTION_IDS), n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        shown = word if len(word) <= 40 else word[:40] + "…"
        raise _Invalid(
            f"Unknown section `{shown}`.{hint} Sections: {', '.join(WRITTEN_SECTION_IDS)}.",
            usage,
        )
    return section_id


def _parse_set(rest: str, mention: MentionParser) -> Command:
    word, text = _split_first(rest)
    if not word:
        raise _Invalid("Missing the section and its text.")
    section_id = _parse_section_id(word, "set SECTION TEXT")
    if not text:
        raise _Invalid(
            f"Missing the text for `{section_id}` (`clear {section_id}` empties it).",
        )
    limits.check_section_text(section_id, text)
    return SetSection(section_id, text)


def _parse_append(rest: str, mention: MentionParser) -> Command:
    word, text = _split_first(rest)
    if not word:
        raise _Invalid("Missing the section and its text.")
    section_id = _parse_section_id(word, "append SECTION TEXT")
    if not text:
        raise _Invalid(f"Missing the text to add to `{section_id}`.")
    limits.check_section_text(section_id, text)
    return AppendSection(section_id, text)


def _parse_clear(rest: str, mention: MentionParser) -> Command:
    word, extra = _split_first(rest)
    if not word:
        raise _Invalid("Missing the section to clear.")
    if extra:
        raise _Invalid("`clear` takes only the section; use `set` to write one.")
    return ClearSection(_parse_section_id(word, "clear SECTION"))


_FIELD_COMMANDS = ("set", "append", "clear")


def _parse_field(name: str, rest: str, fields: Collection[str]) -> Command | None:
    """`set FIELD TEXT` / `clear FIELD`; None when the word names no field."""
    word, text = _split_first(rest)
    field_id = normalize_section(word)
    if not word or field_id not in fields:
        return None
    if name == "append":
        raise _Invalid(
            f"`{field_id}` is a field, one cell of a table; write it whole with "
            f"`set {field_id} TEXT`.",
            "set FIELD TEXT",
        )
    if name == "clear":
        if text:
            raise _Invalid("`clear` takes only the field; use `set` to write one.", "clear FIELD")
        return ClearField(field_id)
    if not text:
        raise _Invalid(
            f"Missing the text for `{field_id}` (`clear {field_id}` empties it).",
            "set FIELD TEXT",
        )
    return SetField(field_id, text)


def _parse_milestone(rest: str, mention: MentionParser) -> Command:
    if not rest:
        return ListMilestones()
    word, args = _split_first(rest)
    if word.lower() == "clear":
        kind_word, extra = _split_first(args)
        if not kind_word:
            raise _Invalid("Missing the milestone to clear.", "milestone clear KIND")
        if extra:
            raise _Invalid("`milestone clear` takes only the milestone.", "milestone clear KIND")
        return ClearMilestone(_parse_milestone_kind(kind_word, "milestone clear KIND"))
    kind = _parse_milestone_kind(word, MILESTONE_USAGE)
    if not args:
        return SetMilestone(kind, None)
    when, text = parse_when(args, usage=MILESTONE_USAGE)
    if text:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise _Invalid(
            f"`milestone` takes the kind and a time, not `{shown}`; put words on the "
            "timeline with `note TEXT`.",
            MILESTONE_USAGE,
        )
    return SetMilestone(kind, when)


_MILESTONE_KINDS = (
    "started (impact), detected (noticed, alerted), identified (diagnosed), "
    "mitigated (restored, recovered), resolved (fixed)"
)


def _parse_milestone_kind(word: str, usage: str) -> MilestoneKind:
    lowered = word.lower()
    kind = MILESTONE_ALIASES.get(lowered)
    if kind is not None:
        return kind
    if lowered in ("declared", "declare", "declaration"):
        raise _Invalid(
            "Declared is recorded by `start` itself, at the moment the incident was "
            f"declared, and does not move. Milestones: {_MILESTONE_KINDS}.",
            usage,
        )
    close = difflib.get_close_matches(lowered, list(MILESTONE_ALIASES), n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    shown = word if len(word) <= 40 else word[:40] + "…"
    raise _Invalid(f"Unknown milestone `{shown}`.{hint} Milestones: {_MILESTONE_KINDS}.", usage)


def _parse_action(rest: str, mention: MentionParser) -> Command:
    if not rest:
        raise _Invalid("Missing the action item's text.")
    sub, args = _split_first(rest)
    if sub.lower() == "done" and re.fullmatch(r"#?[0-9]+", args.strip() or "x"):
        return CompleteAction(_parse_number(args.strip(), "action item", "action done N"))
    if sub.lower() == "done" and not args:
        raise _Invalid("Missing the action item number.", "action done N")
    words = rest.split()
    owner: UserRef | None = None
    if len(words) > 1:
        last = words[-1]
        owner_id = mention(last)
        if owner_id is not None:
            limits.check_person(owner_id)
            owner = owner_id
            rest = rest[: rest.rstrip().rfind(last)].strip()
    limits.check_action_text(rest)
    return AddAction(rest, owner)


def _parse_template(rest: str, mention: MentionParser) -> Command:
    name, extra = _split_first(rest)
    if not name:
        raise _Invalid("Missing the template name; `templates` lists them.")
    if extra:
        raise _Invalid("`template` takes one name; `templates` lists them.")
    return UseTemplate(name.lower())


def _parse_export(rest: str, mention: MentionParser) -> Command:
    template: str | None = None
    fmt: str | None = None
    for word in rest.split():
        lowered = word.lower()
        if lowered in FORMATS:
            if fmt is not None:
                raise _Invalid("Name one format: md, html or docx.")
            fmt = lowered
        elif template is None:
            template = lowered
        else:
            raise _Invalid(f"`{word}`: export takes at most a template and a format.")
    return Export(template, fmt)


def _parse_help(rest: str, mention: MentionParser) -> Command:
    topic = rest.split()[0].lower() if rest else None
    if topic is not None and topic not in USAGES:
        raise _unknown_help(topic)
    return Help(topic)


def _unknown_help(topic: str) -> _Invalid:
    shown = topic if len(topic) <= 40 else topic[:40] + "…"
    return _Invalid(f"No command `{shown}`. Commands: {', '.join(USAGES)}.", "help [COMMAND]")


def _parse_remind(rest: str, mention: MentionParser) -> Command:
    if not rest:
        return ShowReminders()
    sub, args = _split_first(rest)
    sub = sub.lower()
    if sub in ("off", "on"):
        if args:
            raise _Invalid(f"`remind {sub}` takes no arguments.", f"remind {sub}")
        return RemindersOff() if sub == "off" else RemindersOn()
    if sub == "snooze":
        usage = "remind snooze DURATION"
        if not args:
            raise _Invalid(f"Missing how long to snooze: {DURATION_FORMS}.", usage)
        duration = parse_duration(args)
        if duration is None:
            shown = args if len(args) <= 40 else args[:40] + "…"
            raise _Invalid(f"`{shown}` is not a duration; write {DURATION_FORMS}.", usage)
        return SnoozeReminders(duration)
    shown = sub if len(sub) <= 40 else sub[:40] + "…"
    raise _Invalid(f"Unknown `remind` subcommand `{shown}`; use snooze, off or on.")


_HANDLERS: dict[str, Callable[[str, MentionParser], Command]] = {
    "start": _parse_start,
    "declare": _parse_start,
    "role": _parse_role,
    "roles": _no_arguments(ListRoles(), "roles"),
    "severity": _parse_severity,
    "sev": _parse_severity,
    "status": _parse_status,
    "note": _parse_note,
    "timeline": _parse_timeline,
    "set": _parse_set,
    "append": _parse_append,
    "clear": _parse_clear,
    "sections": _no_arguments(ListSections(), "sections"),
    "action": _parse_action,
    "actions": _no_arguments(ListActions(), "actions"),
    "template": _parse_template,
    "templates": _no_arguments(ListTemplates(), "templates"),
    "resolve": _no_arguments(Resolve(), "resolve"),
    "close": _no_arguments(Close(), "close"),
    "reopen": _no_arguments(Reopen(), "reopen"),
    "export": _parse_export,
    "help": _parse_help,
    "remind": _parse_remind,
    "milestone": _parse_milestone,
    "milestones": _no_arguments(ListMilestones(), "milestones"),
}
