"""The reminder settings: INCIDENT_BOT_REMIND_… from the environment, checked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.config import ConfigError, load_settings
from bot.reminders import ReminderRules


def test_defaults_match_the_issue() -> None:
    settings = load_settings({})
    assert settings.reminder_rules() == ReminderRules(
        no_commander_after=timedelta(minutes=10),
        status_every=timedelta(minutes=30),
        sections_after=timedelta(hours=24),
        sections_every=timedelta(days=1),
        sections_max=5,
    )
    assert dict(settings.describe())["remind_sections_every"] == "1d"
    assert settings.remind_sweep_interval == timedelta(seconds=5)


def test_durations_and_counts_come_from_the_environment() -> None:
    settings = load_settings(
        {
            "INCIDENT_BOT_REMIND_NO_COMMANDER_AFTER": "5m",
            "INCIDENT_BOT_REMIND_STATUS_EVERY": "1h",
            "INCIDENT_BOT_REMIND_SECTIONS_AFTER": "2d",
            "INCIDENT_BOT_REMIND_SECTIONS_EVERY": "12h",
            "INCIDENT_BOT_REMIND_SECTIONS_MAX": "3",
            "INCIDENT_BOT_REMIND_SWEEP_INTERVAL": "10s",
        }
    )
    rules = settings.reminder_rules()
    assert rules.no_commander_after == timedelta(minutes=5)
    assert rules.status_every == timedelta(hours=1)
    assert rules.sections_after == timedelta(days=2)
    assert rules.sections_every == timedelta(hours=12)
    assert rules.sections_max == 3
    assert settings.remind_sweep_interval == timedelta(seconds=10)
    shown = dict(settings.describe())
    assert shown["remind_status_every"] == "1h"
    assert shown["remind_sections_after"] == "2d"


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("INCIDENT_BOT_REMIND_STATUS_EVERY", "30", "remind_status_every: `30` is not a duration; "
         "write a number and a unit: 30m, 2h, 1d"),
        ("INCIDENT_BOT_REMIND_SECTIONS_MAX", "many", "remind_sections_max: `many` is not a "
         "whole number of at least 1"),
        ("INCIDENT_BOT_REMIND_SWEEP_INTERVAL", "0s", "remind_sweep_interval: `0s`"),
        ("INCIDENT_BOT_REMIND_SECTIONS_EVERY", "daily", "remind_sections_every: `daily` is "
         "not a duration; write a number and a unit: 30m, 2h, 1d"),
    ],
)
def test_bad_values_say_what_is_wrong_and_how_to_write_it(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings({name: value})
