"""Incidents from alerts: the rules, in neutral terms.

An alert source (Prometheus' Alertmanager, Grafana) sends a notification per alert
group; the adapters in `adapters/alerts/` read its payload into an `AlertNotification`
and this module says what it means for the incidents:

- which alerts declare an incident (a route's label matchers; the rest are ignored);
- one incident per group (`group_key`): each alert, by fingerprint, is one timeline
  entry at its own `starts_at`, and a resolved one a second entry at its `ends_at`;
  an alert that fires again after resolving has a new `starts_at`, so a new entry;
- the incident's title (a template over labels and annotations) and severity (a
  mapping from a label's values);
- the summary the channel gets, at most once per `SUMMARY_EVERY` for a group.

Pure: no clock, no storage. The service layer (`bot.alert_intake`) applies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import limits
from bot.mentions import literal

# Who the alert entries and the declaration are credited to.
ALERT_AUTHOR = "alertmanager"
# A group's channel gets a summary at most this often (a storm is one message a minute).
SUMMARY_EVERY = timedelta(minutes=1)
# How many alerts a summary names; the rest are counted.
SUMMARY_NAMES = 10
# Entry references: the firing entry of an alert (fingerprint and the start of this
# firing), and its resolved entry.
_REF_PREFIX = "alert:"


class AlertRuleError(ValueError):
    """A routing rule that cannot be used; the message says which and how to write it."""


# -- what a source sent -------------------------------------------------------------------


@dataclass(frozen=True)
class AlertLink:
    kind: str  # "source", "runbook", "dashboard", "panel", "silence"
    url: str


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    status: str  # "firing" or "resolved"
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None  # None while firing (Alertmanager sends year 1)
    links: tuple[AlertLink, ...] = ()

    @property
    def firing(self) -> bool:
        return self.status != "resolved"

    @property
    def name(self) -> str:
        return self.labels.get("alertname") or self.fingerprint

    @property
    def firing_ref(self) -> str:
        return f"{_REF_PREFIX}{self.fingerprint}:{self.starts_at:%Y%m%dT%H%M%S.%fZ}"

    @property
    def resolved_ref(self) -> str:
        return f"{self.firing_ref}:resolved"


@dataclass(frozen=True)
class AlertNotification:
    source: str  # "alertmanager" or "grafana": the sender, as people name it
    group_key: str
    status: str  # "firing" while any alert of the group fires, else "resolved"
    receiver: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    alerts: tuple[Alert, ...]


def is_alert_ref(source_ref: str | None) -> bool:
    return bool(source_ref and source_ref.startswith(_REF_PREFIX))


# -- the rules ----------------------------------------------------------------------------

_MATCHER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*
    (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"]*))\s*$""",
    re.VERBOSE,
)
MATCHER_FORMS = 'name="value", name!="value", name=~"regex" or name!~"regex"'


@dataclass(frozen=True)
class Matcher:
    """One label matcher, as Alertmanager writes them: `severity="critical"`."""

    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    match = _MATCHER.match(text)
    if match is None:
        raise AlertRuleError(f"`{text}` is not a label matcher; write {MATCHER_FORMS}")
    value = match["quoted"] if match["quoted"] is not None else match["bare"]
    value = re.sub(r"\\(.)", r"\1", value)
    if match["op"] in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as problem:
            raise AlertRuleError(
                f"`{text}`: `{value}` is not a regular expression: {problem}"
            ) from None
    return Matcher(match["name"], match["op"], value)


DEFAULT_TITLE = "{alertname}: {annotation.summary}"
DEFAULT_SEVERITIES: Mapping[str, int] = {
    "critical": 1,
    "page": 1,
    "error": 2,
    "high": 2,
    "warning": 3,
    "medium": 3,
    "info": 4,
    "low": 4,
}
_PLACEHOLDER = re.compile(r"^(?:(?:label|annotation)\.)?[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class AlertRoute:
    """Which alerts declare an incident, and where it goes."""

    name: str
    matchers: tuple[Matcher, ...]
    platform: str  # "console", "slack" or "matrix"
    workspace: str  # the team id on Slack, the homeserver on Matrix, `console`
    announce: str  # channel id or room id where the declaration is announced
    title: str = DEFAULT_TITLE
    severity_label: str = "severity"
    severities: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SEVERITIES))

    def matches(self, alert: Alert) -> bool:
        return all(matcher.matches(alert.labels) for matcher in self.matchers)

    def title_for(self, alerts: Sequence[Alert], group_labels: Mapping[str, str]) -> str:
        """The template filled from the first alert's labels and annotations (then the
        group's labels); what is missing is left empty, and dangling separators go."""
        first = alerts[0]
        values: dict[str, str] = {**group_labels, **first.labels}
        for key, value in first.labels.items():
            values[f"label.{key}"] = value
        for key, value in first.annotations.items():
            values[f"annotation.{key}"] = value
        rendered = _TEMPLATE_PART.sub(
            lambda part: "{" if part[0] == "{{" else "}" if part[0] == "}}" else
            values.get(part[1] or "", ""),
            self.title,
        )
        title = " ".join(rendered.split()).strip(" :-–—|,") or f"Alert {first.name}"
        return limits.shortened(literal(title), limits.TITLE_CHARS)

    def severity_for(self, alerts: Sequence[Alert]) -> int | None:
        """The most severe level any alert's label maps to; None when none maps."""
        levels = [
            self.severities[value]
            for alert in alerts
            if (value := alert.labels.get(self.severity_label, "").lower()) in self.severities
        ]
        return min(levels, default=None)

    def describe(self) -> str:
        matchers = ", ".join(str(m) for m in self.matchers) or "every alert"
        severities = " ".join(f"{k}={v}" for k, v in self.severities.items())
        return (
            f"{matchers} -> {self.platform}/{self.workspace} announce {self.announce}; "
            f'title "{self.title}"; severity from `{self.severity_label}`: {severities}'
        )


