"""Whatever is in the database exports: rows written straight into SQLite (as an older
version or another tool might have left them), with text far beyond the limits, every
kind of Unicode and even invalid UTF-8, go through `incident-bot export` in every
template and format without a traceback, and each draft keeps its template's shape."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from drafting import BUILTINS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_checks import MARKUP, UNICODE, check, render_twin
from sqlalchemy import create_engine, insert

from adapters.bootstrap import build_bot
from adapters.cli import main
from adapters.config import load_settings
from bot.clock import SystemClock
from bot.domain import WRITTEN_SECTION_IDS, EntryKind, Role, Status
from storage.database import upgrade_database
from storage.orm import action_items, incidents, role_assignments, section_texts, timeline_entries

EXAMPLES = max(3, int(os.environ.get("INCIDENT_BOT_FUZZ_EXAMPLES", "10")) // 3)
FORMATS = ("md", "html", "docx")
T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)
# The UTF-8 encoding of a lone surrogate, and other bytes that are no UTF-8 at all.
BAD_UTF8 = [b"\xed\xa0\x80", b"\xff\xfe", b"\xc3", b"\x80abc"]

storable = st.sampled_from([u for u in UNICODE if not "\ud800" <= u[0] <= "\udfff"])
piece = st.one_of(st.sampled_from(MARKUP), storable, st.text(max_size=6).filter(
    lambda text: not any("\ud800" <= ch <= "\udfff" for ch in text)
))
text = st.one_of(
    st.lists(piece, min_size=0, max_size=6).map("".join),
    st.builds(lambda head, size: (head + "y" * size)[:size], piece, st.sampled_from(
        [255, 256, 5_000, 50_000]
    )),
)
person = st.one_of(st.sampled_from(["maria", "li"]), text)


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "empty.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[Callable[[], Path]]:
    """Makes a fresh folder with a copy of the empty schema, and points the settings at
    it (each hypothesis example gets its own: SQLite's WAL files stay behind)."""
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("INCIDENT_BOT_") and key != "INCIDENT_BOT_FUZZ_EXAMPLES":
                patch.delenv(key)

        def fresh() -> Path:
            folder = tmp_path / uuid.uuid4().hex
            folder.mkdir()
            patch.setenv("INCIDENT_BOT_DATABASE_URL", f"sqlite:///{folder / 'bot.db'}")
            patch.setenv("INCIDENT_BOT_DRAFTS_DIR", str(folder / "drafts"))
            return folder

        yield fresh


def write_rows(
    database: Path, *, title: str, people: list[str], entries: list[str], sections: list[str],
    actions: list[str], bad_bytes: bytes | None,
) -> None:
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(insert(incidents).values(
            id=1, workspace="w", number=1, title=title, platform="console",
            channel_id="inc-1", channel_name=title[:300] or "inc-1", declared_by=people[0],
            declared_at=T0, severity=2, status=Status.RESOLVED.value,
            template="standard", timezone="Europe/Oslo",
            resolved_at=(T0 + timedelta(hours=2)), closed_at=None,
        ))
        for seq, entry in enumerate(entries, start=1):
            connection.execute(insert(timeline_entries).values(
                incident_id=1, seq=seq, occurred_at=(T0 + timedelta(minutes=seq)),
                captured_at=T0,
                kind=list(EntryKind)[seq % len(EntryKind)].value,
                author=people[seq % len(people)], text=entry, source_ref=None,
                tagged_by=json.dumps([people[0]]),
            ))
        for role, user in zip(Role, people, strict=False):
            connection.execute(insert(role_assignments).values(
                incident_id=1, role=role.value, user_id=user, assigned_at=T0,
                assigned_by=people[0],
            ))
        for section_id, section in zip(WRITTEN_SECTION_IDS, sections, strict=False):
            connection.execute(insert(section_texts).values(
                incident_id=1, section_id=section_id, text=section,
                updated_at=T0, updated_by=people[-1],
            ))
        for seq, action in enumerate(actions, start=1):
            connection.execute(insert(action_items).values(
                incident_id=1, seq=seq, text=action, owner=people[seq % len(people)],
                created_at=T0, created_by=people[0],
            ))
    engine.dispose()
    if bad_bytes is not None:
        # No driver writes invalid UTF-8 as TEXT; sqlite3's CAST of a blob does.
        with sqlite3.connect(database) as raw:
            for table, column in (
                ("incidents", "title"), ("timeline_entries", "text"), ("section_texts", "text"),
                ("action_items", "text"), ("role_assignments", "user_id"),
            ):
                raw.execute(
                    f"UPDATE {table} SET {column} = CAST(CAST({column} AS BLOB) || ? AS TEXT)",
                    (bad_bytes,),
                )
        raw.close()


def export_everything(folder: Path) -> None:
    """`incident-bot export` of incident 1 in every template and format, each checked."""
    loaded = build_bot(load_settings(), clock=SystemClock()).find(1)
    for template in BUILTINS:
        for fmt in FORMATS:
            out = folder / f"draft-{template}.{fmt}"
            code = main(["export", "1", "--template", template, "--format", fmt, "--out", str(out)])
            assert code == 0, (template, fmt)
            expected = render_twin(
                loaded, template, fmt, now=datetime.now(UTC), prefix="/incident"
            )
            check(out.read_bytes(), expected, fmt)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture,
    ],
)
@given(
    title=text,
    people=st.lists(person, min_size=1, max_size=4),
    entries=st.lists(text, max_size=6),
    sections=st.lists(text, max_size=len(WRITTEN_SECTION_IDS)),
    actions=st.lists(text, max_size=3),
    bad_bytes=st.one_of(st.none(), st.sampled_from(BAD_UTF8)),
)
def test_hostile_rows_export_through_the_command_line(
    schema: Path, environment: Callable[[], Path], title: str, people: list[str],
    entries: list[str], sections: list[str], actions: list[str], bad_bytes: bytes | None,
) -> None:
    folder = environment()
    shutil.copyfile(schema, folder / "bot.db")
    write_rows(
        folder / "bot.db", title=title, people=people, entries=entries, sections=sections,
        actions=actions, bad_bytes=bad_bytes,
    )
    export_everything(folder)


