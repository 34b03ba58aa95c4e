"""The repository, the processed events and the unit of work, on SQLite and PostgreSQL.

Every aggregate here is built with the domain's own methods, as the bot builds it.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from bot.domain import EntryKind, Incident, Role, Status
from bot.ports import ConcurrentChange
from storage.orm import section_texts
from storage.uow import SqlAlchemyUnitOfWork, SqlAlchemyUnitOfWorkFactory

Factory = SqlAlchemyUnitOfWorkFactory

# 14:02 at UTC+01:00 is 13:02 UTC: every moment goes in with an offset that is not UTC.
PLUS_ONE = timezone(timedelta(hours=1))
T0 = datetime(2025, 3, 4, 14, 2, tzinfo=PLUS_ONE)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def declare(
    workspace: str = "acme",
    number: int = 1,
    *,
    platform: str = "console",
    channel_id: str | None = None,
    title: str = "Checkout returns 502",
) -> Incident:
    return Incident.declare(
        workspace=workspace,
        number=number,
        title=title,
        platform=platform,
        channel_id=channel_id or f"{workspace}-C{number}",
        channel_name=f"inc-{number}-checkout-returns-502",
        declared_by="alice",
        declared_at=T0,
        captured_at=at(0.5),
        template="standard",
    )


def full_incident(workspace: str = "acme", number: int = 1) -> Incident:
    """An incident that fills every table and column, built as the bot would build it."""
    incident = declare(workspace, number)
    incident.assign_role(Role.COMMANDER, "alice", by="alice", at=at(1), now=at(1))
    incident.set_severity(2, by="alice", at=at(3), now=at(3))
    incident.add_note(
        "Pods are in CrashLoopBackOff", author="bob", at=at(5), now=at(5), source_ref="msg-5"
    )
    incident.add_backdated("Deploy 4711 went out", author="alice", occurred_at=at(-45), now=at(6))
    incident.tag_message(
        source_ref="msg-7",
        author="erin",
        text="Rolling back to 4710 — ETA 5 min 🚀",
        posted_at=at(7),
        tagger="bob",
        now=at(9),
    )
    incident.tag_message(
        source_ref="msg-7",
        author="erin",
        text="(same)",
        posted_at=at(7),
        tagger="carol",
        now=at(10),
    )
    incident.assign_role(Role.COMMANDER, "bob", by="alice", at=at(20), now=at(20))  # handover
    incident.assign_role(Role.COMMS, "carol", by="bob", at=at(21), now=at(21))
    incident.assign_role(Role.REPORTING, "dave", by="bob", at=at(22), now=at(22))
    incident.set_status(Status.IDENTIFIED, by="bob", at=at(30), now=at(30))
    incident.set_section("summary", "Checkout failed for 40 minutes.", by="dave", now=at(40))
    incident.set_section("impact", "| 502s | 12% |\n## not a heading", by="dave", now=at(41))
    incident.add_action("Alert on the 5xx rate", owner="carol", by="bob", now=at(42))
    incident.add_action("Write the rollback runbook", owner=None, by="bob", now=at(43))
    incident.resolve(by="bob", at=at(45), now=at(46))
    incident.complete_action(1, by="carol", now=at(50))
    return incident


def snapshot(incident: Incident) -> dict[str, Any]:
    """Everything the incident holds, as plain values."""
    return dataclasses.asdict(incident)


def datetimes(value: Any) -> Iterator[datetime]:
    if isinstance(value, datetime):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from datetimes(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from datetimes(item)


def store(uow_factory: Factory, *incidents: Incident) -> None:
    with uow_factory() as uow:
        for incident in incidents:
            uow.incidents.add(incident)
        uow.commit()


def load(uow_factory: Factory, workspace: str = "acme", number: int = 1) -> Incident:
    with uow_factory() as uow:
        incident = uow.incidents.get(workspace, number)
    assert incident is not None, f"incident {workspace}/{number} is not stored"
    return incident


def entry_of_kind(incident: Incident, kind: EntryKind) -> int:
    return next(entry.seq for entry in incident.timeline if entry.kind is kind)


# -- the aggregate -----------------------------------------------------------------------


def test_the_example_incident_has_every_kind_of_entry() -> None:
    assert {entry.kind for entry in full_incident().timeline} == set(EntryKind)


def test_a_full_incident_round_trips(uow_factory: Factory) -> None:
    original = full_incident()
    expected = snapshot(original)

    store(uow_factory, original)
    loaded = load(uow_factory)

    assert loaded is not original
    assert snapshot(loaded) == expected
    # The same instant, now expressed in UTC, whatever offset it went in with.
    assert loaded.declared_at == T0
    assert (loaded.declared_at.hour, loaded.declared_at.minute) == (13, 2)
    moments = list(datetimes(snapshot(loaded)))
    assert len(moments) > 30
    assert all(moment.tzinfo is UTC for moment in moments)
    # Enum members come back as members: the domain compares them with `is`.
    assert loaded.status is Status.RESOLVED
    assert {entry.kind for entry in loaded.timeline} == set(EntryKind)
    assert [(a.role, a.user, a.relieved_at) for a in loaded.roles] == [
        (Role.COMMANDER, "alice", at(20)),
        (Role.COMMANDER, "bob", None),
        (Role.COMMS, "carol", None),
        (Role.REPORTING, "dave", None),
    ]
    assert loaded.current_roles() == {
        Role.COMMANDER: "bob",
        Role.COMMS: "carol",
        Role.REPORTING: "dave",
    }
    assert [entry.seq for entry in loaded.timeline] == list(range(1, len(loaded.timeline) + 1))
    tagged = loaded.entry_for_message("msg-7")
    assert tagged is not None
    assert tagged.tagged_by == ["bob", "carol"]
    assert tagged.occurred_at == at(7)
    assert tagged.captured_at == at(9)
    assert [s.section_id for s in loaded.sections] == ["summary", "impact"]
    assert [(a.seq, a.owner, a.done_by) for a in loaded.actions] == [
        (1, "carol", "carol"),
        (2, None, None),
    ]


def test_changes_to_a_stored_incident_persist(uow_factory: Factory) -> None:
    store(uow_factory, full_incident())

    with uow_factory() as uow:
        incident = uow.incidents.get("acme", 1)
        assert incident is not None
        note = entry_of_kind(incident, EntryKind.NOTE)
        backdated = entry_of_kind(incident, EntryKind.BACKDATED)
        incident.edit_entry(note, "Pods crash-loop on start", now=at(60))
        incident.message_edited(source_ref="msg-7", text="Rolled back to 4710", now=at(61))
        assert not incident.untag_message(source_ref="msg-7", tagger="bob", now=at(62))
        incident.remove_entry(backdated, now=at(63))
        assert incident.clear_section("impact")
        incident.set_section("summary", "Checkout failed for 43 minutes.", by="dave", now=at(64))
        incident.append_section("prevention", "Canary deploys.", by="dave", now=at(65))
        incident.complete_action(2, by="bob", now=at(66))
        incident.assign_role(Role.OPS, "frank", by="bob", at=at(67), now=at(67))
        incident.close(by="bob", at=at(70), now=at(70))
        expected = snapshot(incident)
        uow.commit()

    loaded = load(uow_factory)
    assert snapshot(loaded) == expected
    assert loaded.entry(note).text == "Pods crash-loop on start"
    assert loaded.entry(note).edited_at == at(60)
    tagged = loaded.entry_for_message("msg-7")
    assert tagged is not None
    assert (tagged.text, tagged.tagged_by, tagged.edited_at) == (
        "Rolled back to 4710",
        ["carol"],
        at(61),
    )
    removed = next(entry for entry in loaded.timeline if entry.seq == backdated)
    assert (removed.visible, removed.removed_at, removed.tagged_by) == (False, at(63), [])
    assert [(s.section_id, s.text) for s in loaded.sections] == [
        ("summary", "Checkout failed for 43 minutes."),
        ("prevention", "Canary deploys."),
    ]
    assert loaded.actions[1].done_at == at(66)
    assert loaded.holder(Role.OPS) == "frank"
    assert loaded.is_closed


def test_a_cleared_section_leaves_no_row_behind(uow_factory: Factory) -> None:
    store(uow_factory, full_incident())

    with uow_factory() as uow:
        incident = uow.incidents.get("acme", 1)
        assert incident is not None
        incident.clear_section("impact")
        incident.clear_section("summary")
        uow.commit()

    with uow_factory() as uow:
        rows = uow.session.scalar(select(func.count()).select_from(section_texts))
        assert rows == 0
        incident = uow.incidents.get("acme", 1)
        assert incident is not None
        assert incident.sections == []


def test_a_section_cleared_and_written_again_in_one_unit_of_work(uow_factory: Factory) -> None:
    store(uow_factory, full_incident())

    with uow_factory() as uow:
        incident = uow.incidents.get("acme", 1)
        assert incident is not None
        incident.clear_section("summary")
        incident.set_section("summary", "Rewritten from scratch.", by="erin", now=at(80))
        uow.commit()

    loaded = load(uow_factory)
    assert loaded.section_text("summary") == "Rewritten from scratch."
    assert [s.section_id for s in loaded.sections] == ["summary", "impact"]


def test_tagged_by_follows_every_reassignment(uow_factory: Factory) -> None:
    store(uow_factory, full_incident())
    steps: list[tuple[str, str, list[str], bool]] = [
        ("untag", "carol", ["bob"], True),
        ("untag", "bob", [], False),
        ("tag", "frank", ["frank"], True),
        ("tag", "gina", ["frank", "gina"], True),
    ]
    for minute, (action, who, tagged_by, visible) in enumerate(steps, start=100):
        with uow_factory() as uow:
            incident = uow.incidents.get("acme", 1)
            assert incident is not None
            if action == "tag":
                incident.tag_message(
                    source_ref="msg-7",
                    author="erin",
                    text="x",
                    posted_at=at(7),
                    tagger=who,
                    now=at(minute),
                )
            else:
                incident.untag_message(source_ref="msg-7", tagger=who, now=at(minute))
            uow.commit()
        entry = load(uow_factory).entry_for_message("msg-7")
        assert entry is not None
        assert (entry.tagged_by, entry.visible) == (tagged_by, visible)


def test_the_incident_stays_readable_after_the_block(uow_factory: Factory) -> None:
    incident = full_incident()
    with uow_factory() as uow:
        uow.incidents.add(incident)
        uow.commit()
        uow.incidents.list()  # more work after the commit, then the block ends
    assert incident.holder(Role.COMMANDER) == "bob"
    assert len(incident.visible_timeline()) == len(incident.timeline)

    loaded = load(uow_factory)
    assert loaded.section_text("summary") == "Checkout failed for 40 minutes."
    assert loaded.timeline[0].text.startswith("Incident declared by")


# -- transactions ------------------------------------------------------------------------


def test_leaving_the_block_without_commit_discards_the_work(uow_factory: Factory) -> None:
    store(uow_factory, full_incident())
    before = snapshot(load(uow_factory))

    with uow_factory() as uow:
        incident = uow.incidents.get("acme", 1)
        assert incident is not None
        incident.set_section("summary", "Never saved.", by="erin", now=at(90))
        incident.add_note("Never saved", author="erin", at=at(90), now=at(90), source_ref=None)
        incident.reopen(by="erin", at=at(90), now=at(90))
        uow.incidents.add(declare("acme", 2))
        assert uow.events.record("console", "never-saved", at(90))

    assert snapshot(load(uow_factory)) == before
    with uow_factory() as uow:
        assert uow.incidents.get("acme", 2) is None
        assert uow.events.record("console", "never-saved", at(91))


def test_an_exception_in_the_block_discards_the_work(uow_factory: Factory) -> None:
    with pytest.raises(RuntimeError, match="boom"), uow_factory() as uow:
        uow.incidents.add(declare())
        uow.session.flush()
        raise RuntimeError("boom")

    with uow_factory() as uow:
        assert uow.incidents.list() == []


def test_rollback_discards_and_the_unit_of_work_goes_on(uow_factory: Factory) -> None:
    with uow_factory() as uow:
        uow.incidents.add(declare("acme", 1))
        assert uow.incidents.next_number("acme") == 2
        uow.rollback()
        assert uow.incidents.get("acme", 1) is None
        uow.incidents.add(declare("acme", 2))
        uow.commit()
        uow.rollback()  # harmless after a commit

    with uow_factory() as uow:
        assert [i.number for i in uow.incidents.list()] == [2]


def test_a_unit_of_work_is_one_block_at_a_time(uow_factory: Factory) -> None:
    uow = uow_factory()
    assert isinstance(uow, SqlAlchemyUnitOfWork)
    with pytest.raises(RuntimeError, match="outside"):
        uow.commit()
    with uow, pytest.raises(RuntimeError, match="already"), uow:
        pass
    with uow:  # usable again, with a fresh session
        assert uow.incidents.list() == []


# -- processed events --------------------------------------------------------------------


def test_an_event_is_recorded_once(uow_factory: Factory) -> None:
    with uow_factory() as uow:
        assert uow.events.record("slack", "Ev0001", at(1)) is True
        assert uow.events.record("slack", "Ev0001", at(2)) is False
        assert uow.events.record("matrix", "Ev0001", at(2)) is True  # ids are per platform
        uow.commit()

    with uow_factory() as uow:
        assert uow.events.record("slack", "Ev0001", at(3)) is False
        assert uow.events.record("matrix", "Ev0001", at(3)) is False
        assert uow.events.record("slack", "Ev0002", at(3)) is True


def test_a_duplicate_event_does_not_spoil_the_transaction(uow_factory: Factory) -> None:
    with uow_factory() as uow:
        assert uow.events.record("slack", "Ev0001", at(1))
        uow.commit()

    with uow_factory() as uow:
        uow.incidents.add(declare())
        uow.session.flush()
        assert uow.events.record("slack", "Ev0001", at(2)) is False
        uow.incidents.add(declare("acme", 2))
        assert uow.events.record("slack", "Ev0002", at(2)) is True
        uow.commit()

    with uow_factory() as uow:
        assert [i.number for i in uow.incidents.list()] == [1, 2]
        assert uow.events.record("slack", "Ev0002", at(3)) is False


def test_an_event_is_processed_once_by_concurrent_units_of_work(uow_factory: Factory) -> None:
    """The second recorder waits for the first transaction, then sees the event."""
    results: list[bool] = []

    def second() -> None:
        with uow_factory() as uow:
            results.append(uow.events.record("slack", "Ev0001", at(2)))
            uow.commit()

    with uow_factory() as first:
        assert first.events.record("slack", "Ev0001", at(1))
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=0.3)
        assert thread.is_alive(), "the second unit of work did not wait for the first"
        first.commit()
    thread.join(timeout=10)

    assert results == [False]


def test_naive_datetimes_are_refused(uow_factory: Factory) -> None:
    with uow_factory() as uow, pytest.raises(StatementError, match="naive"):
        uow.events.record("console", "e1", datetime(2025, 3, 4, 14, 2))


# -- the repository ------------------------------------------------------------------------


def test_an_incident_number_is_unique_in_its_workspace(uow_factory: Factory) -> None:
    store(uow_factory, declare("acme", 1))

    with uow_factory() as uow:
        uow.incidents.add(declare("acme", 1, channel_id="another-channel"))
        # The service retries on this: another process took the number first.
        with pytest.raises(ConcurrentChange):
            uow.commit()

    store(uow_factory, declare("globex", 1))  # the same number elsewhere is fine


def test_a_channel_belongs_to_one_incident(uow_factory: Factory) -> None:
    store(uow_factory, declare("acme", 1, platform="slack", channel_id="C042"))

    with uow_factory() as uow:
        uow.incidents.add(declare("acme", 2, platform="slack", channel_id="C042"))
        with pytest.raises(ConcurrentChange):
            uow.commit()

    store(uow_factory, declare("acme", 2, platform="matrix", channel_id="C042"))


def test_next_number_counts_per_workspace(uow_factory: Factory) -> None:
    with uow_factory() as uow:
        assert uow.incidents.next_number("acme") == 1
        uow.incidents.add(declare("acme", 1))
        assert uow.incidents.next_number("acme") == 2  # sees the incident not yet committed
        uow.commit()
    store(uow_factory, declare("acme", 2), declare("globex", 1), declare("acme", 7))

    with uow_factory() as uow:
        assert uow.incidents.next_number("acme") == 8
        assert uow.incidents.next_number("globex") == 2
        assert uow.incidents.next_number("initech") == 1


def test_get_by_channel_finds_by_platform_and_channel(uow_factory: Factory) -> None:
    store(
        uow_factory,
        declare("acme", 1, platform="slack", channel_id="C042"),
        declare("acme", 2, platform="matrix", channel_id="C042"),
    )

    with uow_factory() as uow:
        by_slack = uow.incidents.get_by_channel("slack", "C042")
        by_matrix = uow.incidents.get_by_channel("matrix", "C042")
        assert by_slack is not None and by_slack.number == 1
        assert by_matrix is not None and by_matrix.number == 2
        assert uow.incidents.get_by_channel("console", "C042") is None
        assert uow.incidents.get_by_channel("slack", "C043") is None
        # One identity map per unit of work: the same row is the same object.
        assert uow.incidents.get("acme", 1) is by_slack


def test_list_orders_by_workspace_then_number(uow_factory: Factory) -> None:
    store(
        uow_factory,
        declare("globex", 2),
        declare("acme", 10),
        declare("acme", 2),
        declare("globex", 1),
    )

    with uow_factory() as uow:
        assert [(i.workspace, i.number) for i in uow.incidents.list()] == [
            ("acme", 2),
            ("acme", 10),
            ("globex", 1),
            ("globex", 2),
        ]
        assert [i.number for i in uow.incidents.list("globex")] == [1, 2]
        assert uow.incidents.list("initech") == []
        assert uow.incidents.get("initech", 1) is None


# -- any text, any moment ------------------------------------------------------------------

# PostgreSQL cannot store NUL in text; lone surrogates cannot be encoded at all.
texts = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=300)
offsets = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
).map(lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1))))
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31), timezones=offsets
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(title=texts, note=texts, tagger=texts, moment=moments)
def test_any_text_and_moment_round_trip(
    uow_factory: Factory, title: str, note: str, tagger: str, moment: datetime
) -> None:
    number = next(_numbers)
    incident = declare("hypothesis", number, title=title)
    incident.add_note(note, author="bob", at=moment, now=at(1), source_ref=None)
    incident.tag_message(
        source_ref=note, author="erin", text=note, posted_at=moment, tagger=tagger, now=at(2)
    )
    expected = snapshot(incident)

    store(uow_factory, incident)
    loaded = load(uow_factory, "hypothesis", number)

    assert snapshot(loaded) == expected
    assert loaded.timeline[1].occurred_at == moment
    assert loaded.timeline[1].occurred_at.tzinfo is UTC


_numbers = itertools.count(1)