# `{{` and `}}` are braces; `{name}` a placeholder.
_TEMPLATE_PART = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def check_title_template(template: str) -> None:
    for part in _TEMPLATE_PART.finditer(template):
        name = part[1]
        if name is not None and not _PLACEHOLDER.match(name):
            raise AlertRuleError(
                f"title `{template}`: `{{{name}}}` is not a placeholder; write a label "
                "name ({alertname}, {label.team}) or {annotation.NAME}"
            )
    rest = _TEMPLATE_PART.sub("", template)
    if "{" in rest or "}" in rest:
        raise AlertRuleError(
            f"title `{template}`: a brace without its pair; write placeholders such as "
            "{alertname} or {annotation.summary}, and {{ or }} for a brace itself"
        )


PLATFORMS = ("console", "slack", "matrix")


def parse_route(raw: Mapping[str, object], index: int) -> AlertRoute:
    """One `[[alerts.routes]]` table of the settings file."""
    where = f"alerts.routes[{index}]"
    known = {"name", "match", "platform", "workspace", "announce", "title", "severity"}
    known |= {"severity_label"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise AlertRuleError(
            f"{where}: unknown key(s) {', '.join(unknown)}; a route has "
            f"{', '.join(sorted(known))}"
        )
    name = str(raw.get("name", f"route {index + 1}"))
    match = raw.get("match", [])
    if isinstance(match, str):
        match = [match]
    if not isinstance(match, list) or not all(isinstance(m, str) for m in match):
        raise AlertRuleError(
            f'{where}: `match` is a list of label matchers, e.g. match = [\'severity="critical"\', '
            "'team=\"payments\"']"
        )
    try:
        matchers = tuple(parse_matcher(text) for text in match)
    except AlertRuleError as problem:
        raise AlertRuleError(f"{where}: {problem}") from None
    platform = str(raw.get("platform", "console")).lower()
    if platform not in PLATFORMS:
        raise AlertRuleError(
            f"{where}: platform `{platform}` is not one of {', '.join(PLATFORMS)}"
        )
    workspace = str(raw.get("workspace", "console" if platform == "console" else ""))
    announce = str(raw.get("announce", "general" if platform == "console" else ""))
    if not workspace.strip():
        raise AlertRuleError(
            f"{where}: `workspace` is missing; on {platform} write the "
            + ("team id (T0123ABCD)" if platform == "slack" else "homeserver name")
        )
    if not announce.strip():
        raise AlertRuleError(
            f"{where}: `announce` is missing: where the bot says an incident was declared, "
            + ("a channel id (C0123ABCD)" if platform == "slack" else "a room id (!abc:server)")
        )
    title = str(raw.get("title", DEFAULT_TITLE))
    try:
        check_title_template(title)
    except AlertRuleError as problem:
        raise AlertRuleError(f"{where}: {problem}") from None
    severity_label = str(raw.get("severity_label", "severity"))
    severities = raw.get("severity", DEFAULT_SEVERITIES)
    if not isinstance(severities, Mapping) or not all(
        isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 4
        for level in severities.values()
    ):
        raise AlertRuleError(
            f"{where}: `severity` maps label values to levels 1 to 4, e.g. "
            "[alerts.routes.severity] critical = 1, warning = 3"
        )
    return AlertRoute(
        name=name,
        matchers=matchers,
        platform=platform,
        workspace=workspace,
        announce=announce,
        title=title,
        severity_label=severity_label,
        severities={str(k).lower(): int(v) for k, v in severities.items()},
    )


@dataclass(frozen=True)
class AlertRules:
    routes: tuple[AlertRoute, ...] = ()

    def route_for(self, notification: AlertNotification) -> tuple[AlertRoute, list[Alert]] | None:
        """The first route any alert of the group matches, with the alerts it matches;
        None when no route takes any (the notification is ignored)."""
        for route in self.routes:
            matched = [alert for alert in notification.alerts if route.matches(alert)]
            if matched:
                return route, matched
        return None


NO_ALERT_RULES = AlertRules()


# -- what the timeline and the channel get ----------------------------------------------

_LINK_WORDS = {
    "source": "Source",
    "runbook": "Runbook",
    "dashboard": "Dashboard",
    "panel": "Panel",
    "silence": "Silence",
}
_LINK_IN_TEXT = re.compile(
    r"(?P<word>" + "|".join(_LINK_WORDS.values()) + r"): (?P<url>https?://\S+)"
)


def _describe(alert: Alert) -> str:
    """What the alert is, in its own words; `{@…}` look-alikes in them stay text (an
    alert names nobody)."""
    return literal(_describe_raw(alert))


def _describe_raw(alert: Alert) -> str:
    about = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    labels = ", ".join(
        f"{key}={value}" for key, value in sorted(alert.labels.items()) if key != "alertname"
    )
    text = alert.name
    if labels:
        text += f" ({labels})"
    if about:
        text += f": {' '.join(about.split())}"
    return text


def firing_text(alert: Alert, source: str) -> str:
    """The entry of an alert firing: what it is, then its links (kept whole: a long
    description is shortened first)."""
    links = " ".join(f"{_LINK_WORDS.get(link.kind, link.kind)}: {link.url}" for link in alert.links)
    head = f"Alert firing ({source}): "
    room = limits.ENTRY_CHARS - len(head) - (len(links) + 2 if links else 0)
    text = head + limits.shortened(_describe(alert), max(room, 200))
    return limits.shortened(f"{text}. {links}" if links else text)


def resolved_text(alert: Alert, source: str) -> str:
    return limits.shortened(f"Alert resolved ({source}): {_describe(alert)}")


def links_in_entry(text: str) -> list[tuple[str, str]]:
    """The (label, url) pairs an alert entry carries, for a draft's references."""
    name = text.split(": ", 1)[1].split(" (", 1)[0].split(":", 1)[0] if ": " in text else ""
    return [
        (f"{name} {match['word'].lower()}".strip(), match["url"])
        for match in _LINK_IN_TEXT.finditer(text)
    ]


@dataclass(frozen=True)
class AlertChanges:
    """What one notification added to an incident's timeline."""

    fired: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fired or self.resolved)


