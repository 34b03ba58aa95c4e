"""Matrix text handling without a homeserver: mentions, pills, commands, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.config import ConfigError
from adapters.matrix.render import command_text, message_text, notice, parse_mention
from adapters.matrix.render import parse_mention as parse_matrix_mention
from adapters.matrix.settings import matrix_settings
from bot.commands import ParseError, Start, parse
from bot.mentions import WORD_JOINER, resolve, users_in


def names(user: str) -> str:
    return {"@per:example.org": "Per Olsen"}.get(user, user)


def test_a_mention_is_a_full_user_id_or_a_link_to_one() -> None:
    assert parse_mention("@per:example.org") == "@per:example.org"
    assert parse_mention("@per:localhost:8448") == "@per:localhost:8448"
    assert parse_mention("https://matrix.to/#/@per:example.org") == "@per:example.org"
    assert parse_mention("https://matrix.to/#/%40per%3Aexample.org") == "@per:example.org"
    assert parse_mention("@per") is None
    assert parse_mention("https://matrix.to/#/!room:example.org") is None
    assert parse_mention("me") is None


def test_a_pill_in_the_formatted_body_becomes_a_reference_to_the_user_it_links() -> None:
    content = {
        "body": "!incident role comms Per Olsen",
        "format": "org.matrix.custom.html",
        "formatted_body": '!incident role comms <a href="https://matrix.to/#/@per:example.org">'
        "Per Olsen</a>",
    }
    assert command_text(content) == "role comms {@@per:example.org}"


def test_people_in_free_text_are_references_resolved_to_current_names() -> None:
    pill = '<a href="https://matrix.to/#/@per:example.org">Per</a>'
    formatted = {
        "body": "Per: failing over. cc @ola:example.org.",
        "format": "org.matrix.custom.html",
        "formatted_body": f"{pill}: failing over. cc @ola:example.org.",
    }
    kept = message_text(formatted)
    assert kept == "{@@per:example.org}: failing over. cc {@@ola:example.org}."
    assert users_in(kept) == ["@per:example.org", "@ola:example.org"]
    assert resolve(kept, names) == "Per Olsen: failing over. cc @ola:example.org."
    assert message_text({"body": "ask @per:example.org now"}) == "ask {@@per:example.org} now"


def test_a_typed_reference_look_alike_stays_text() -> None:
    for content in (
        {"body": "forged {@@per:example.org} and {@UCEO}"},
        {"body": "x", "format": "org.matrix.custom.html",
         "formatted_body": "forged {<b>@UCEO</b>}"},
    ):
        kept = message_text(content)
        assert "UCEO" in kept and "@UCEO" not in users_in(kept)
        assert resolve(kept, names).replace(WORD_JOINER, "").startswith("forged {")


def test_markdown_and_lines_typed_in_element_reach_the_core_as_typed() -> None:
    # Element sends what was typed as `body` and its rendering as `formatted_body`: the
    # lines, list markers, backticks and link syntax are in the body only.
    content = {
        "body": "!incident set impact - `api` down for [Per](https://x.example)\n- web slow",
        "format": "org.matrix.custom.html",
        "formatted_body": "<p>!incident set impact</p><ul><li><code>api</code> down for "
        '<a href="https://x.example">Per</a></li><li>web slow</li></ul>',
    }
    assert command_text(content) == (
        "set impact - `api` down for [Per](https://x.example)\n- web slow"
    )
    with_pill = {
        "body": "!incident action **Fix** the `cert` job\nsoon Per Olsen",
        "format": "org.matrix.custom.html",
        "formatted_body": "!incident action <strong>Fix</strong> the <code>cert</code> job<br>"
        'soon <a href="https://matrix.to/#/@per:example.org">Per Olsen</a>',
    }
    assert command_text(with_pill) == "action **Fix** the `cert` job\nsoon {@@per:example.org}"


def test_a_reply_quotes_no_command_and_plain_bodies_work() -> None:
    assert command_text({"body": "!incident severity 2"}) == "severity 2"
    assert command_text({"body": "!INCIDENT   help"}) == "help"
    assert command_text({"body": "!incident"}) == ""
    assert command_text({"body": "please run !incident start"}) is None
    quoted = {"body": "> <@a:x> !incident start Old\n\nthanks"}
    assert command_text(quoted) is None
    rich_reply = {
        "body": "> <@a:x> hi\n\n!incident note reply",
        "format": "org.matrix.custom.html",
        "formatted_body": "<mx-reply><blockquote>!incident start Old</blockquote></mx-reply>"
        "!incident note reply",
    }
    assert command_text(rich_reply) == "note reply"


def test_replies_render_pills_code_and_html_safely() -> None:
    content = notice(
        "@per:example.org is now Communications Lead. Use `!incident roles` <b>x</b>\nnext",
        name_of=names,
        room_links={},
    )
    assert content["msgtype"] == "m.notice"
    assert content["body"].startswith("@per:example.org is now")
    html = content["formatted_body"]
    assert '<a href="https://matrix.to/#/@per:example.org">Per Olsen</a>' in html
    assert "<code>!incident roles</code>" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html
    assert "<br/>next" in html
    assert content["m.mentions"] == {"user_ids": ["@per:example.org"]}


def test_the_new_room_is_linked_from_the_room_it_was_declared_in() -> None:
    content = notice("Join #inc-3-db-down.", name_of=names, room_links={"inc-3-db-down": "!r:x"})
    assert '<a href="https://matrix.to/#/!r:x">#inc-3-db-down</a>.' in content["formatted_body"]


def test_start_takes_people_to_invite_as_matrix_ids() -> None:
    # The core's grammar reads `--invite`; Matrix mentions are full user ids.
    parsed = parse("start DB down --invite @a:x @b:y", mention=parse_matrix_mention)
    assert parsed == Start("DB down", ("@a:x", "@b:y"))
    assert parse("start DB down", mention=parse_matrix_mention) == Start("DB down")
    refused = parse("start DB down --invite bob", mention=parse_matrix_mention)
    assert isinstance(refused, ParseError) and "`bob` is not one" in refused.message
    empty = parse("start DB down --invite", mention=parse_matrix_mention)
    assert isinstance(empty, ParseError) and "Name someone after `--invite`" in empty.message


def test_settings_need_credentials_and_default_to_the_bots_own_server(tmp_path: Path) -> None:
    assert matrix_settings({}) is None
    base = {"MATRIX_HOMESERVER": "https://matrix.example.org", "MATRIX_USER_ID": "@bot:example.org"}
    with pytest.raises(ConfigError, match="MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD"):
        matrix_settings(base)
    with pytest.raises(ConfigError, match="full Matrix user id"):
        matrix_settings({**base, "MATRIX_USER_ID": "bot", "MATRIX_PASSWORD": "pw"})
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    settings = matrix_settings({**base, "MATRIX_ACCESS_TOKEN_FILE": str(secret)})
    assert settings is not None
    assert settings.access_token == "s3cret-token"
    assert "s3cret" not in repr(settings)
    assert settings.encrypt_rooms is True
    assert settings.store == Path("matrix-store")
    assert settings.may_invite("@alice:example.org")
    assert not settings.may_invite("@mallory:evil.example")
    assert not settings.may_invite("@mallory:notexample.org")


def test_the_allow_list_takes_user_ids_and_server_suffixes() -> None:
    settings = matrix_settings(
        {
            "MATRIX_HOMESERVER": "https://m.example.org",
            "MATRIX_USER_ID": "@bot:example.org",
            "MATRIX_PASSWORD": "pw",
            "INCIDENT_BOT_MATRIX_ALLOWED_INVITERS": "@ops:partner.org, :example.com",
            "INCIDENT_BOT_MATRIX_ENCRYPT_ROOMS": "false",
        }
    )
    assert settings is not None
    assert settings.encrypt_rooms is False
    assert settings.may_invite("@ops:partner.org")
    assert settings.may_invite("@anyone:example.com")
    assert not settings.may_invite("@bob:example.org")
    with pytest.raises(ConfigError, match="neither a user id"):
        matrix_settings(
            {
                "MATRIX_HOMESERVER": "https://m.example.org",
                "MATRIX_USER_ID": "@bot:example.org",
                "MATRIX_PASSWORD": "pw",
                "INCIDENT_BOT_MATRIX_ALLOWED_INVITERS": "partner.org",
            }
        )


def test_the_backfill_limit_is_a_whole_number_of_events() -> None:
    base = {
        "MATRIX_HOMESERVER": "https://m.example.org",
        "MATRIX_USER_ID": "@bot:example.org",
        "MATRIX_PASSWORD": "pw",
    }
    settings = matrix_settings(base)
    assert settings is not None and settings.backfill_limit == 10_000
    settings = matrix_settings({**base, "INCIDENT_BOT_MATRIX_BACKFILL_LIMIT": "250"})
    assert settings is not None and settings.backfill_limit == 250
    for wrong in ("lots", "-1", "1e4"):
        with pytest.raises(ConfigError, match="BACKFILL_LIMIT must be a whole number"):
            matrix_settings({**base, "INCIDENT_BOT_MATRIX_BACKFILL_LIMIT": wrong})


def test_the_sync_lease_is_a_duration_of_at_least_3_s() -> None:
    base = {
        "MATRIX_HOMESERVER": "https://m.example.org",
        "MATRIX_USER_ID": "@bot:example.org",
        "MATRIX_PASSWORD": "pw",
    }
    settings = matrix_settings(base)
    assert settings is not None and settings.lease_seconds == 15.0
    settings = matrix_settings({**base, "INCIDENT_BOT_MATRIX_LEASE": "1m"})
    assert settings is not None and settings.lease_seconds == 60.0
    for wrong in ("soon", "2s", "15"):
        with pytest.raises(ConfigError, match=r"INCIDENT_BOT_MATRIX_LEASE: .* at least 3s; write"):
            matrix_settings({**base, "INCIDENT_BOT_MATRIX_LEASE": wrong})
