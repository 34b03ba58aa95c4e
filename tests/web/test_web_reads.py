"""The pages across incidents (the list, insights, their CSV) and a metrics scrape read
no timeline entry, however long the timelines: seen in the SQL the web face sends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from web_face import Client, start_face

from bot.domain import Incident, Role
from storage.database import upgrade_database
from storage.uow import unit_of_work_factory

T0 = datetime(2025, 2, 3, 9, 0, tzinfo=UTC)
INCIDENTS, ENTRIES = 12, 30


def seeded(path: Path) -> str:
    url = f"sqlite:///{path / 'reads.db'}"
    upgrade_database(url)
    factory = unit_of_work_factory(url)
    with factory() as uow:
        for number in range(1, INCIDENTS + 1):
            declared = T0 + timedelta(days=number)
            incident = Incident.declare(
                workspace="w", number=number, title=f"Outage {number}", platform="console",
                channel_id=f"inc-{number}", channel_name=f"inc-{number}", declared_by="ann",
                declared_at=declared, captured_at=declared, template="standard",
            )  # fmt: skip
            incident.assign_role(Role.COMMANDER, "ann", by="ann", at=declared, now=declared)
            for seq in range(ENTRIES):
                moment = declared + timedelta(minutes=seq)
                incident.add_note(f"n{seq}", author="bo", at=moment, now=moment, source_ref=None)
            uow.incidents.add(incident)
        uow.commit()
    factory.dispose()
    return url


@contextmanager
def sql_sent() -> Iterator[list[str]]:
    """Every statement any engine in this process sends (the face's own included)."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_pages_across_incidents_read_no_timeline(tmp_path: Path) -> None:
    face = start_face(seeded(tmp_path))
    try:
        web = Client(str(face.url))
        for path in ("/", "/insights", "/insights.csv", "/metrics"):
            with sql_sent() as sent:
                page = web.get(path)
            assert page.status == 200, path
            assert sent, f"{path}: the listener saw no SQL"
            assert [sql for sql in sent if "timeline_entries" in sql] == [], path
            queries = [sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]
            # Summaries (4), and the commanders' names on the list (1): not one per incident.
            assert len(queries) <= 5, f"{path}: {len(queries)} queries for {INCIDENTS} incidents"
        listed = web.get("/").text
        assert listed.count('<td><a href="/incidents/w/') == INCIDENTS
        assert "<td>ann</td>" in listed  # the commander, named without the timeline
        with sql_sent() as sent:
            assert web.get("/incidents/w/3").status == 200
        assert any("timeline_entries" in sql for sql in sent)  # an incident's page does
    finally:
        face.stop()
