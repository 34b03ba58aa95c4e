"""The timeline limit's count comes from the database (an indexed COUNT), and counts
what is stored: this unit of work's new entries and removed ones included. Text far
beyond the chat limits, and any Unicode a platform can send, still round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import Incident
from storage.uow import SqlAlchemyUnitOfWorkFactory

T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)


def declare(number: int) -> Incident:
    return Incident.declare(
        workspace="acme", number=number, title=f"Incident {number}", platform="console",
        channel_id=f"inc-{number}", channel_name=f"inc-{number}", declared_by="maria",
        declared_at=T0, captured_at=T0, template="standard",
    )


def test_entry_count_counts_stored_entries_without_loading_them(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        first, other = declare(1), declare(2)
        uow.incidents.add(first)
        uow.incidents.add(other)
        for minute in range(5):
            first.add_note(
                f"note {minute}", author="li", at=T0 + timedelta(minutes=minute),
                now=T0 + timedelta(minutes=minute), source_ref=None,
            )
        assert uow.incidents.entry_count(first) == 6  # declared + 5, before any commit
        assert uow.incidents.entry_count(other) == 1
        uow.commit()
    with uow_factory() as uow:
        incident = uow.incidents.get("acme", 1)
        assert incident is not None
        incident.remove_entry(2, now=T0 + timedelta(hours=1))
        incident.add_note("later", author="li", at=T0, now=T0, source_ref=None)
        assert uow.incidents.entry_count(incident) == 7  # a removed entry is still stored


def test_text_beyond_the_chat_limits_and_any_unicode_round_trip(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
) -> None:
    text = "‮RTL 👩‍👩‍👧 e\u0301 \u2028 " + "x" * 50_000
    with uow_factory() as uow:
        incident = declare(1)
        incident.title = "T" * 5_000
        incident.add_note(text, author="li", at=T0, now=T0, source_ref=None)
        incident.set_section("summary", text * 2, by="li", now=T0)
        uow.incidents.add(incident)
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.incidents.get("acme", 1)
        assert loaded is not None
        assert loaded.title == "T" * 5_000
        assert loaded.timeline[-1].text == text
        assert loaded.section_text("summary") == text * 2
