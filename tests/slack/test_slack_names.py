"""Names everywhere, on Slack: mentions kept as references, resolved when rendered, and
the names stored so a command-line export with no Slack connection shows them too."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid

import pytest
from fake_slack import BOT_USER, FakeSlack
from slack_bot import COMMAND, BotProcess, SlackSender, event_callback, reaction

pytestmark = pytest.mark.e2e

Bot = tuple[BotProcess, SlackSender]


def ok(answer: object) -> None:
    assert getattr(answer, "status", None) == 200, answer


def cli(bot: BotProcess, *args: str) -> str:
    """`incident-bot …` in a process of its own, on the bot's database, with no Slack
    settings at all."""
    workdir = bot.log_path.parent
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("INCIDENT_BOT_", "SLACK_"))
    }
    environment["INCIDENT_BOT_DATABASE_URL"] = f"sqlite:///{workdir}/bot.db"
    done = subprocess.run(
        [str(COMMAND), *args], capture_output=True, text=True, cwd=workdir,
        env=environment, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def rename(fake: FakeSlack, sender: SlackSender, ws: str, user: str, handle: str,
           name: str) -> None:
    """The person changes their display name: Slack answers users.info with the new one
    and sends the app a `user_change` event."""
    fake.add_user(user, name=handle, display_name=name)
    ok(sender.event(event_callback(ws, {"type": "user_change", "user": fake.users[user]})))


def test_a_renamed_person_shows_their_current_name_in_the_draft_and_offline(
    http_bot: Bot, fake_slack: FakeSlack
) -> None:
    bot, sender = http_bot
    fake = fake_slack
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    dan, erin = f"UDAN{uuid.uuid4().hex[:6].upper()}", f"UERIN{uuid.uuid4().hex[:6].upper()}"
    fake.add_user(dan, name="dan", display_name="Dan Brown")
    fake.add_user(erin, name="erin", display_name="Erin Wolfe")
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    response_url = fake.response_url()

    def command(text: str, channel: str, user: str = "UADA") -> None:
        ok(sender.command(team=ws, channel=channel, user=user, text=text,
                          response_url=response_url))

    command("start Names stay current", general)
    channel = fake.wait_for(lambda: fake.channel_named("inc-1-names-stay-current"),
                            message="the incident channel")
    fake.wait_for(lambda: fake.bot_messages(channel.id), message="the summary")
    # Mentions in every kind of free text, by someone who later changes their name.
    tagged = fake.post_user_message(channel.id, user=erin,
                                    text=f"Handing the DB failover to <@{dan}> now")
    ok(sender.event(event_callback(ws, reaction(
        "reaction_added", user="UADA", channel=channel.id, ts=tagged, author=erin))))
    fake.wait_for(lambda: any(c.params.get("timestamp") == tagged
                              for c in fake.calls_to("reactions.add")), message="✅")
    command(f"note <@{dan}> promoted the replica", channel.id)
    command(f"timeline add 00:01 Alert fired, <@{dan}> paged", channel.id)
    command(f"set summary The replica lag paged <@{dan}|dan>, who failed over.", channel.id)
    command(f"action Write the runbook with <@{dan}> <@{erin}>", channel.id)
    command(f"role ops <@{dan}>", channel.id)
    fake.wait_for(lambda: "is now Operations Lead" in "\n".join(
        m["text"] for m in fake.bot_messages(channel.id)), message="the role reply")
    echo = next(m["text"] for m in fake.bot_messages(channel.id)
                if m["text"].startswith("Action item #1"))
    assert "@Dan Brown" in echo and dan not in echo  # a reply names people, no ref shows

    rename(fake, sender, ws, dan, "dan", "Daniel Okafor")
    command("timeline", channel.id)
    listing = fake.wait_for(
        lambda: next((m["text"] for m in fake.bot_messages(channel.id)
                      if m["text"].startswith("Timeline of incident 1")), None),
        message="the timeline listing",
    )
    assert "@Daniel Okafor promoted the replica" in listing
    assert "Dan Brown" not in listing

    command("close", channel.id)
    upload = fake.wait_for(
        lambda: next((u for u in fake.uploads.values() if u.channel == channel.id), None),
        message="the uploaded draft",
    )
    draft = (upload.content or b"").decode()
    for text in ("Handing the DB failover to @Daniel Okafor now",
                 "@Daniel Okafor promoted the replica", "Alert fired, @Daniel Okafor paged",
                 "The replica lag paged @Daniel Okafor, who failed over.",
                 "Write the runbook with @Daniel Okafor"):
        assert text in draft, f"{text!r} missing from the draft:\n{draft}"
    assert "Dan Brown" not in draft
    for raw in (dan, erin, "UADA", "{@", "<@"):
        assert raw not in draft, f"{raw} in the draft:\n{draft}"

    # The command line, in a process of its own with no Slack settings: stored names.
    exported = cli(bot, "export", "1", "--workspace", ws)
    assert "@Daniel Okafor promoted the replica" in exported
    assert "Handing the DB failover to @Daniel Okafor now" in exported
    # The commander, stored when she declared it, in the team section of the report
    # (the standard template, like its seed, has none).
    report = cli(bot, "export", "1", "--template", "report", "--workspace", ws)
    assert "| Incident commander | Ada Lovelace |" in report
    for raw in (dan, erin, "UADA", "{@", "<@"):
        assert raw not in exported, f"{raw} in the export:\n{exported}"
    shown = cli(bot, "show", "1", "--workspace", ws)
    assert "Operations Lead: Daniel Okafor" in shown
    assert "Incident commander: Ada Lovelace" in shown
    assert "Erin Wolfe: Handing the DB failover to @Daniel Okafor now" in shown
    for raw in (dan, erin, "UADA", "{@"):
        assert raw not in shown, f"{raw} in `show`:\n{shown}"

    # A name changes after the close: the next export shows it, on Slack and offline.
    rename(fake, sender, ws, dan, "dan", "Dani Okafor")
    fake.wait_for(lambda: "Dani Okafor" in cli(bot, "export", "1", "--workspace", ws),
                  message="the new name stored")


def test_names_are_stored_only_when_new_or_changed(
    http_bot: Bot, fake_slack: FakeSlack
) -> None:
    """Many events by the same people cost no more users.info calls and no more writes
    than the first: the adapter remembers what it told the core."""
    bot, sender = http_bot
    fake = fake_slack
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    response_url = fake.response_url()
    ok(sender.command(team=ws, channel=general, user="UADA", text="start Quiet names",
                      response_url=response_url))
    channel = fake.wait_for(lambda: fake.channel_named("inc-1-quiet-names"),
                            message="the incident channel")
    fake.wait_for(lambda: fake.bot_messages(channel.id), message="the summary")
    before = len(fake.calls_to("users.info"))
    for n in range(20):
        ok(sender.command(team=ws, channel=channel.id, user="UADA",
                          text=f"note step {n} with <@UBOB>", response_url=response_url))
    fake.wait_for(lambda: sum("Noted on the timeline" in m["text"]
                              for m in fake.bot_messages(channel.id)) == 20,
                  message="20 notes")
    # Ada and Bob were looked up already (by this bot process, earlier or just now):
    # at most one call each, not one per event.
    assert len(fake.calls_to("users.info")) - before <= 2

    # Slack sends `user_change` for everyone in the workspace: a stranger's profile
    # change stores nothing (and asks Slack nothing).
    stranger = f"UZED{uuid.uuid4().hex[:6].upper()}"
    fake.add_user(stranger, name="zed", display_name="Zed Stranger")
    calls = len(fake.calls_to("users.info"))
    ok(sender.event(event_callback(ws, {"type": "user_change", "user": fake.users[stranger]})))
    ok(sender.command(team=ws, channel=channel.id, user="UADA", text="note after the change",
                      response_url=response_url))
    fake.wait_for(lambda: sum("Noted on the timeline" in m["text"]
                              for m in fake.bot_messages(channel.id)) == 21,
                  message="the note after the user_change")
    assert len(fake.calls_to("users.info")) == calls
    database = sqlite3.connect(bot.log_path.parent / "bot.db")
    try:
        rows = database.execute(
            "SELECT user_id FROM people WHERE workspace = ?", (ws,)
        ).fetchall()
    finally:
        database.close()
    assert {row[0] for row in rows} == {"UADA", "UBOB"}


def test_typed_mention_syntax_comes_back_as_text_not_a_ping(
    http_bot: Bot, fake_slack: FakeSlack
) -> None:
    """Someone who types `<@UCEO>` (Slack delivers `&lt;@UCEO&gt;`) or pastes the
    adapter's private mention mark gets their characters back, never a ping of the
    CEO; the mentions the bot itself writes still ping."""
    _, sender = http_bot
    fake = fake_slack
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    response_url = fake.response_url()

    def command(text: str, channel: str) -> None:
        ok(sender.command(team=ws, channel=channel, user="UADA", text=text,
                          response_url=response_url))

    command("start Forged mentions", general)
    channel = fake.wait_for(lambda: fake.channel_named("inc-1-forged-mentions"),
                            message="the incident channel")
    fake.wait_for(lambda: fake.bot_messages(channel.id), message="the summary")
    command("note ask &lt;@UCEO&gt; and \ue000@UCFO\ue000 to call &lt;!channel&gt;", channel.id)
    command("role comms <@UBOB|bob>", channel.id)
    command("timeline", channel.id)
    listing = fake.wait_for(
        lambda: next((m["text"] for m in fake.bot_messages(channel.id)
                      if m["text"].startswith("Timeline of incident 1")), None),
        message="the timeline listing",
    )
    assert "ask &lt;@UCEO&gt; and @UCFO to call &lt;!channel&gt;" in listing, listing
    posted = "\n".join(m["text"] + str(m.get("blocks")) for m in fake.bot_messages(channel.id))
    for forged in ("<@UCEO>", "<@UCFO>", "<!channel>", "\ue000"):
        assert forged not in posted, f"{forged!r} reached Slack as markup:\n{posted}"
    assert "<@UBOB>" in posted  # the bot's own mention of the new comms lead pings
