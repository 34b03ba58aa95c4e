"""The Slack adapter in HTTP mode, end to end: `incident-bot run` as a subprocess, Bolt's
real request handling with signed requests, the fake Slack Web API behind it."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlack
from slack_bot import (
    COMMAND,
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    command_body,
    event_callback,
    free_port,
    reaction,
    shortcut_payload,
)

pytestmark = pytest.mark.e2e

Bot = tuple[BotProcess, SlackSender]


def team() -> str:
    """A workspace of its own per test: incident numbers start at 1 in each."""
    return f"T{uuid.uuid4().hex[:8].upper()}"


def ok(answer: Any) -> None:
    assert answer.status == 200, (answer.status, answer.body)


def bot_text(fake: FakeSlack, channel: str) -> str:
    return "\n".join(m["text"] for m in fake.bot_messages(channel))


def reactions_added(fake: FakeSlack, channel: str, ts: str) -> int:
    return sum(
        1
        for call in fake.calls_to("reactions.add")
        if call.params.get("channel") == channel and call.params.get("timestamp") == ts
    )


def start_incident(fake: FakeSlack, sender: SlackSender, ws: str, title: str) -> str:
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    ok(sender.command(team=ws, channel=general, user="UADA", text=f"start {title}",
                      response_url=fake.response_url()))
    topic = fake.wait_for(
        lambda: next((c for c in fake.channels.values() if c.topic.endswith(title)), None),
        message=f"the incident channel for {title}",
    )
    fake.wait_for(lambda: fake.bot_messages(topic.id), message="the summary")
    return topic.id


def test_a_whole_incident_from_start_to_close(http_bot: Bot, fake_slack: FakeSlack) -> None:
    bot, sender = http_bot
    fake = fake_slack
    ws = team()
    general = fake.add_channel("general-whole", members={BOT_USER, "UADA", "UBOB"})
    # An old channel already has the name the incident would get: Slack says name_taken.
    fake.add_channel("inc-1-checkout-returns-502")

    answer = sender.command(
        team=ws, channel=general, user="UADA",
        text="start Checkout returns 502, paging <@UBOB|bob>",
        response_url=fake.response_url(),
    )
    ok(answer)
    assert answer.body == ""  # acked with an empty body; the work follows

    channel = fake.wait_for(
        lambda: fake.channel_named("inc-1-checkout-returns-502-paging-bob-martin"),
        message="the incident channel",
    )
    fake.wait_for(lambda: fake.bot_messages(channel.id), message="the summary")
    assert channel.topic == "Incident 1: Checkout returns 502, paging @Bob Martin"
    assert {"UADA", "UBOB"} <= channel.members  # the declarer and the person mentioned
    summary = fake.bot_messages(channel.id)[0]
    title = "Incident 1: Checkout returns 502, paging @Bob Martin"
    assert summary["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": title}}
    assert "Commander: <@UADA>" in summary["blocks"][1]["text"]["text"]
    link = fake.wait_for(lambda: fake.bot_messages(general), message="the link in #general")
    assert f"Join <#{channel.id}>." in link[0]["text"]  # Slack shows it as a channel link

    # People talk in the incident channel; the times are the messages' own.
    first = fake.post_user_message(
        channel.id, user="UBOB", at=datetime(2024, 10, 24, 8, 9, tzinfo=UTC),
        text="Pods are in CrashLoopBackOff, <@UCAROL> is looking &amp; paging db",
    )
    reply = fake.post_user_message(
        channel.id, user="UCAROL", at=datetime(2024, 10, 24, 8, 12, 30, tzinfo=UTC),
        text="Rolled back deploy 1234", thread_ts=first,
    )
    via_shortcut = fake.post_user_message(
        channel.id, user="UADA", at=datetime(2024, 10, 24, 8, 15, tzinfo=UTC),
        text="Error rate is back to normal",
    )
    unpinned = fake.post_user_message(
        channel.id, user="UBOB", at=datetime(2024, 10, 24, 8, 16, tzinfo=UTC),
        text="Wrong message, ignore this one",
    )

    for ts, author in ((first, "UBOB"), (reply, "UCAROL"), (unpinned, "UBOB")):
        ok(sender.event(event_callback(ws, reaction(
            "reaction_added", user="UADA", channel=channel.id, ts=ts, author=author))))
    message = next(m for m in fake.channels[channel.id].messages if m["ts"] == via_shortcut)
    ok(sender.shortcut(shortcut_payload(team=ws, channel=channel.id, user="UBOB",
                                        message=dict(message), response_url=fake.response_url())))
    for ts in (first, reply, via_shortcut, unpinned):
        fake.wait_for(lambda ts=ts: reactions_added(fake, channel.id, ts) == 1,
                      message=f"✅ on {ts}")
    assert fake.reactions_on(channel.id, reply)[0]["name"] == "white_check_mark"

    # Taking the 📌 off removes the entry; Slack then retries the earlier 📌 event.
    added = event_callback(ws, reaction(
        "reaction_added", user="UADA", channel=channel.id, ts=unpinned, author="UBOB"))
    ok(sender.event(event_callback(ws, reaction(
        "reaction_removed", user="UADA", channel=channel.id, ts=unpinned, author="UBOB"))))
    fake.wait_for(lambda: "Took #" in bot_text(fake, channel.id), message="the untag reply")
    ok(sender.event(added))  # a different event id: really pinned again …
    fake.wait_for(lambda: reactions_added(fake, channel.id, unpinned) == 2, message="re-pin")
    ok(sender.event(event_callback(ws, reaction(
        "reaction_removed", user="UADA", channel=channel.id, ts=unpinned, author="UBOB"))))
    fake.wait_for(lambda: bot_text(fake, channel.id).count("Took #") == 2, message="untag 2")
    retry = sender.event(added, headers={"X-Slack-Retry-Num": "1",
                                         "X-Slack-Retry-Reason": "http_timeout"})
    ok(retry)  # … but a retry of that event is acknowledged and not applied again

    # An edit updates its entry.
    fake.edit_user_message(channel.id, first, "Pods are in CrashLoopBackOff (3 replicas)")
    ok(sender.event(event_callback(ws, {
        "type": "message", "subtype": "message_changed", "channel": channel.id,
        "hidden": True, "ts": f"{time.time():.6f}",
        "message": {"type": "message", "user": "UBOB", "ts": first,
                    "text": "Pods are in CrashLoopBackOff (3 replicas), <@UCAROL> is looking"},
        "previous_message": {"type": "message", "user": "UBOB", "ts": first,
                             "text": "Pods are in CrashLoopBackOff, <@UCAROL> is looking"},
    })))

    response_url = fake.response_url()
    for text in ("note Deploy 1234 reverted by <@UCAROL|carol>", "role comms <@UBOB|bob>",
                 "severity 2", "timeline", "close"):
        ok(sender.command(team=ws, channel=channel.id, user="UADA", text=text,
                          response_url=response_url))

    upload = fake.wait_for(
        lambda: next((u for u in fake.uploads.values() if u.channel == channel.id), None),
        message="the uploaded draft",
    )
    assert upload.initial_comment is not None
    assert upload.initial_comment.startswith("Postmortem draft for incident 1")
    draft = (upload.content or b"").decode()
    timeline = bot_text(fake, channel.id)
    for when, text in (("08:09", "Pods are in CrashLoopBackOff (3 replicas), @Carol Chen is "
                                 "looking"),
                       ("08:12", "Rolled back deploy 1234"),
                       ("08:15", "Error rate is back to normal")):
        line = next((ln for ln in draft.splitlines() if text in ln), None)
        assert line is not None, f"{text!r} missing from the draft:\n{draft}"
        assert when in line, line
    assert "Wrong message" not in draft
    assert "Deploy 1234 reverted by @Carol Chen" in draft
    # People the messages name are named; the draft credits nobody (as the seeds) and
    # never shows a raw Slack id.
    for person in ("Bob Martin", "Carol Chen"):
        assert person in draft
    assert not any(user in draft for user in ("UADA", "UBOB", "UCAROL"))
    for raw_id in ("UADA", "UBOB", "UCAROL", "<@"):
        assert raw_id not in draft, f"{raw_id} in the draft:\n{draft}"
    assert "Timeline of incident 1" in timeline
    assert timeline.count("Rolled back deploy 1234") == 1

    # A report's references link to the channel, in Slack's own form.
    ok(sender.command(team=ws, channel=channel.id, user="UADA", text="export report",
                      response_url=response_url))
    report = fake.wait_for(
        lambda: next((u for u in fake.uploads.values()
                      if u.channel == channel.id and u is not upload), None),
        message="the report draft",
    )
    report_text = (report.content or b"").decode()
    assert "### Relevant Slack chat log" in report_text
    assert f"](https://app.slack.com/client/{ws}/{channel.id})" in report_text

    # Every Web API call carried the bot token (the app token is for Socket Mode only).
    assert {c.token for c in fake.calls if c.method != "apps.connections.open"} == {BOT_TOKEN}
    log = bot.log()
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert secret not in log


@pytest.mark.parametrize(
    "problem",
    ["bad signature", "missing timestamp", "missing signature", "tampered body", "old timestamp"],
)
def test_requests_slack_did_not_sign_get_401(
    http_bot: Bot, fake_slack: FakeSlack, problem: str
) -> None:
    _, sender = http_bot
    channel = fake_slack.add_channel(f"unsigned-{uuid.uuid4().hex[:6]}", members={BOT_USER})
    body = command_body(team=team(), channel=channel, user="UADA", text="start Forged",
                        response_url=fake_slack.response_url())
    options: dict[str, Any] = {
        "bad signature": {"signature": "v0=" + "0" * 64},
        "missing timestamp": {"headers": {"X-Slack-Request-Timestamp": ""}},
        "missing signature": {"headers": {"X-Slack-Signature": ""}},
        "tampered body": {"signed_body": body.replace("Forged", "Genuine")},
        "old timestamp": {"timestamp": int(time.time()) - 6 * 60},
    }[problem]
    answer = sender.post(body, content_type="application/x-www-form-urlencoded", **options)
    assert answer.status == 401
    assert not any(c.name.endswith("forged") for c in fake_slack.channels.values())


def test_a_correctly_signed_request_is_accepted(http_bot: Bot, fake_slack: FakeSlack) -> None:
    """The control for the 401 cases: the same request, signed, starts an incident."""
    _, sender = http_bot
    channel = start_incident(fake_slack, sender, team(), "Signed and sealed")
    assert fake_slack.channels[channel].name == "inc-1-signed-and-sealed"


def test_a_mistyped_command_tells_only_its_author(http_bot: Bot, fake_slack: FakeSlack) -> None:
    _, sender = http_bot
    general = fake_slack.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER})
    url = fake_slack.response_url()
    ok(sender.command(team=team(), channel=general, user="UADA", text="severity 9",
                      response_url=url))
    rid = url.rsplit("/", 1)[-1]
    body = fake_slack.wait_for(
        lambda: next((b for r, b in fake_slack.responses if r == rid), None),
        message="the ephemeral error",
    )
    assert body["response_type"] == "ephemeral"
    assert "/incident severity" in body["text"]  # the usage, with Slack's prefix
    assert not fake_slack.bot_messages(general)


def test_a_command_where_the_bot_is_not_a_member_answers_through_response_url(
    http_bot: Bot, fake_slack: FakeSlack
) -> None:
    _, sender = http_bot
    elsewhere = fake_slack.add_channel(f"random-{uuid.uuid4().hex[:6]}")  # bot not invited
    url = fake_slack.response_url()
    ok(sender.command(team=team(), channel=elsewhere, user="UADA", text="help",
                      response_url=url))
    rid = url.rsplit("/", 1)[-1]
    body = fake_slack.wait_for(
        lambda: next((b for r, b in fake_slack.responses if r == rid), None),
        message="the in-channel answer",
    )
    assert body["response_type"] == "in_channel"
    assert "/incident start TITLE" in body["text"]


def test_web_api_429_is_retried_after_retry_after(http_bot: Bot, fake_slack: FakeSlack) -> None:
    _, sender = http_bot
    ws = team()
    channel = start_incident(fake_slack, sender, ws, "Rate limited")
    before = len(fake_slack.calls_to("chat.postMessage"))
    fake_slack.rate_limit_next("chat.postMessage", retry_after=1)
    ok(sender.command(team=ws, channel=channel, user="UADA", text="severity 3",
                      response_url=fake_slack.response_url()))
    fake_slack.wait_for(lambda: "Severity set to SEV3." in bot_text(fake_slack, channel),
                        message="the reply after the 429")
    calls = [c for c in fake_slack.calls_to("chat.postMessage")[before:]
             if c.params.get("channel") == channel]
    assert len(calls) == 2  # the 429, then the retry
    assert calls[1].at - calls[0].at >= 0.9  # it waited for Retry-After


def test_a_web_api_error_is_told_to_the_user(http_bot: Bot, fake_slack: FakeSlack) -> None:
    bot, sender = http_bot
    general = fake_slack.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER})
    fake_slack.fail_next("conversations.create", "restricted_action")
    url = fake_slack.response_url()
    ok(sender.command(team=team(), channel=general, user="UADA", text="start Not allowed",
                      response_url=url))
    rid = url.rsplit("/", 1)[-1]
    body = fake_slack.wait_for(
        lambda: next((b for r, b in fake_slack.responses if r == rid), None),
        message="the explanation",
    )
    assert body["response_type"] == "ephemeral"
    assert "conversations.create" in body["text"] and "restricted_action" in body["text"]
    assert "Nothing was recorded" in body["text"]
    fake_slack.wait_for(lambda: "restricted_action" in bot.log(), message="the log line")


def test_plain_chat_is_acked_and_ignored(http_bot: Bot, fake_slack: FakeSlack) -> None:
    _, sender = http_bot
    ws = team()
    channel = fake_slack.add_channel(f"chat-{uuid.uuid4().hex[:6]}", members={BOT_USER})
    ts = fake_slack.post_user_message(channel, user="UADA", text="hello")
    answer = sender.event(event_callback(ws, {
        "type": "message", "channel": channel, "user": "UADA", "text": "hello", "ts": ts,
    }))
    assert answer.status == 200  # acked, so Slack does not retry it
    # One channel's work runs in arrival order: by the time `help`, sent after, is
    # answered, anything the plain message had caused would be there too.
    ok(sender.command(team=ws, channel=channel, user="UADA", text="help",
                      response_url=fake_slack.response_url()))
    fake_slack.wait_for(lambda: fake_slack.bot_messages(channel), message="the help")
    assert len(fake_slack.bot_messages(channel)) == 1
    assert not fake_slack.reactions_on(channel, ts)


def test_a_retry_of_an_event_that_never_arrived_is_handled(
    http_bot: Bot, fake_slack: FakeSlack
) -> None:
    """Retries are dropped only when the first delivery reached the bot; if it never did
    (the bot was down), the retry is the event, and losing it would lose an entry."""
    _, sender = http_bot
    ws = team()
    channel = start_incident(fake_slack, sender, ws, "First delivery lost")
    ts = fake_slack.post_user_message(channel, user="UBOB", text="Disk full on db-2")
    ok(sender.event(
        event_callback(ws, reaction("reaction_added", user="UADA", channel=channel, ts=ts,
                                    author="UBOB")),
        headers={"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_error"},
    ))
    fake_slack.wait_for(lambda: reactions_added(fake_slack, channel, ts) == 1, message="✅")


def test_a_deleted_message_leaves_the_timeline(http_bot: Bot, fake_slack: FakeSlack) -> None:
    _, sender = http_bot
    ws = team()
    channel = start_incident(fake_slack, sender, ws, "Deleted evidence")
    ts = fake_slack.post_user_message(channel, user="UBOB", text="Posted in the wrong place")
    ok(sender.event(event_callback(ws, reaction(
        "reaction_added", user="UADA", channel=channel, ts=ts, author="UBOB"))))
    fake_slack.wait_for(lambda: reactions_added(fake_slack, channel, ts) == 1, message="✅")
    ok(sender.event(event_callback(ws, {
        "type": "message", "subtype": "message_deleted", "channel": channel, "hidden": True,
        "deleted_ts": ts, "ts": f"{time.time():.6f}",
        "previous_message": {"type": "message", "user": "UBOB", "ts": ts,
                             "text": "Posted in the wrong place"},
    })))
    ok(sender.command(team=ws, channel=channel, user="UADA", text="timeline",
                      response_url=fake_slack.response_url()))
    listing = fake_slack.wait_for(
        lambda: next((m["text"] for m in fake_slack.bot_messages(channel)
                      if m["text"].startswith("Timeline of incident 1")), None),
        message="the timeline",
    )
    assert "Posted in the wrong place" not in listing
    assert "Incident declared" in listing


def test_a_refused_reply_is_explained_to_the_person(
    http_bot: Bot, fake_slack: FakeSlack
) -> None:
    """The 📌 is recorded; Slack refuses the ✅, and the person who pinned is told so."""
    bot, sender = http_bot
    ws = team()
    channel = start_incident(fake_slack, sender, ws, "No reactions scope")
    ts = fake_slack.post_user_message(channel, user="UBOB", text="Cache hit rate dropped")
    fake_slack.fail_next("reactions.add", "missing_scope")
    before = len(fake_slack.calls_to("chat.postEphemeral"))
    ok(sender.event(event_callback(ws, reaction(
        "reaction_added", user="UCAROL", channel=channel, ts=ts, author="UBOB"))))
    told = fake_slack.wait_for(
        lambda: fake_slack.calls_to("chat.postEphemeral")[before:], message="the explanation"
    )[0]
    assert told.params["user"] == "UCAROL"
    assert "reactions.add" in told.params["text"] and "missing_scope" in told.params["text"]
    assert "record itself is saved" in told.params["text"]
    ok(sender.command(team=ws, channel=channel, user="UADA", text="timeline",
                      response_url=fake_slack.response_url()))
    fake_slack.wait_for(
        lambda: any("Bob Martin: Cache hit rate dropped" in m["text"]
                    for m in fake_slack.bot_messages(channel)),
        message="the entry on the timeline",
    )
    assert "missing_scope" in bot.log()


def test_200_slash_commands_20_at_a_time_are_all_acked_fast_and_all_applied(
    http_bot: Bot, fake_slack: FakeSlack
) -> None:
    """Ack first, work after: the acks do not wait for the database or the Web API.
    The bound is generous (Slack allows 3 s); bench/slack_ack.py measures precisely."""
    _, sender = http_bot
    ws = team()
    channel = start_incident(fake_slack, sender, ws, "Under load")
    url = fake_slack.response_url()

    def note(n: int) -> float:
        answer = sender.command(team=ws, channel=channel, user="UADA", text=f"note load {n}",
                                response_url=url)
        ok(answer)
        return answer.seconds

    with ThreadPoolExecutor(max_workers=20) as pool:
        seconds = list(pool.map(note, range(200)))
    assert max(seconds) < 2.0, sorted(seconds)[-5:]
    fake_slack.wait_for(
        lambda: sum("Noted on the timeline" in m["text"]
                    for m in fake_slack.bot_messages(channel)) == 200,
        timeout=90,
        message="all 200 notes applied",
    )


def test_a_wrong_bot_token_stops_the_bot_with_a_clear_message(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    wrong = "xoxb-9-not-the-right-token"
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("INCIDENT_BOT_", "SLACK_"))}
    environment.update({
        "SLACK_BOT_TOKEN": wrong,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "INCIDENT_BOT_SLACK_PORT": str(free_port()),
        "INCIDENT_BOT_SLACK_API_URL": fake_slack.api_url,
        "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
    })
    done = subprocess.run([str(COMMAND), "run"], env=environment, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "Slack did not accept SLACK_BOT_TOKEN (auth.test: invalid_auth)" in done.stderr
    assert wrong not in done.stderr + done.stdout


def test_slack_s_url_verification_challenge_is_answered(http_bot: Bot) -> None:
    """What Slack sends when an admin saves the Request URL (README, HTTP mode)."""
    _, sender = http_bot
    answer = sender.event({"token": "legacy", "type": "url_verification", "challenge": "c-42"})
    assert answer.status == 200
    assert json.loads(answer.body) == {"challenge": "c-42"}


def test_a_shortcut_that_changes_nothing_says_why(http_bot: Bot, fake_slack: FakeSlack) -> None:
    _, sender = http_bot
    ws = team()

    def shortcut_answer(channel: str, ts: str) -> str:
        message = next(m for m in fake_slack.channels[channel].messages if m["ts"] == ts)
        url = fake_slack.response_url()
        ok(sender.shortcut(shortcut_payload(team=ws, channel=channel, user="UADA",
                                            message=dict(message), response_url=url)))
        rid = url.rsplit("/", 1)[-1]
        body = fake_slack.wait_for(
            lambda: next((b for r, b in fake_slack.responses if r == rid), None),
            message="the shortcut's answer",
        )
        assert body["response_type"] == "ephemeral"
        return str(body["text"])

    chat = fake_slack.add_channel(f"chat-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    lunch = fake_slack.post_user_message(chat, user="UADA", text="Lunch?",
                                         at=datetime(2024, 10, 24, 12, 0, tzinfo=UTC))
    assert "this channel has no incident" in shortcut_answer(chat, lunch)

    channel = start_incident(fake_slack, sender, ws, "Shortcut twice")
    logs = fake_slack.post_user_message(channel, user="UADA", text="Disk at 95%",
                                        at=datetime(2024, 10, 24, 12, 1, tzinfo=UTC))
    message = next(m for m in fake_slack.channels[channel].messages if m["ts"] == logs)
    ok(sender.shortcut(shortcut_payload(team=ws, channel=channel, user="UADA",
                                        message=dict(message),
                                        response_url=fake_slack.response_url())))
    fake_slack.wait_for(lambda: reactions_added(fake_slack, channel, logs) == 1,
                        message="✅ on the first shortcut")
    assert "already on the incident's timeline" in shortcut_answer(channel, logs)
