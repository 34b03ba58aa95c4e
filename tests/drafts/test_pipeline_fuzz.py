"""The whole pipeline, fuzzed: incidents made through the service from hostile chat
(commands, 📌, back-dated entries, sections, actions, roles, template switches), then
exported in every template and format. Whatever was typed, the bot never fails, never
says "something went wrong", and every draft parses and keeps its template's shape
(`pipeline_checks.py`).

`make test` runs a bounded number of examples; for a longer run set
INCIDENT_BOT_FUZZ_EXAMPLES, e.g. `INCIDENT_BOT_FUZZ_EXAMPLES=2000 .venv/bin/pytest
tests/drafts/test_pipeline_fuzz.py`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from drafting import BUILTINS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_checks import MARKUP, UNICODE, check, render_twin

from bot import limits
from bot.clock import ManualClock
from bot.domain import WRITTEN_SECTION_IDS, Incident
from bot.drafts.templates import builtin_registry
from bot.events import CommandReceived, InboundEvent, MessageEdited, MessageTagged, MessageUntagged
from bot.replies import FileUpload, Message, Reply
from bot.service import CoreSettings, IncidentBot

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))  # the in-memory fakes
from fakes import FakePlatform, FakeStore, FakeUnitOfWork

EXAMPLES = int(os.environ.get("INCIDENT_BOT_FUZZ_EXAMPLES", "10"))
FORMATS = ("md", "html", "docx")
T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)
USERS = ("maria", "li", "jonas", "ana")
FAILURE_WORDS = ("something went wrong", "traceback", "exception")

# -- hostile text ----------------------------------------------------------------------

pieces = st.one_of(
    st.sampled_from(MARKUP), st.sampled_from(UNICODE), st.text(max_size=8),
    st.text(st.characters(exclude_categories=()), max_size=4),
)
short_text = st.lists(pieces, min_size=1, max_size=8).map("".join)
# Text at and beyond the limits, built cheaply: a hostile piece and a run of letters.
long_text = st.builds(
    lambda head, size: (head + "x" * size)[:size] if size else head,
    short_text,
    st.sampled_from([
        limits.ENTRY_CHARS - 1, limits.ENTRY_CHARS, limits.ENTRY_CHARS + 1,
        limits.ACTION_CHARS + 1, limits.TITLE_CHARS, limits.TITLE_CHARS + 1, 40_000,
    ]),
)
hostile = st.one_of(short_text, short_text, short_text, long_text)
names = st.one_of(short_text, st.sampled_from(["", " ", "Ana", "x" * 300]))


class FuzzPlatform(FakePlatform):
    """The fake chat platform, whose people have hostile display names."""

    def __init__(self, display_names: dict[str, str]) -> None:
        super().__init__()
        self.display_names = display_names

    def display_name(self, user: str) -> str:
        return self.display_names.get(user, user)


# -- what people do --------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    user: str
    line: str


@dataclass(frozen=True)
class Pin:
    user: str
    author: str
    text: str
    minutes_ago: int


@dataclass(frozen=True)
class Unpin:
    user: str
    which: int


@dataclass(frozen=True)
class Edit:
    which: int
    text: str


@dataclass(frozen=True)
class Later:
    minutes: int


users = st.sampled_from(USERS)
numbers = st.integers(1, 12).map(str)
sections = st.sampled_from([*WRITTEN_SECTION_IDS, "timeline", "nonsense"])
when = st.one_of(
    st.builds(lambda h, m: f"{h:02}:{m:02}", st.integers(0, 23), st.integers(0, 59)),
    st.builds(
        lambda d, h, z: f"2025-03-0{d} {h:02}:15{z}",
        st.integers(1, 9), st.integers(0, 23), st.sampled_from(["", "Z", " UTC", "+05:30"]),
    ),
    # The calendar's ends and other dates no incident has: refused, never a crash.
    st.builds(
        lambda day, zone: f"{day} 00:00{zone}",
        st.sampled_from(["0001-01-01", "9999-12-31", "1970-01-01", "2024-03-03", "2025-02-29"]),
        st.sampled_from(["", " -14:00", " +14:00", "Z"]),
    ),
)
mention = st.one_of(users.map(lambda u: f"@{u}"), st.just("me"), st.just("@" + "a" * 300))
lines = st.one_of(
    st.builds(lambda t: f"note {t}", hostile),
    st.builds(lambda w, t: f"timeline add {w} {t}", when, hostile),
    st.builds(lambda n, t: f"timeline edit {n} {t}", numbers, hostile),
    st.builds(lambda n: f"timeline remove {n}", numbers),
    st.builds(lambda s, t: f"set {s} {t}", sections, hostile),
    st.builds(lambda s, t: f"append {s} {t}", sections, hostile),
    st.builds(lambda s: f"clear {s}", sections),
    st.builds(lambda t, o: f"action {t}{o}", hostile, st.sampled_from(["", " @li", " @ana"])),
    st.builds(lambda n: f"action done {n}", numbers),
    st.builds(
        lambda r, m: f"role {r} {m}",
        st.sampled_from(["commander", "comms", "ops", "scribe"]), mention,
    ),
    st.builds(lambda n: f"severity {n}", st.integers(0, 5)),
    st.builds(
        lambda s: f"status {s}",
        st.sampled_from(["investigating", "identified", "monitoring", "resolved"]),
    ),
    st.builds(lambda t: f"template {t}", st.sampled_from([*BUILTINS, "nope"])),
    st.sampled_from(["resolve", "close", "reopen", "timeline", "sections", "actions", "roles"]),
    st.builds(
        lambda t, f: f"export {t} {f}".strip(),
        st.sampled_from(["", *BUILTINS]), st.sampled_from(["", *FORMATS]),
    ),
    short_text,  # anything at all
)
steps = st.one_of(
    st.builds(Say, users, lines),
    st.builds(Say, users, lines),
    st.builds(Pin, users, users, hostile, st.integers(0, 3000)),
    st.builds(Unpin, users, st.integers(0, 5)),
    st.builds(Edit, st.integers(0, 5), hostile),
    st.builds(Later, st.integers(1, 2000)),
)


class Chat:
    """One incident's channel, driven through the service as an adapter would."""

    def __init__(self, platform: FuzzPlatform) -> None:
        self.store = FakeStore()
        self.clock = ManualClock(T0)
        self.platform = platform
        self.bot = IncidentBot(
            uow=lambda: FakeUnitOfWork(self.store),
            clock=self.clock,
            settings=CoreSettings(timezone=ZoneInfo("Europe/Oslo")),
            templates=builtin_registry(),
        )
        self.channel = "general"
        self.pinned: list[str] = []
        self.events = 0

    def handle(self, event: InboundEvent) -> list[Reply]:
        replies = self.bot.handle(event, platform=self.platform)  # never raises
        for reply in replies:
            said = reply.comment if isinstance(reply, FileUpload) else getattr(reply, "text", "")
            assert not any(word in said.lower() for word in FAILURE_WORDS), said
        return replies

    def say(self, user: str, line: str) -> list[Reply]:
        self.events += 1
        return self.handle(
            CommandReceived(
                workspace="w", channel=self.channel, user=user, text=line,
                posted_at=self.clock.now(), message_ref=f"m{self.events}",
            )
        )

    def start(self, title: str) -> Incident:
        self.say("maria", f"start {title}")
        if not self.store.incidents:
            self.say("maria", "start Fallback title")
        self.channel = self.store.incidents[-1].channel_id
        return self.store.incidents[-1]

    def step(self, step: Say | Pin | Unpin | Edit | Later) -> None:
        if isinstance(step, Say):
            self.say(step.user, step.line)
        elif isinstance(step, Pin):
            self.events += 1
            ref = f"pinned-{self.events}"
            self.pinned.append(ref)
            replies = self.handle(
                MessageTagged(
                    workspace="w", channel=self.channel, user=step.user, message_ref=ref,
                    author=step.author, text=step.text,
                    posted_at=self.clock.now() - timedelta(minutes=step.minutes_ago),
                )
            )
            assert not any(isinstance(r, Message) and r.is_error for r in replies), replies
        elif isinstance(step, Unpin) and self.pinned:
            ref = self.pinned[step.which % len(self.pinned)]
            self.handle(
                MessageUntagged(
                    workspace="w", channel=self.channel, user=step.user, message_ref=ref
                )
            )
        elif isinstance(step, Edit) and self.pinned:
            ref = self.pinned[step.which % len(self.pinned)]
            self.handle(
                MessageEdited(
                    workspace="w", channel=self.channel, user="maria", message_ref=ref,
                    text=step.text,
                )
            )
        elif isinstance(step, Later):
            self.clock.advance_to(self.clock.now() + timedelta(minutes=step.minutes))

    def export(self, template: str, fmt: str) -> bytes:
        replies = self.say("li", f"export {template} {fmt}")
        uploads = [reply for reply in replies if isinstance(reply, FileUpload)]
        assert len(uploads) == 1, replies
        return uploads[0].content


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    title=hostile,
    display_names=st.fixed_dictionaries({user: names for user in USERS}),
    story=st.lists(steps, max_size=30),
)
def test_any_incident_made_in_chat_exports_in_every_template_and_format(
    title: str, display_names: dict[str, str], story: list[Say | Pin | Unpin | Edit | Later]
) -> None:
    chat = Chat(FuzzPlatform(display_names))
    chat.start(title)
    for step in story:
        chat.step(step)
    incident = chat.store.incidents[-1]
    for entry in incident.timeline:
        assert len(entry.text) <= limits.ENTRY_CHARS + 500  # 📌 text is shortened
    for template in BUILTINS:
        for fmt in FORMATS:
            content = chat.export(template, fmt)
            expected = render_twin(
                incident, template, fmt, now=chat.clock.now(), prefix="/incident"
            )
            check(content, expected, fmt)
