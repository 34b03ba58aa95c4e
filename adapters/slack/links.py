"""Links into Slack that need no API call (the command line renders drafts offline too)."""

from __future__ import annotations

from urllib.parse import quote

from bot.ports import ChannelLink

WEB_CLIENT = "https://app.slack.com/client"


def channel_link(*, workspace: str, channel_id: str) -> ChannelLink:
    """The channel in Slack's web client; the desktop app takes it over when installed.

    `workspace` is the team id (`T…`) the events came with. Without one, Slack's redirect
    opens the channel in whichever workspace the reader is signed in to.
    """
    channel = quote(channel_id, safe="")
    if workspace:
        return ChannelLink("Slack", f"{WEB_CLIENT}/{quote(workspace, safe='')}/{channel}")
    return ChannelLink("Slack", f"https://slack.com/app_redirect?channel={channel}")
