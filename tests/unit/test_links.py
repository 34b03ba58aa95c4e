"""References collected from what people wrote: tickets, merge and pull requests,
commits, each kind once and in the order first written; nothing but http(s) links."""

from __future__ import annotations

import re

from adapters.matrix.render import room_link
from adapters.slack.links import channel_link
from bot.drafts.links import LinkRules, collect_links

TEXTS = [
    "Bottlerocket issue https://github.com/bottlerocket-os/bottlerocket/issues/4260 "
    "describes it; [PR-158](https://github.com/bottlerocket-os/bottlerocket/pull/158) "
    "merged.",
    "Fix in https://gitlab.example.org/infra/aws/ecs-master/-/merge_requests/77, "
    "commit https://gitlab.example.org/infra/aws/ecs-master/-/commit/1a2b3c4d5e6f7a8b.",
    "Reverted (https://github.com/acme/shop/commit/0123456789abcdef0123456789abcdef01234567).",
    "Tracked as WR#404019 and https://acme.atlassian.net/browse/OPS-12; also wr#404019.",
    "Again https://github.com/bottlerocket-os/bottlerocket/pull/158 and WR#403945!",
    "Not these: javascript:alert(1) https://example.org/docs/page ftp://x/pull/1",
]


def labels(links: object) -> list[str]:
    return [link.label for link in links]  # type: ignore[attr-defined]


def test_each_kind_is_collected_once_in_the_order_written() -> None:
    found = collect_links(TEXTS, LinkRules(ticket_patterns=(re.compile(r"WR#\d+", re.I),)))
    assert labels(found.pull_requests) == ["bottlerocket-os/bottlerocket#158"]
    assert labels(found.merge_requests) == ["infra/aws/ecs-master!77"]
    assert labels(found.commits) == ["infra/aws/ecs-master@1a2b3c4d", "acme/shop@01234567"]
    assert labels(found.tickets) == [
        "bottlerocket-os/bottlerocket#4260", "WR#404019", "OPS-12", "WR#403945",
    ]
    assert found.pull_requests[0].url == "https://github.com/bottlerocket-os/bottlerocket/pull/158"
    # The closing parenthesis and the comma are the sentence's, not the URL's.
    assert found.commits[1].url is not None and found.commits[1].url.endswith("01234567")
    assert found.merge_requests[0].url is not None
    assert found.merge_requests[0].url.endswith("/-/merge_requests/77")


def test_tickets_without_a_link_are_linked_when_the_team_says_how() -> None:
    rules = LinkRules(
        ticket_patterns=(re.compile(r"WR#(\d+)"),),
        ticket_url="https://wrms.example.org/wr.php?request_id={id}",
    )
    [ticket] = collect_links(["See WR#404019."], rules).tickets
    assert ticket.label == "WR#404019"
    assert ticket.url == "https://wrms.example.org/wr.php?request_id=404019"
    [unlinked] = collect_links(["See WR#404019."], LinkRules(rules.ticket_patterns)).tickets
    assert unlinked.url is None


def test_without_patterns_only_links_count() -> None:
    assert not collect_links(["WR#404019 and PR-158"])


def test_a_url_cannot_carry_markup_into_any_format() -> None:
    found = collect_links([
        'https://github.com/a/b/pull/1"><script>x</script>',
        "https://github.com/a/b/pull/2)](javascript:alert(1))",
        "https://github.com/a/b/pull/3`code`",
    ])
    for link in found.pull_requests:
        assert link.url is not None
        assert not set(link.url) & set("\"'<>()[]` \\"), link.url


def test_platform_links_to_the_channel_need_no_connection() -> None:
    slack = channel_link(workspace="T024BE7LD", channel_id="C0123ABC")
    assert (slack.platform, slack.url) == (
        "Slack", "https://app.slack.com/client/T024BE7LD/C0123ABC"
    )
    matrix = room_link("!OGEhHVWSdvArJzumhm:example.org")
    assert (matrix.platform, matrix.url) == (
        "Matrix", "https://matrix.to/#/!OGEhHVWSdvArJzumhm:example.org?via=example.org"
    )
    # Room version 12 ids name no server: the link goes via the bot's.
    v12 = room_link("!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM", via="example.org")
    assert v12.url == (
        "https://matrix.to/#/!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM?via=example.org"
    )
