"""The tagging emoji setting and the ✅ that follows the tags: one rule in the core,
written as Slack short names or as emoji characters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fakes import FakePlatform, FakeStore, FakeUnitOfWork

from adapters.config import ConfigError, load_settings
from bot.clock import ManualClock
from bot.drafts.templates import builtin_registry
from bot.emoji import TagEmoji, TagEmojiError, parse_tag_emoji
from bot.events import CommandReceived, MessageTagged, MessageUntagged
from bot.replies import Message, Reaction, ReactionRemoved, Reply
from bot.service import CoreSettings, IncidentBot

T0 = datetime(2025, 3, 4, 13, 2, tzinfo=UTC)
CHANNEL = "C-inc-1-checkout-returns-502"

# -- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written,name,char",
    [
        ("pushpin", "pushpin", "📌"),
        (":pushpin:", "pushpin", "📌"),
        ("📌", "pushpin", "📌"),
        ("round_pushpin", "round_pushpin", "📍"),
        ("📍", "round_pushpin", "📍"),
        ("bookmark", "bookmark", "🔖"),
        ("🔖", "bookmark", "🔖"),
        ("star", "star", "⭐"),
        ("⭐️", "star", "⭐"),  # with the variation selector some keyboards add
        ("memo", "memo", "📝"),
        ("📝", "memo", "📝"),
        ("hammer_and_wrench 🛠️", "hammer_and_wrench", "🛠️"),
        (":dart: 🎯", "dart", "🎯"),
    ],
)
def test_the_tag_emoji_is_written_as_a_short_name_or_as_the_emoji(
    written: str, name: str, char: str
) -> None:
    assert parse_tag_emoji(written) == TagEmoji(name, char)


@pytest.mark.parametrize(
    "written,message",
    [
        ("pin", "`pin` is not an emoji the bot knows. Write a Slack short name or the emoji"),
        ("🛠️", "for another emoji write both, its Slack name and the emoji"),
        ("dart dart", "`dart dart` is not an emoji the bot knows"),
        ("Dart 🎯", "`Dart 🎯` is not an emoji"),
        ("", "`` is not an emoji the bot knows"),
        ("white_check_mark", "✅ is how the bot confirms a tagged message"),
        ("✅", "✅ is how the bot confirms a tagged message"),
    ],
)
def test_a_tag_emoji_the_bot_cannot_use_is_explained(written: str, message: str) -> None:
    with pytest.raises(TagEmojiError, match=message.replace("(", r"\(")):
        parse_tag_emoji(written)


def test_the_setting_comes_from_the_environment_and_defaults_to_the_pushpin() -> None:
    assert load_settings({}).tag_emoji == TagEmoji("pushpin", "📌")
    settings = load_settings({"INCIDENT_BOT_TAG_EMOJI": "🔖"})
    assert settings.tag_emoji == TagEmoji("bookmark", "🔖")
    assert dict(settings.describe())["tag_emoji"] == "bookmark (🔖)"
    with pytest.raises(ConfigError, match=r"^tag_emoji: `pin` is not an emoji"):
        load_settings({"INCIDENT_BOT_TAG_EMOJI": "pin"})


def test_a_reaction_matches_by_name_or_by_character() -> None:
    star = TagEmoji("star", "⭐")
    assert star.matches("⭐") and star.matches("⭐️") and star.matches(":star:")
    assert star.matches("star")
    assert not star.matches("📌") and not star.matches(":pushpin:") and not star.matches("")


# -- the ✅ follows the tags ----------------------------------------------------------------


class Harness:
    def __init__(self, tag: TagEmoji | None = None) -> None:
        self.store = FakeStore()
        self.clock = ManualClock(T0)
        self.platform = FakePlatform()
        self.bot = IncidentBot(
            uow=lambda: FakeUnitOfWork(self.store),
            clock=self.clock,
            settings=CoreSettings(timezone=ZoneInfo("UTC"), tag_emoji=tag or TagEmoji()),
            templates=builtin_registry(),
        )
        self.started = self.say("maria", "start Checkout returns 502", channel="general")

    def say(self, user: str, text: str, channel: str = CHANNEL) -> list[Reply]:
        self.clock.advance_to(self.clock.now() + timedelta(seconds=1))
        return self.bot.handle(
            CommandReceived(workspace="w", channel=channel, user=user, text=text,
                            posted_at=self.clock.now()),
            platform=self.platform,
        )

    def tag(self, user: str, message: str) -> list[Reply]:
        return self.bot.handle(
            MessageTagged(workspace="w", channel=CHANNEL, user=user, message_ref=message,
                          author="li", text=f"text of {message}", posted_at=T0),
            platform=self.platform,
        )

    def untag(self, user: str, message: str) -> list[Reply]:
        return self.bot.handle(
            MessageUntagged(workspace="w", channel=CHANNEL, user=user, message_ref=message),
            platform=self.platform,
        )


def test_the_check_comes_off_when_the_last_tag_does() -> None:
    h = Harness()
    assert h.tag("maria", "m1") == [Reaction(channel=CHANNEL, message_ref="m1")]
    assert h.tag("jonas", "m1") == []
    assert h.untag("maria", "m1") == []  # jonas's tag still holds it on the timeline
    replies = h.untag("jonas", "m1")
    assert replies[0] == ReactionRemoved(channel=CHANNEL, message_ref="m1")
    assert isinstance(replies[1], Message) and replies[1].text.startswith("Took #")
    assert h.untag("jonas", "m1") == []  # nothing left to take off
    assert h.tag("li", "m1") == [Reaction(channel=CHANNEL, message_ref="m1")]  # back on


def test_removing_a_tagged_entry_by_command_takes_the_check_off_too() -> None:
    h = Harness()
    h.tag("maria", "m1")
    seq = h.store.incidents[-1].entry_for_message("m1").seq
    replies = h.say("maria", f"timeline remove {seq}")
    assert replies[0] == ReactionRemoved(channel=CHANNEL, message_ref="m1")
    note = h.say("maria", "note Rolled back")
    assert isinstance(note[0], Message)
    note_seq = max(entry.seq for entry in h.store.incidents[-1].timeline)
    removed = h.say("maria", f"timeline remove {note_seq}")
    assert [type(r) for r in removed] == [Message]


def test_the_bot_names_the_configured_emoji() -> None:
    h = Harness(TagEmoji("bookmark", "🔖"))
    assert any("React with 🔖 to put a message on the timeline" in r.text
               for r in h.started if isinstance(r, Message))
    listing = h.say("maria", "sections")
    assert isinstance(listing[0], Message) and "add with 🔖 or" in listing[0].text
