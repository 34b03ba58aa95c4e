"""Settings: environment over TOML file over defaults; secrets from files; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.config import ConfigError, load_settings, mask_url


def test_defaults_are_sqlite_in_the_working_directory_and_utc() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite:///incident-bot.db"
    assert settings.timezone.key == "UTC"
    assert settings.drafts_dir == Path("drafts")
    assert settings.declarer_is_commander


def test_the_environment_wins_over_the_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        'timezone = "Europe/Oslo"\ndrafts_dir = "/srv/drafts"\ndeclarer_is_commander = false\n'
    )
    settings = load_settings(
        {"INCIDENT_BOT_CONFIG": str(config), "INCIDENT_BOT_TIMEZONE": "America/New_York"}
    )
    assert settings.timezone.key == "America/New_York"
    assert settings.drafts_dir == Path("/srv/drafts")
    assert settings.declarer_is_commander is False


def test_a_secret_can_come_from_a_file_and_is_masked_when_shown(tmp_path: Path) -> None:
    secret = tmp_path / "db-url"
    secret.write_text("postgresql://bot:hunter2@127.0.0.1:5432/incidents\n")
    settings = load_settings({"INCIDENT_BOT_DATABASE_URL_FILE": str(secret)})
    assert settings.database_url == "postgresql://bot:hunter2@127.0.0.1:5432/incidents"
    shown = "\n".join(f"{key} = {value}" for key, value in settings.describe())
    assert "hunter2" not in shown and "postgresql://bot:***@127.0.0.1:5432/incidents" in shown
    assert mask_url("sqlite:///incident-bot.db") == "sqlite:///incident-bot.db"


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"INCIDENT_BOT_TIMEZONE": "Mars/Olympus"}, "`Mars/Olympus` is not a known time zone"),
        ({"INCIDENT_BOT_DECLARER_IS_COMMANDER": "maybe"}, "`maybe` is not true or false"),
        ({"INCIDENT_BOT_CONFIG": "/nonexistent/bot.toml"}, "cannot be read"),
        ({"INCIDENT_BOT_DATABASE_URL_FILE": "/nonexistent/url"}, "cannot be read"),
        ({"INCIDENT_BOT_INBOX_SYNC": "sometimes"}, "`sometimes` is not an inbox durability; "
         "write normal"),
    ],
)
def test_bad_settings_are_named(environ: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(environ)


def test_a_broken_toml_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text("timezone = \n")
    with pytest.raises(ConfigError, match=r"bot\.toml: not valid TOML"):
        load_settings({"INCIDENT_BOT_CONFIG": str(config)})


def test_ticket_patterns_come_from_a_toml_list_or_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        "ticket_patterns = ['WR#(\\d+)', 'OPS-\\d+']\n"
        'ticket_url = "https://wrms.example.org/wr.php?request_id={id}"\n'
    )
    from_file = load_settings({"INCIDENT_BOT_CONFIG": str(config)}).links
    assert [p.pattern for p in from_file.ticket_patterns] == ["WR#(\\d+)", "OPS-\\d+"]
    assert from_file.ticket_url == "https://wrms.example.org/wr.php?request_id={id}"
    from_env = load_settings(
        {"INCIDENT_BOT_CONFIG": str(config), "INCIDENT_BOT_TICKET_PATTERNS": "INC\\d+ CHG\\d+"}
    ).links
    assert [p.pattern for p in from_env.ticket_patterns] == ["INC\\d+", "CHG\\d+"]
    assert load_settings({}).links.ticket_patterns == ()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"INCIDENT_BOT_TICKET_PATTERNS": "WR#(\\d+"}, "`WR#(\\d+` is not a regular expression"),
        ({"INCIDENT_BOT_TICKET_PATTERNS": "\\d*"}, "matches empty text"),
        ({"INCIDENT_BOT_TICKET_URL": "javascript:alert(1)"}, "is not an http(s) URL"),
    ],
)
def test_a_bad_ticket_setting_says_what_to_write(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match="ticket_") as problem:
        load_settings(environ)
    assert message in str(problem.value)


def test_template_options_set_every_templates_or_one_templates_values(tmp_path: Path) -> None:
    from adapters.bootstrap import load_templates

    config = tmp_path / "bot.toml"
    config.write_text(
        "[template_options]\n"
        'organisation = "Catalyst IT Europe Limited"\n'
        "[template_options.blog]\n"
        'category = "deployments"\n'
    )
    settings = load_settings({"INCIDENT_BOT_CONFIG": str(config)})
    registry = load_templates(settings)
    report, blog = registry.get("report"), registry.get("blog")
    assert report is not None and blog is not None
    assert report.options["organisation"] == "Catalyst IT Europe Limited"
    assert report.options["classification"] == "Internal use only"  # the template's own
    assert blog.options["category"] == "deployments" and blog.options["layout"] == "post"
    shown = dict(settings.describe())
    assert shown["template_options.blog.category"] == "deployments"


def test_bad_template_options_say_how_to_write_them(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text("template_options = [1, 2]\n")
    with pytest.raises(ConfigError, match=r"template_options: a table of text values"):
        load_settings({"INCIDENT_BOT_CONFIG": str(config)})
