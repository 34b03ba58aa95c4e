"""Renders the core's replies as Slack Web API calls.

Replies answering an event may fall back and are reported to the person who caused
them when Slack refuses; replies answering nothing (reminders) raise, so the caller can
retry them later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.webhook import WebhookClient

from adapters.slack.platform import DisplayNames, api_error
from adapters.slack.text import blocks, escape
from bot.replies import FileUpload, Message, Reaction, ReactionRemoved, Reply

log = logging.getLogger(__name__)

# What a person can do about the Web API errors a workspace admin can fix.
HINTS = {
    "not_in_channel": "Invite the bot to this channel (`/invite @incident-bot`) and try again.",
    "channel_not_found": "The bot cannot see that channel; invite it there and try again.",
    "missing_scope": "The Slack app lacks a permission it needs; a workspace admin can "
    "reinstall it from slack-app-manifest.yml.",
    "restricted_action": "This workspace does not let the bot do that; a workspace admin "
    "can allow apps to create channels.",
    "ratelimited": "Slack is rate-limiting the bot; try again in a minute.",
    "invalid_auth": "The bot's Slack token is not valid; a workspace admin must set a "
    "new SLACK_BOT_TOKEN.",
    "token_revoked": "The bot's Slack token was revoked; a workspace admin must set a "
    "new SLACK_BOT_TOKEN.",
}


@dataclass(frozen=True)
class Origin:
    """Where an event came from, so problems can be told to the person who caused it."""

    channel: str
    user: str
    response_url: str | None = None


class DeliveryFailed(Exception):
    """Slack refused a reply; the message is fit for the person and the log."""


def method_of(error: SlackApiError) -> str:
    """`conversations.create`, from the failed call's URL (which carries no secret)."""
    url = getattr(error.response, "api_url", "") or ""
    return url.rstrip("/").rsplit("/", 1)[-1] or "a Web API method"


def refusal(error: SlackApiError, doing: str) -> str:
    code = api_error(error)
    hint = HINTS.get(code, "")
    return f"Slack refused to {doing} (`{method_of(error)}`: {code}). {hint}".rstrip()


class Delivery:
    def __init__(
        self, *, client: WebClient, names: DisplayNames, retry_handlers: list[RetryHandler]
    ) -> None:
        self._client = client
        self._names = names
        self._retry_handlers = retry_handlers

    def deliver(self, replies: Sequence[Reply], origin: Origin | None = None) -> None:
        """Posts each reply. Without an origin a refusal raises DeliveryFailed; with one,
        the person is told and the remaining replies still go out."""
        for reply in replies:
            try:
                self._one(reply, origin)
            except SlackApiError as error:
                problem = refusal(error, _doing(reply))
                log.warning("%s", problem)
                if origin is None:
                    raise DeliveryFailed(problem) from error
                self.tell(origin, f"{problem} The incident record itself is saved.")

    def tell(self, origin: Origin, text: str) -> None:
        """A message only `origin.user` sees; logged when even that fails."""
        try:
            if origin.response_url:
                self._respond(origin.response_url, text, ephemeral=True, is_error=True)
            else:
                self._client.chat_postEphemeral(
                    channel=origin.channel,
                    user=origin.user,
                    text=escape(text),
                    blocks=blocks(text, self._names, is_error=True),
                )
        except (SlackApiError, DeliveryFailed) as error:
            reason = api_error(error) if isinstance(error, SlackApiError) else str(error)
            log.warning("could not tell %s about a problem: %s", origin.user, reason)

    def _one(self, reply: Reply, origin: Origin | None) -> None:
        if isinstance(reply, Message):
            self._message(reply, origin)
        elif isinstance(reply, Reaction):
            try:
                self._client.reactions_add(
                    channel=reply.channel, timestamp=reply.message_ref, name=reply.emoji
                )
            except SlackApiError as error:
                if api_error(error) != "already_reacted":
                    raise
        elif isinstance(reply, ReactionRemoved):
            try:
                self._client.reactions_remove(
                    channel=reply.channel, timestamp=reply.message_ref, name=reply.emoji
                )
            except SlackApiError as error:
                # Already gone (taken off by hand, or the message was deleted): done.
                if api_error(error) not in ("no_reaction", "message_not_found"):
                    raise
        elif isinstance(reply, FileUpload):
            self._client.files_upload_v2(
                channel=reply.channel,
                content=reply.content,
                filename=reply.filename,
                title=reply.filename,
                initial_comment=escape(reply.comment),
            )

    def _message(self, reply: Message, origin: Origin | None) -> None:
        if reply.is_error and origin is not None:
            self.tell(origin, reply.text)  # only the person who got it wrong needs to see it
            return
        try:
            self._client.chat_postMessage(
                channel=reply.channel,
                text=escape(reply.text),
                blocks=blocks(reply.text, self._names, is_error=reply.is_error),
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            answerable = (
                origin is not None
                and origin.response_url
                and origin.channel == reply.channel
                and api_error(error) in ("not_in_channel", "channel_not_found")
            )
            if not answerable:
                raise
            # A slash command in a channel the bot has not joined: its response_url
            # still answers there.
            assert origin is not None and origin.response_url
            self._respond(origin.response_url, reply.text, ephemeral=False, is_error=False)

    def _respond(self, url: str, text: str, *, ephemeral: bool, is_error: bool) -> None:
        webhook = WebhookClient(url=url, retry_handlers=self._retry_handlers)
        payload: dict[str, Any] = {
            "text": escape(text),
            "blocks": blocks(text, self._names, is_error=is_error),
            "response_type": "ephemeral" if ephemeral else "in_channel",
        }
        response = webhook.send_dict(payload)
        if response.status_code != 200:
            raise DeliveryFailed(
                f"Slack refused the slash command's response (HTTP {response.status_code}); "
                "its response_url may have expired."
            )


def _doing(reply: Reply) -> str:
    if isinstance(reply, Message):
        return "post the bot's reply"
    if isinstance(reply, Reaction):
        return "add the ✅ reaction"
    if isinstance(reply, ReactionRemoved):
        return "take the ✅ reaction off"
    return f"upload {reply.filename}"
