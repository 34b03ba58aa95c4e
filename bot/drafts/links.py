"""References a report's readers follow: the tickets, merge requests, pull requests and
commits that people linked or named in the incident's messages.

Links are recognised by the shape of their path, whatever the host (GitHub, GitLab and
Jira, hosted or self-managed): `/pull/N`, `/-/merge_requests/N`, `/commit/SHA`,
`/issues/N`, `/browse/KEY-N`. Tickets written without a link (`WR#404019`) are found by
the team's own patterns (the `ticket_patterns` setting), and linked when the team says
how (`ticket_url`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

# A URL as people paste it; it ends before spaces, quotes, brackets and angle brackets
# (a Markdown link's `)` included), and trailing punctuation is not part of it.
_URL = re.compile(r"https?://[^\s<>()\[\]{}\"'`|\\]+", re.IGNORECASE)
_TRAILING = ".,;:!?*_~"

_PULL = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/pull/(?P<n>\d+)")
_MERGE = re.compile(r"^/(?P<repo>.+?)/-/merge_requests/(?P<n>\d+)")
_COMMIT = re.compile(r"^/(?P<repo>.+?)(?:/-)?/commits?/(?P<sha>[0-9a-f]{7,40})\b", re.I)
_ISSUE = re.compile(r"^/(?P<repo>.+?)(?:/-)?/issues/(?P<n>\d+)")
_JIRA = re.compile(r"^/browse/(?P<key>[A-Z][A-Z0-9]+-\d+)")
# Characters a link destination may hold as they are; anything else is %-encoded, so a
# URL can never end a Markdown link early or carry markup.
_URL_SAFE = "-._~:/?#@!$&'*+,;=%"


@dataclass(frozen=True)
class LinkRules:
    """How a team writes ticket numbers without a link: regular expressions, and the
    URL of one ticket (`{id}`: the pattern's first group, else the whole match)."""

    ticket_patterns: tuple[re.Pattern[str], ...] = ()
    ticket_url: str | None = None


NO_TICKET_PATTERNS = LinkRules()


@dataclass(frozen=True)
class Link:
    label: str  # as a reader names it: `WR#404019`, `acme/shop!12`, `acme/shop@1a2b3c4d`
    url: str | None  # http(s) only, safe to put in any format; None: a ticket with no URL


@dataclass(frozen=True)
class Links:
    tickets: tuple[Link, ...] = ()
    merge_requests: tuple[Link, ...] = ()
    pull_requests: tuple[Link, ...] = ()
    commits: tuple[Link, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tickets or self.merge_requests or self.pull_requests or self.commits)


@dataclass
class _Found:
    tickets: dict[str, Link] = field(default_factory=dict)
    merge_requests: dict[str, Link] = field(default_factory=dict)
    pull_requests: dict[str, Link] = field(default_factory=dict)
    commits: dict[str, Link] = field(default_factory=dict)


def collect_links(texts: Iterable[str], rules: LinkRules = NO_TICKET_PATTERNS) -> Links:
    """Every reference in `texts`, each once, in the order first written."""
    found = _Found()
    for text in texts:
        if not rules.ticket_patterns and "://" not in text:
            continue  # no URL (`_URL` needs `://`) and no ticket pattern: most chat lines
        urls = list(_URL.finditer(text))
        tickets = [match for pattern in rules.ticket_patterns for match in pattern.finditer(text)]
        # In the order written, whichever form each reference takes.
        for match in sorted([*urls, *tickets], key=lambda match: match.start()):
            if match.re is _URL:
                _classify(match.group(0).rstrip(_TRAILING), found)
            elif not any(url.start() <= match.start() < url.end() for url in urls):
                ticket = match.group(0)  # (a ticket number inside a URL is that URL's)
                found.tickets.setdefault(ticket.upper(), Link(ticket, _ticket_url(rules, match)))
    return Links(
        tickets=tuple(found.tickets.values()),
        merge_requests=tuple(found.merge_requests.values()),
        pull_requests=tuple(found.pull_requests.values()),
        commits=tuple(found.commits.values()),
    )


def safe_url(url: str) -> str | None:
    """The URL if it is http(s), %-encoded so no format can read markup into it."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return quote(url, safe=_URL_SAFE)


def _classify(url: str, found: _Found) -> None:
    parts = urlsplit(url)
    path = parts.path
    link = safe_url(url)
    if link is None:
        return
    if match := _MERGE.match(path):
        label = f"{match['repo']}!{match['n']}"
        found.merge_requests.setdefault(label, Link(label, link))
    elif match := _PULL.match(path):
        label = f"{match['repo']}#{match['n']}"
        found.pull_requests.setdefault(label, Link(label, link))
    elif match := _COMMIT.match(path):
        label = f"{match['repo']}@{match['sha'][:8]}"
        found.commits.setdefault(label, Link(label, link))
    elif match := _ISSUE.match(path):
        label = f"{match['repo']}#{match['n']}"
        found.tickets.setdefault(label.upper(), Link(label, link))
    elif match := _JIRA.match(path):
        found.tickets.setdefault(match["key"], Link(match["key"], link))


def _ticket_url(rules: LinkRules, match: re.Match[str]) -> str | None:
    if not rules.ticket_url:
        return None
    ticket = match.group(1) if match.re.groups and match.group(1) else match.group(0)
    return safe_url(rules.ticket_url.replace("{id}", quote(ticket, safe="")))


def compile_ticket_patterns(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """Raises ValueError naming the pattern that is not a regular expression."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as problem:
            raise ValueError(f"`{pattern}` is not a regular expression: {problem}") from None
        if compiled[-1].match(""):
            raise ValueError(f"`{pattern}` matches empty text; a ticket pattern needs a shape")
    return tuple(compiled)
