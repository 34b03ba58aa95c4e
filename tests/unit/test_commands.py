"""The command grammar: what people type and what the bot understands or explains."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import commands as c
from bot.domain import MilestoneKind, Role, Status


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("start Checkout returns 502", c.Start("Checkout returns 502")),
        ("role comms @jonas", c.AssignRole(Role.COMMS, "jonas")),
        ("role IC me", c.AssignRole(Role.COMMANDER, c.ME)),
        ("role lead @a", c.AssignRole(Role.COMMANDER, "a")),
        ("role communications @a", c.AssignRole(Role.COMMS, "a")),
        ("role operations @a", c.AssignRole(Role.OPS, "a")),
        ("role scribe @a", c.AssignRole(Role.REPORTING, "a")),
        ("roles", c.ListRoles()),
        ("severity 2", c.SetSeverity(2)),
        ("severity SEV-1", c.SetSeverity(1)),
        ("status Monitoring", c.SetStatus(Status.MONITORING)),
        ("note Rollback finished", c.AddNote("Rollback finished")),
        (
            "timeline add 13:40 Rotation ran",
            c.AddBackdated(c.When(None, time(13, 40), None), "Rotation ran"),
        ),
        (
            "timeline add 2025-03-04 13:40:15 x",
            c.AddBackdated(c.When(date(2025, 3, 4), time(13, 40, 15), None), "x"),
        ),
        (
            "timeline add 13:40Z x",
            c.AddBackdated(c.When(None, time(13, 40), timedelta(0)), "x"),
        ),
        (
            "timeline add 13:40 UTC x",
            c.AddBackdated(c.When(None, time(13, 40), timedelta(0)), "x"),
        ),
        (
            "timeline add 2025-03-04 13:40 -05:30 x",
            c.AddBackdated(
                c.When(date(2025, 3, 4), time(13, 40), -timedelta(hours=5, minutes=30)), "x"
            ),
        ),
        ("timeline", c.ShowTimeline()),
        ("timeline remove #3", c.RemoveEntry(3)),
        ("timeline edit 4 Better words", c.EditEntry(4, "Better words")),
        ("set root_cause The chain", c.SetSection("root-cause", "The chain")),
        ("append summary More", c.AppendSection("summary", "More")),
        ("clear impact", c.ClearSection("impact")),
        ("sections", c.ListSections()),
        ("action Validate the chain @li", c.AddAction("Validate the chain", "li")),
        ("action Call @li about it", c.AddAction("Call @li about it", None)),
        ("action done 2", c.CompleteAction(2)),
        ("actions", c.ListActions()),
        ("template retro", c.UseTemplate("retro")),
        ("templates", c.ListTemplates()),
        ("resolve", c.Resolve()),
        ("close", c.Close()),
        ("reopen", c.Reopen()),
        ("export", c.Export(None, None)),
        ("export md retro", c.Export("retro", "md")),
        ("help", c.Help(None)),
        ("help timeline", c.Help("timeline")),
    ],
)
def test_commands_people_write_are_understood(line: str, expected: c.Command) -> None:
    assert c.parse(line) == expected


@pytest.mark.parametrize(
    ("line", "says", "usage"),
    [
        ("frobnicate", "Unknown command `frobnicate`", "help [COMMAND]"),
        ("rol comms @a", "Did you mean `role`?", "help [COMMAND]"),
        ("role captain @a", "Unknown role `captain`", "role ROLE @user"),
        ("role comms", "Missing the person", "role ROLE @user"),
        ("role comms jonas", "`jonas` is not a mention", "role ROLE @user"),
        ("severity 5", "from 1 (worst) to 4", "severity 1..4"),
        ("severity", "Missing the severity", "severity 1..4"),
        ("status fixed", "Unknown status `fixed`", "status investigating"),
        ("note", "Missing the note's text", "note TEXT"),
        ("timeline add 25:00 late", "`25:00` is not a time of day", "timeline add WHEN TEXT"),
        ("timeline add 2025-02-30 10:00 x", "`2025-02-30` is not a real date", "timeline add"),
        ("timeline add yesterday x", "`yesterday` is not a time", "timeline add WHEN TEXT"),
        ("timeline add 13:40", "Missing the entry's text", "timeline add WHEN TEXT"),
        ("timeline add 13:40+15:00 x", "is not a UTC offset", "timeline add WHEN TEXT"),
        ("timeline remove", "Missing the entry number", "timeline remove N"),
        ("timeline remove two", "`two` is not an entry number", "timeline remove N"),
        ("timeline purge", "Unknown `timeline` subcommand `purge`", "timeline add WHEN TEXT"),
        ("set rootcause x", "Did you mean `root-cause`?", "set SECTION TEXT"),
        ("set timeline x", "is generated", "set SECTION TEXT"),
        ("set summary", "Missing the text for `summary`", "set SECTION TEXT"),
        ("clear", "Missing the section", "clear SECTION"),
        ("action", "Missing the action item's text", "action TEXT [@owner]"),
        ("action done", "Missing the action item number", "action done N"),
        ("template", "Missing the template name", "template NAME"),
        ("export md html", "Name one format", "export [TEMPLATE]"),
        ("roles everyone", "takes no arguments", "roles"),
        ("help nothing", "No command `nothing`", "help [COMMAND]"),
        ("", "No command given", "help [COMMAND]"),
    ],
)
def test_mistakes_are_explained_with_the_right_usage(line: str, says: str, usage: str) -> None:
    result = c.parse(line)
    assert isinstance(result, c.ParseError), result
    assert says in result.message
    assert usage in result.usage


def test_every_command_has_a_usage_and_summary() -> None:
    for name, usage in c.USAGES.items():
        assert usage.forms and all(form.split()[0] == name for form in usage.forms)
        assert usage.summary


words = st.sampled_from(
    [
        *c.USAGES, "timeline add", "timeline remove", "timeline edit", "action done",
        "role comms", "milestone clear", "milestone started",
    ]
)


@settings(max_examples=400)
@given(st.text())
def test_any_text_parses_to_a_command_or_an_explained_error(line: str) -> None:
    result = c.parse(line)
    if isinstance(result, c.ParseError):
        assert result.message.strip() and result.usage.strip()


@settings(max_examples=600)
@given(words, st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_any_arguments_to_a_known_command_never_raise(command: str, rest: str) -> None:
    result = c.parse(f"{command} {rest}")
    if isinstance(result, c.ParseError):
        assert result.message.strip() and result.usage.strip()
    else:
        assert type(result).__name__ in {t.__name__ for t in c.Command.__args__}  # type: ignore[attr-defined]


@given(st.from_regex(r"timeline add [0-9]{1,2}:[0-9]{2}(:[0-9]{2})? [a-z]{1,8}", fullmatch=True))
def test_times_of_day_are_accepted_exactly_when_they_exist(line: str) -> None:
    clock = line.split()[2]
    parts = [int(part) for part in clock.split(":")]
    real = parts[0] <= 23 and all(part <= 59 for part in parts[1:])
    result = c.parse(line)
    assert isinstance(result, c.AddBackdated) == real


def test_multi_line_set_and_append_keep_their_lines() -> None:
    assert c.parse("set impact - `api` down\n- web slow\n\n| a | b |") == c.SetSection(
        "impact", "- `api` down\n- web slow\n\n| a | b |"
    )
    assert c.parse("append impact\n- one more") == c.AppendSection("impact", "- one more")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("milestone", c.ListMilestones()),
        ("milestones", c.ListMilestones()),
        ("milestone started", c.SetMilestone(MilestoneKind.STARTED, None)),
        (
            "milestone impact 04:45",
            c.SetMilestone(MilestoneKind.STARTED, c.When(None, time(4, 45), None)),
        ),
        (
            "milestone Detected 2024-10-24 08:07:30 Z",
            c.SetMilestone(
                MilestoneKind.DETECTED, c.When(date(2024, 10, 24), time(8, 7, 30), timedelta(0))
            ),
        ),
        (
            "milestone restored 09:15+01:00",
            c.SetMilestone(
                MilestoneKind.MITIGATED, c.When(None, time(9, 15), timedelta(hours=1))
            ),
        ),
        ("milestone diagnosed", c.SetMilestone(MilestoneKind.IDENTIFIED, None)),
        ("milestone fixed", c.SetMilestone(MilestoneKind.RESOLVED, None)),
        ("milestone clear mitigated", c.ClearMilestone(MilestoneKind.MITIGATED)),
    ],
)
def test_milestones_people_write_are_understood(line: str, expected: c.Command) -> None:
    assert c.parse(line) == expected


@pytest.mark.parametrize(
    ("line", "says", "usage"),
    [
        ("milestone happened", "Unknown milestone `happened`", "milestone KIND [WHEN]"),
        ("milestone mitigatd", "Did you mean `mitigated`?", "milestone KIND [WHEN]"),
        ("milestone declared 10:34", "Declared is recorded by `start`", "milestone KIND"),
        ("milestone started 24:10", "`24:10` is not a time of day", "milestone KIND [WHEN]"),
        ("milestone started yesterday", "`yesterday` is not a time", "milestone KIND [WHEN]"),
        ("milestone started 04:45 metric dropped", "put words on the timeline", "milestone"),
        ("milestone clear", "Missing the milestone to clear", "milestone clear KIND"),
        ("milestone clear started now", "takes only the milestone", "milestone clear KIND"),
        ("milestones all", "takes no arguments", "milestones"),
    ],
)
def test_milestone_mistakes_are_explained(line: str, says: str, usage: str) -> None:
    result = c.parse(line)
    assert isinstance(result, c.ParseError), result
    assert says in result.message
    assert usage in result.usage


FIELDS = frozenset({"customers-impacted", "support-cases"})


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("set customers-impacted All", c.SetField("customers-impacted", "All")),
        ("set Customers_Impacted one region", c.SetField("customers-impacted", "one region")),
        ("clear support-cases", c.ClearField("support-cases")),
        ("set summary Still a section", c.SetSection("summary", "Still a section")),
    ],
)
def test_fields_are_set_like_sections(line: str, expected: c.Command) -> None:
    assert c.parse(line, fields=FIELDS) == expected


@pytest.mark.parametrize(
    ("line", "says", "usage"),
    [
        ("append customers-impacted more", "is a field, one cell", "set FIELD TEXT"),
        ("set support-cases", "Missing the text for `support-cases`", "set FIELD TEXT"),
        ("clear support-cases now", "takes only the field", "clear FIELD"),
        ("set customer x", "Fields: customers-impacted, support-cases.", "set SECTION TEXT"),
    ],
)
def test_field_mistakes_are_explained(line: str, says: str, usage: str) -> None:
    result = c.parse(line, fields=FIELDS)
    assert isinstance(result, c.ParseError), result
    assert says in result.message
    assert usage in result.usage


def test_without_fields_a_field_id_is_an_unknown_section() -> None:
    result = c.parse("set customers-impacted All")
    assert isinstance(result, c.ParseError) and "Unknown section" in result.message


@settings(max_examples=300)
@given(
    st.sampled_from(["milestone", "milestone clear", "set", "append", "clear"]),
    st.sampled_from(["", "started", "detected", "customers-impacted", "declared", "impact"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
)
def test_any_milestone_or_field_line_never_raises(command: str, word: str, rest: str) -> None:
    result = c.parse(f"{command} {word} {rest}", fields=FIELDS)
    if isinstance(result, c.ParseError):
        assert result.message.strip() and result.usage.strip()
    else:
        assert type(result).__name__ in {t.__name__ for t in c.Command.__args__}  # type: ignore[attr-defined]
