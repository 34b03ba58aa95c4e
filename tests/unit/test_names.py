"""Names everywhere, in the core with fakes: references in free text resolved at render
time, names stored only when new or changed, and the command line's stored names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fakes import FakePlatform, FakeStore, FakeUnitOfWork

from adapters.cli import OfflinePlatform
from bot.clock import ManualClock
from bot.domain import Role
from bot.drafts.templates import builtin_registry
from bot.events import CommandReceived, MessageTagged
from bot.listings import quote
from bot.mentions import WORD_JOINER, literal, parse_reference, reference, resolve, users_in
from bot.people import people_of
from bot.replies import FileUpload, Message, Reply
from bot.service import CoreSettings, IncidentBot

T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)
CHANNEL = "C-inc-1-db-down"


class RenamablePlatform(FakePlatform):
    """A platform whose people can change their names, as on Slack or Matrix."""

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__()
        self.names = names
        self.asked: list[str] = []

    def display_name(self, user: str) -> str:
        self.asked.append(user)
        return self.names.get(user, user)


class Harness:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.clock = ManualClock(T0)
        self.platform = RenamablePlatform({"ada": "Ada Lovelace", "bob": "Bob Martin"})
        self.bot = IncidentBot(
            uow=lambda: FakeUnitOfWork(self.store),
            clock=self.clock,
            settings=CoreSettings(timezone=ZoneInfo("UTC")),
            templates=builtin_registry(),
        )

    def say(self, text: str, user: str = "ada", channel: str = CHANNEL) -> list[Reply]:
        self.clock.advance_to(self.clock.now() + timedelta(minutes=1))
        return self.bot.handle(
            CommandReceived(
                workspace="w", channel=channel, user=user, text=text,
                posted_at=self.clock.now(),
            ),
            platform=self.platform,
        )

    def text(self, text: str, user: str = "ada") -> str:
        return "\n".join(r.text for r in self.say(text, user) if isinstance(r, Message))

    def draft(self) -> str:
        replies = self.say("export")
        upload = next(r for r in replies if isinstance(r, FileUpload))
        return upload.content.decode()


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.say("start DB down", channel="general")
    return harness


BOB = reference("bob")


def test_a_reference_resolves_once_and_a_look_alike_never() -> None:
    names = {"bob": "Bob", "@c:x.org": "C"}
    assert resolve(f"ask {BOB} and {reference('@c:x.org')}", names.__getitem__) == (
        "ask Bob and C"
    )
    assert users_in(f"{BOB} {BOB} {reference('ada')}") == ["bob", "ada"]
    assert parse_reference(f" {BOB} ") == "bob" and parse_reference(f"{BOB}x") is None
    typed = literal("a {@bob} b")
    assert typed.replace(WORD_JOINER, "") == "a {@bob} b" and users_in(typed) == []
    # A name that looks like a reference is shown as it is, never looked up again.
    shown = resolve(BOB, lambda user: "{@ada}")
    assert shown.replace(WORD_JOINER, "") == "{@ada}" and users_in(shown) == []


def test_free_text_keeps_references_and_shows_the_current_name(h: Harness) -> None:
    h.say(f"note {BOB} restarted the primary")
    h.say(f"timeline add 12:50 Alert fired, {BOB} paged")
    h.say(f"set summary {BOB} failed the database over.")
    echo = h.text(f"action Pair with {BOB} on the runbook")
    assert "Pair with Bob Martin on the runbook" in echo and "{@" not in echo
    h.bot.handle(
        MessageTagged(workspace="w", channel=CHANNEL, user="ada", message_ref="m1",
                      author="bob", text=f"Failing over now, cc {reference('ada')}",
                      posted_at=h.clock.now()),
        platform=h.platform,
    )
    # What is stored is the reference, not the name it had then.
    assert any(BOB in entry.text for entry in h.store.incidents[0].timeline)

    h.platform.names["bob"] = "Robert Martin"
    listing = h.text("timeline")
    assert "Robert Martin restarted the primary" in listing and "Bob Martin" not in listing
    draft = h.draft()
    for text in ("Robert Martin restarted the primary", "Alert fired, Robert Martin paged",
                 "Robert Martin failed the database over.", "Pair with Robert Martin",
                 "Failing over now, cc Ada Lovelace"):
        assert text in draft, f"{text!r} missing:\n{draft}"
    assert "Bob Martin" not in draft and "{@" not in draft


def test_a_forged_reference_is_no_lookup(h: Harness) -> None:
    """What an adapter lets through as typed text (made literal) reads back as typed."""
    h.say(f"note {literal('{@UCEO} says hi')}")
    h.platform.asked.clear()
    draft = h.draft()
    assert "UCEO" not in h.platform.asked
    assert "{@UCEO} says hi" in draft.replace(WORD_JOINER, "")


def test_a_reference_is_a_mention_in_commands(h: Harness) -> None:
    """Adapters write a pill or a typed Matrix id as a reference: it names the person
    wherever the grammar takes a mention."""
    assert "is now Communications Lead" in h.text(f"role comms {BOB}")
    h.say(f"action Check the replica {BOB}")
    incident = h.store.incidents[0]
    assert incident.holder(Role.COMMS) == "bob"
    assert incident.actions[-1].owner == "bob" and incident.actions[-1].text == "Check the replica"


def test_the_title_is_written_with_names_when_declared(h: Harness) -> None:
    h.say(f"start Replica lag, cc {BOB}", channel="general")
    assert h.platform.opened[-1][1] == "Incident 2: Replica lag, cc Bob Martin"
    assert h.store.incidents[-1].title == "Replica lag, cc Bob Martin"


def test_a_cut_quote_never_shows_half_a_reference() -> None:
    text = "x" * 70 + f" {reference('UVERYLONGUSERID')}"
    quoted = quote(text)
    assert "{@" not in quoted and quoted.endswith("…”")


def test_names_are_written_only_when_new_or_changed() -> None:
    h = Harness()
    assert h.bot.remember_names("slack", "T1", {"U1": "  Ada\nLovelace ", "U2": "Bob"}) == 2
    assert h.bot.remember_names("slack", "T1", {"U1": "Ada Lovelace", "U2": "Bob"}) == 0
    assert h.bot.remember_names("slack", "T1", {"U2": "Robert"}) == 1
    assert h.bot.remember_names("slack", "T1", {"U3": "   ", "": "nobody"}) == 0
    assert h.store.name_writes == 3
    commits = h.store.commits
    h.bot.remember_names("slack", "T1", {})
    assert h.store.commits == commits  # nothing to tell: no transaction at all


def test_a_rename_reaches_only_people_already_stored() -> None:
    h = Harness()
    h.bot.remember_names("slack", "T1", {"U1": "Ada"})
    assert h.bot.rename_people("slack", "T1", {"U1": "Ada King", "U9": "Stranger"}) == 1
    assert h.store.people == {("slack", "T1", "U1"): "Ada King"}


def test_the_command_line_names_people_from_storage(h: Harness) -> None:
    h.say(f"note {BOB} restarted the primary")
    h.say("role ops @bob")
    incident = h.store.incidents[0]
    assert set(people_of(incident)) >= {"ada", "bob"}
    h.bot.remember_names("fake", "w", {"ada": "Ada L.", "bob": "Bob M.", "zed": "Not here"})
    stored = h.bot.stored_names(incident)
    assert stored == {"ada": "Ada L.", "bob": "Bob M."}  # only the incident's people
    offline = OfflinePlatform("fake", stored)
    shown = h.bot.describe(incident, offline)
    assert "Bob M. restarted the primary" in shown
    assert "Operations Lead: Bob M." in shown and "Incident commander: Ada L." in shown
    draft = h.bot.export(incident, None, "md", offline).content.decode()
    assert "Bob M. restarted the primary" in draft and "{@" not in draft
    # Nobody stored a name: a Matrix id shows its localpart, never the full id.
    assert OfflinePlatform("matrix", {}).display_name("@bob:example.org") == "bob"
