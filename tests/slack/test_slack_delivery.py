"""Replies that answer no event (reminders) go out through SlackAdapter.deliver; when
Slack refuses, deliver raises so the reminder is tried again later."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_slack import BOT_TOKEN, BOT_USER, FakeSlack

from adapters.bootstrap import build_bot, build_inbox, prepare_database
from adapters.config import Settings
from adapters.slack.adapter import SlackAdapter
from adapters.slack.delivery import DeliveryFailed
from adapters.slack.settings import slack_settings
from bot.clock import SystemClock
from bot.replies import FileUpload, Message


@pytest.fixture
def adapter(fake_slack: FakeSlack, tmp_path: Path) -> SlackAdapter:
    url = f"sqlite:///{tmp_path}/bot.db"
    prepare_database(url)
    settings = slack_settings({
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "unused-here",
        "INCIDENT_BOT_SLACK_API_URL": fake_slack.api_url,
    })
    assert settings is not None
    return SlackAdapter(bot=build_bot(Settings(database_url=url), clock=SystemClock()),
                        settings=settings, inbox=build_inbox(Settings(database_url=url)))


def test_deliver_posts_a_reminder_with_its_mention(
    adapter: SlackAdapter, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.add_channel("inc-9-reminded", members={BOT_USER})
    text = f"{adapter.mention('UBOB')}, the status has not changed for 30 minutes."
    adapter.deliver([Message(channel=channel, text=text)])
    posted = fake_slack.bot_messages(channel)[0]
    assert posted["text"] == "<@UBOB>, the status has not changed for 30 minutes."
    assert posted["blocks"][0]["text"]["text"] == posted["text"]


def test_deliver_uploads_files_with_the_v2_flow(
    adapter: SlackAdapter, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.add_channel("inc-9-upload", members={BOT_USER})
    adapter.deliver([FileUpload(channel=channel, filename="inc-9.md", content=b"# Draft\n",
                                media_type="text/markdown", comment="Draft <3 & more")])
    upload = next(u for u in fake_slack.uploads.values() if u.channel == channel)
    assert upload.content == b"# Draft\n" and upload.filename == "inc-9.md"
    assert upload.initial_comment == "Draft &lt;3 &amp; more"


def test_deliver_raises_when_slack_refuses(adapter: SlackAdapter, fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("inc-9-archived", members={BOT_USER})
    fake_slack.fail_next("chat.postMessage", "is_archived")
    with pytest.raises(DeliveryFailed, match=r"chat\.postMessage.*is_archived"):
        adapter.deliver([Message(channel=channel, text="Reminder")])
    assert not fake_slack.bot_messages(channel)
