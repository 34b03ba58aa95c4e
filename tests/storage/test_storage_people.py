"""People's display names in storage, on SQLite and PostgreSQL: kept per platform and
workspace, written only when new or changed, read back by key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage.orm import people
from storage.uow import SqlAlchemyUnitOfWorkFactory as Factory

T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)


def stored_rows(factory: Factory) -> set[tuple[str, str, str, str, datetime]]:
    with factory() as uow:
        return {
            (row.platform, row.workspace, row.user_id, row.display_name, row.updated_at)
            for row in uow.session.execute(select(people))
        }


def test_names_round_trip_per_platform_and_workspace(uow_factory: Factory) -> None:
    with uow_factory() as uow:
        written = uow.people.remember(
            "slack", "T1", {"UADA": "Ada Lovelace", "UBOB": "Bob 🚀 <b>Martin</b>"}, T0
        )
        uow.people.remember("slack", "T2", {"UADA": "Ada in another workspace"}, T0)
        uow.people.remember("matrix", "example.org", {"@ada:example.org": "Ada L."}, T0)
        uow.commit()
    assert written == 2
    with uow_factory() as uow:
        assert uow.people.names("slack", "T1", ["UADA", "UBOB", "UNOBODY"]) == {
            "UADA": "Ada Lovelace",
            "UBOB": "Bob 🚀 <b>Martin</b>",
        }
        assert uow.people.names("slack", "T2", ["UADA"]) == {"UADA": "Ada in another workspace"}
        assert uow.people.names("matrix", "example.org", ["@ada:example.org", "UADA"]) == {
            "@ada:example.org": "Ada L."
        }
        assert uow.people.names("slack", "T1", []) == {}


def test_an_unchanged_name_is_not_written_again_and_a_changed_one_is(
    uow_factory: Factory,
) -> None:
    with uow_factory() as uow:
        uow.people.remember("slack", "T1", {"UADA": "Ada", "UBOB": "Bob"}, T0)
        uow.commit()
    later = T0 + timedelta(hours=1)
    with uow_factory() as uow:
        written = uow.people.remember("slack", "T1", {"UADA": "Ada", "UBOB": "Robert"}, later)
        uow.commit()
    assert written == 1
    assert stored_rows(uow_factory) == {
        ("slack", "T1", "UADA", "Ada", T0),  # untouched: its time is still the first one
        ("slack", "T1", "UBOB", "Robert", later),
    }


def test_names_without_a_commit_are_not_kept(uow_factory: Factory) -> None:
    with uow_factory() as uow:
        uow.people.remember("slack", "T1", {"UADA": "Ada"}, T0)
    assert stored_rows(uow_factory) == set()


def test_many_people_are_read_back_in_one_call(uow_factory: Factory) -> None:
    names = {f"U{n:05d}": f"Person {n}" for n in range(1200)}
    with uow_factory() as uow:
        uow.people.remember("slack", "T1", names, T0)
        uow.commit()
    with uow_factory() as uow:
        assert uow.people.names("slack", "T1", list(names)) == names


def test_rename_changes_stored_people_and_adds_nobody(uow_factory: Factory) -> None:
    with uow_factory() as uow:
        uow.people.remember("slack", "T1", {"UADA": "Ada"}, T0)
        uow.commit()
    later = T0 + timedelta(hours=1)
    with uow_factory() as uow:
        written = uow.people.rename(
            "slack", "T1", {"UADA": "Ada King", "USTRANGER": "Someone"}, later
        )
        assert uow.people.rename("slack", "T2", {"UADA": "Other workspace"}, later) == 0
        uow.commit()
    assert written == 1
    assert stored_rows(uow_factory) == {("slack", "T1", "UADA", "Ada King", later)}
    with uow_factory() as uow:
        assert uow.people.rename("slack", "T1", {"UADA": "Ada King"}, later) == 0