def test_the_issue_s_five_thousand_character_title_exports_as_docx(
    schema: Path, environment: Callable[[], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The report: a 5,000-character title made `export --format docx` crash on Word's
    255-character property limit. Now the property is cut and the heading is whole."""
    import docx

    folder = environment()
    database = folder / "bot.db"
    shutil.copyfile(schema, database)
    title = "Checkout " + "very " * 998 + "slow"
    write_rows(
        database, title=title, people=["maria"], entries=["Rollback"], sections=["Summary"],
        actions=["Fix it"], bad_bytes=None,
    )
    out = folder / "draft.docx"
    assert main(["export", "1", "--format", "docx", "--out", str(out)]) == 0
    document = docx.Document(str(out))
    assert len(document.core_properties.title) == 255
    assert document.core_properties.title.endswith("…")
    assert any(title in paragraph.text for paragraph in document.paragraphs)
    assert main(["export", "1", "--format", "md"]) == 0
    assert title in capsys.readouterr().out


def test_invalid_utf8_in_a_stored_row_reads_as_the_replacement_character(
    schema: Path, environment: Callable[[], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = environment()
    shutil.copyfile(schema, folder / "bot.db")
    write_rows(
        folder / "bot.db", title="Disk full", people=["maria"], entries=["Alert fired"],
        sections=["Summary"], actions=["Add space"], bad_bytes=b"\xed\xa0\x80",
    )
    assert main(["export", "1", "--format", "md"]) == 0
    markdown = capsys.readouterr().out
    assert "Disk full\ufffd" in markdown and "Alert fired\ufffd" in markdown
    assert main(["show", "1"]) == 0
