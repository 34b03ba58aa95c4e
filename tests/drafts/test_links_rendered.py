"""The report's References in Markdown and HTML: the chat log link from the platform,
then what the incident's messages linked, under the template's sub-headings; a URL
written to break out of its link stays inside it."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from drafting import MD, REGISTRY, T0, Page, incident_with

from bot.drafts.links import LinkRules
from bot.drafts.render import render
from bot.drafts.view import build_view
from bot.ports import ChannelLink

TEXT = (
    "Fixed by https://github.com/acme/shop/pull/9 and WR#404019; "
    'see https://github.com/acme/shop/pull/10"><script>alert(1)</script> '
    "and https://github.com/acme/shop/pull/11)](javascript:alert(1))"
)
CHAT = ChannelLink("Slack", "https://app.slack.com/client/T1/C2")


def _report(fmt: str, chat_log: ChannelLink | None = CHAT) -> str:
    template = REGISTRY.get("report")
    assert template is not None
    view = build_view(
        incident_with(TEXT, "Checkout down"), template, zone=ZoneInfo("UTC"),
        name_of=lambda user: user, command_prefix="/incident", now=T0 + timedelta(hours=2),
        link_rules=LinkRules((re.compile(r"WR#\d+"),)), chat_log=chat_log,
    )
    return render(view, template, REGISTRY, fmt).content.decode()


def _references(tokens_html: str) -> Page:
    return Page(tokens_html.split('<h2>References</h2>', 1)[1])


def test_markdown_references_have_their_sub_headings_and_links() -> None:
    html = MD.render(_report("md"))
    page = _references(html)
    assert [text for tag, text in page.headings] == [
        "Relevant Slack chat log", "Tickets", "Pull requests",
    ]
    hrefs = [dict(attrs)["href"] for tag, attrs in page.tags if tag == "a"]
    assert hrefs == [
        "https://app.slack.com/client/T1/C2",
        "https://github.com/acme/shop/pull/9",
        "https://github.com/acme/shop/pull/10",
        "https://github.com/acme/shop/pull/11",
    ]
    assert not any(tag == "script" for tag, _ in page.tags)


def test_html_references_match_and_the_console_has_no_chat_log() -> None:
    page = _references(_report("html"))
    assert [text for tag, text in page.headings][:3] == [
        "Relevant Slack chat log", "Tickets", "Pull requests",
    ]
    assert "WR#404019" in "".join(page.text)
    assert not any(tag == "script" for tag, _ in page.tags)
    hrefs = {dict(attrs).get("href") for tag, attrs in page.tags if tag == "a"}
    assert all(href and href.startswith("https://") for href in hrefs)
    console = _references(_report("html", chat_log=None))
    assert "chat log" not in "".join(text for _, text in console.headings)
