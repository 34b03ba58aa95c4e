"""Reading `timeline add` times in the workspace zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.commands import When
from bot.domain import IncidentError
from bot.timefmt import format_duration, resolve_when, zone_label

OSLO = ZoneInfo("Europe/Oslo")
POSTED = datetime(2025, 3, 4, 13, 6, tzinfo=UTC)  # 14:06 in Oslo


def test_a_time_of_day_is_read_in_the_workspace_zone() -> None:
    moment = resolve_when(When(None, time(13, 40), None), zone=OSLO, posted_at=POSTED)
    assert moment == datetime(2025, 3, 4, 12, 40, tzinfo=UTC)


def test_a_time_later_than_the_message_means_the_day_before() -> None:
    moment = resolve_when(When(None, time(23, 50), None), zone=OSLO, posted_at=POSTED)
    assert moment == datetime(2025, 3, 3, 22, 50, tzinfo=UTC)


def test_an_explicit_zone_wins_over_the_workspace_zone() -> None:
    moment = resolve_when(When(None, time(12, 0), timedelta(0)), zone=OSLO, posted_at=POSTED)
    assert moment == datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def test_a_future_date_is_refused() -> None:
    with pytest.raises(IncidentError, match="is in the future"):
        resolve_when(When(date(2025, 3, 5), time(9, 0), None), zone=OSLO, posted_at=POSTED)


def test_a_time_skipped_by_daylight_saving_is_refused() -> None:
    posted = datetime(2025, 3, 30, 12, 0, tzinfo=UTC)
    with pytest.raises(IncidentError, match="does not exist in Europe/Oslo"):
        resolve_when(When(date(2025, 3, 30), time(2, 30), None), zone=OSLO, posted_at=posted)


def test_zone_labels_and_durations() -> None:
    assert zone_label(OSLO, POSTED) == "Europe/Oslo (CET)"
    assert zone_label(ZoneInfo("UTC"), POSTED) == "UTC"
    assert format_duration(timedelta(minutes=42)) == "42 min"
    assert format_duration(timedelta(days=1, hours=2, minutes=5)) == "1 d 2 h 5 min"
