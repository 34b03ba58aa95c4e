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
