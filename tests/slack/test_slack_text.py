"""Slack markup both ways, and the Slack settings: the adapter's pure parts."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from adapters.config import ConfigError
from adapters.slack.handlers import message_time
from adapters.slack.platform import DisplayNames, SlackPlatform
from adapters.slack.settings import slack_settings
from adapters.slack.text import (
    blocks,
    command_text,
    escape,
    link_channels,
    mentioned_users,
    own_mention,
    plain_text,
)
from bot.commands import AssignRole, ParseError, parse
from bot.domain import Role
from bot.mentions import WORD_JOINER, resolve, users_in

NAMES = {"U1": "Ada Lovelace", "U2": "Bob Martin"}.__getitem__


def test_plain_text_keeps_people_as_references_and_unescapes() -> None:
    text = "<@U1> asked <@U2|bob> in <#C9|ops> about <https://x.test/a|the graph> &amp; 1 &lt; 2"
    kept = plain_text(text)
    assert kept == "@{@U1} asked @{@U2} in #ops about the graph (https://x.test/a) & 1 < 2"
    # Rendered later with whatever the names are then.
    assert resolve(kept, NAMES) == (
        "@Ada Lovelace asked @Bob Martin in #ops about the graph (https://x.test/a) & 1 < 2"
    )
    assert plain_text("<!here> see <https://x.test>") == "@here see https://x.test"


def test_a_typed_reference_look_alike_stays_text() -> None:
    # Someone types the core's reference form by hand, directly or put together from
    # two of Slack's tokens: it reads back as typed and resolves to nobody.
    for typed in ("ask {@U1} now", "ask {<!here>} now", "&lt;{@U2}&gt;"):
        kept = plain_text(typed)
        assert users_in(kept) == []
        assert resolve(kept, NAMES).replace(WORD_JOINER, "") == (
            typed.replace("&lt;", "<").replace("&gt;", ">").replace("<!here>", "@here")
        )
    # A real mention right after a typed brace is still that person.
    assert users_in(plain_text("{<@U1>}")) == ["U1"]
    assert resolve(plain_text("{<@U1>}"), NAMES).replace(WORD_JOINER, "") == "{@Ada Lovelace}"


def test_command_text_keeps_the_mention_the_parser_reads() -> None:
    assert command_text("role comms <@U2|bob>") == "role comms <@U2>"
    assert command_text("action Ask <@U1> about it <@U2>") == (
        "action Ask @{@U1} about it <@U2>"
    )
    assert command_text("note <@U1> restarted db-2") == "note @{@U1} restarted db-2"
    assert mentioned_users("start DB down <@U2|bob> <@U1> <@U2>") == ["U2", "U1"]


def test_the_new_channel_is_linked_by_id() -> None:
    linked = link_channels("Join #inc-3-db. Not #inc-3-db-2.", {"inc-3-db": "C7"})
    assert escape(linked) == "Join <#C7>. Not #inc-3-db-2."


def test_replies_cannot_ping_everyone_or_forge_links() -> None:
    said = f"{own_mention('U1')} noted “<!channel> <https://evil.test|bank> <@UCEO> <#C9>” & more"
    assert escape(said) == (
        "<@U1> noted “&lt;!channel&gt; &lt;https://evil.test|bank&gt; &lt;@UCEO&gt; &lt;#C9&gt;”"
        " &amp; more"
    )


def test_typed_mentions_and_marks_stay_text() -> None:
    typed = plain_text("ask &lt;@UCEO&gt; and \ue000@UCFO\ue000 now")
    assert escape(typed) == "ask &lt;@UCEO&gt; and @UCFO now"


def test_blocks_put_a_summary_under_a_header_with_names() -> None:
    rendered = blocks(f"Incident 3: DB down\nCommander: {own_mention('U1')}.", NAMES)
    assert rendered[0] == {"type": "header", "text": {"type": "plain_text",
                                                      "text": "Incident 3: DB down"}}
    assert rendered[1]["text"] == {"type": "mrkdwn", "text": "Commander: <@U1>."}
    error = blocks("Incident 3: no such thing\nUsage: x", NAMES, is_error=True)
    assert all(block["type"] == "section" for block in error)


def test_long_replies_are_split_into_sections_slack_accepts() -> None:
    text = "Timeline:\n" + "\n".join(f"#{n} " + "x" * 200 for n in range(60))
    rendered = blocks(text, NAMES)
    sections = [b["text"]["text"] for b in rendered if b["type"] == "section"]
    assert all(len(s) <= 3000 for s in sections)
    assert "\n".join(sections).count("#") == 60


def test_message_time_keeps_microseconds() -> None:
    moment = message_time("1729757340.000200")
    assert moment.isoformat() == "2024-10-24T08:09:00.000200+00:00"


def test_slack_is_off_without_a_bot_token() -> None:
    assert slack_settings({}) is None


def test_socket_mode_when_an_app_token_is_set() -> None:
    settings = slack_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert settings is not None and settings.mode == "socket"
    assert "xoxb-1" not in repr(settings) and "xapp-1" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "xapp-1", "SLACK_APP_TOKEN": "xapp-1"}, "starts with `xoxb-`"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-1"}, "starts with `xapp-`"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
          "INCIDENT_BOT_SLACK_PORT": "http"}, "not a port number"),
    ],
)
def test_settings_that_cannot_work_say_how_to_fix_them(
    environ: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigError, match=says.replace("`", ".")):
        slack_settings(environ)


def test_start_invites_everyone_it_mentions_and_keeps_people_in_the_title() -> None:
    assert command_text("start DB down, cc <@U2|bob>") == (
        "start DB down, cc @{@U2} --invite <@U2>"
    )
    assert command_text("start DB down --invite <@U1> <@U2>") == (
        "start DB down --invite <@U1> <@U2>"
    )
    # A word that names nobody stays, so the core can say what was wrong with it.
    assert command_text("start DB down --invite bob") == "start DB down --invite bob"



def test_the_parser_reads_slack_mentions_only() -> None:
    client = WebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/")
    platform = SlackPlatform(client=client, names=DisplayNames(client))
    assert parse("role reporter <@U024BE7LH|jonas>", mention=platform.parse_mention) == (
        AssignRole(Role.REPORTING, "U024BE7LH")
    )
    # `@jonas` typed by hand is text Slack matched to nobody: explained, not guessed.
    refused = parse("role reporter @jonas", mention=platform.parse_mention)
    assert isinstance(refused, ParseError) and "`@jonas` is not a mention" in refused.message


def test_a_multi_line_command_keeps_its_lines_and_markdown() -> None:
    typed = "set impact - `api` down, see [PR-7](&lt;https://x.example/7&gt;)\n- web slow"
    assert command_text(typed) == (
        "set impact - `api` down, see [PR-7](<https://x.example/7>)\n- web slow"
    )