def summary_due(last_summary: datetime | None, now: datetime) -> bool:
    return last_summary is None or now - last_summary >= SUMMARY_EVERY


def summary_text(
    *,
    number: int,
    fired: int,
    resolved: int,
    names: Sequence[str],
    firing_now: int | None,
    source: str,
) -> str:
    """The channel's one message about what the alerts did since the last summary:
    how many fired and resolved, the names of the latest ones, how many still fire."""
    lines = [f"Alerts for incident {number} ({source}):"]
    counts = [f"{count} {verb}" for count, verb in ((fired, "firing"), (resolved, "resolved"))]
    counts = [text for text, count in zip(counts, (fired, resolved), strict=True) if count]
    if counts:
        unique = list(dict.fromkeys(names))
        shown = ", ".join(unique[:SUMMARY_NAMES])
        more = ", …" if len(unique) > SUMMARY_NAMES else ""
        lines.append(f"{' and '.join(counts)} since the last summary: {shown}{more}.")
    if firing_now is not None:
        lines.append(f"Firing now: {firing_now}.")
    lines.append("Each alert is on the timeline at its own time (`timeline` lists them).")
    return "\n".join(lines)


@dataclass
class AlertGroup:
    """An alert group's incident, and what its channel has not been told yet."""

    workspace: str
    group_key: str
    incident_number: int
    source: str = "alertmanager"  # who sends the group's notifications
    summary_at: datetime | None = None  # when the channel last got a summary
    pending_fired: int = 0  # alerts put on the timeline since that summary
    pending_resolved: int = 0
    pending_names: tuple[str, ...] = ()  # the latest of them, by name (a few)
    firing_now: int | None = None  # as the latest notification said

    @property
    def pending(self) -> bool:
        return bool(self.pending_fired or self.pending_resolved)

    def note(self, changes: AlertChanges, firing_now: int) -> None:
        self.pending_fired += len(changes.fired)
        self.pending_resolved += len(changes.resolved)
        names = [literal(alert.name) for alert in (*changes.fired, *changes.resolved)]
        self.pending_names = tuple(dict.fromkeys([*self.pending_names, *names]))[
            -SUMMARY_NAMES * 2 :
        ]
        self.firing_now = firing_now

    def summary(self, now: datetime) -> str:
        """The summary of what is pending; the group then has nothing pending."""
        text = summary_text(
            number=self.incident_number,
            fired=self.pending_fired,
            resolved=self.pending_resolved,
            names=self.pending_names,
            firing_now=self.firing_now,
            source=self.source,
        )
        self.summary_at = now
        self.pending_fired = self.pending_resolved = 0
        self.pending_names = ()
        return text


def all_resolved_text(number: int, prefix: str) -> str:
    return (
        f"Every alert of incident {number} has resolved. If the service looks healthy, "
        f"`{prefix} status monitoring`; the incident stays open until someone resolves it."
    )
