"""Alerts on Slack: `incident-bot run` (Socket Mode, the fake Slack) takes Alertmanager's
notification, opens the incident's channel, announces it where the route says, and
posts the alerts' summary there."""

from __future__ import annotations

from pathlib import Path

from alert_notifications import firing, post_to_alertmanager_hook
from fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlack
from slack_bot import BotProcess, free_port, port_open

TOKEN = "slack-alerts-token-77"


def test_an_alert_opens_a_slack_channel_and_posts_the_summary(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    announce = fake_slack.add_channel("alerts-announce", members={BOT_USER})
    (tmp_path / "settings.toml").write_text(
        "[[alerts.routes]]\n"
        "match = ['severity=\"critical\"']\n"
        f'platform = "slack"\nworkspace = "TFAKE"\nannounce = "{announce}"\n'
    )
    http_port = free_port()
    bot = BotProcess(
        workdir=tmp_path,
        env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "INCIDENT_BOT_SLACK_API_URL": fake_slack.api_url,
            "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
            "INCIDENT_BOT_HTTP_PORT": str(http_port),
            "INCIDENT_BOT_CONFIG": str(tmp_path / "settings.toml"),
            "INCIDENT_BOT_ALERTMANAGER_TOKEN": TOKEN,
        },
    )
    try:
        bot.wait_until(lambda: port_open(http_port))
        alert = firing("QueueBacklog", "Orders queue is backing up", "51ac000000000001")
        assert post_to_alertmanager_hook(http_port, alert, TOKEN) == 200
        name = "inc-1-queuebacklog-orders-queue-is-backing-up"
        channel = fake_slack.wait_for(
            lambda: (found := fake_slack.channel_named(name)) and found.topic and found,
            message="the incident's channel, with its topic",
        )
        assert channel.topic == "Incident 1: QueueBacklog: Orders queue is backing up"
        summary = fake_slack.wait_for(
            lambda: [
                m["text"] for m in fake_slack.bot_messages(channel.id)
                if "Alerts for incident 1" in m["text"]
            ],
            message="the summary in the incident's channel",
        )  # fmt: skip
        assert "1 firing since the last summary: QueueBacklog." in summary[0]
        announced = fake_slack.wait_for(
            lambda: [m["text"] for m in fake_slack.bot_messages(announce)],
            message="the announcement",
        )
        assert "Incident 1 declared by alertmanager alerts" in announced[0]
        assert f"<#{channel.id}" in announced[0] or channel.name in announced[0]
        assert TOKEN not in bot.log()
    finally:
        code = bot.stop()
    assert code == 0, bot.log_tail()
