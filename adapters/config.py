"""Settings: environment variables `INCIDENT_BOT_…` over an optional TOML file over
defaults. Secrets come from the environment or from files (`…_FILE`), never printed.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.alerts import NO_ALERT_RULES, AlertRuleError, AlertRules, parse_route
from bot.drafts.links import NO_TICKET_PATTERNS, LinkRules, compile_ticket_patterns
from bot.emoji import TagEmoji, TagEmojiError, parse_tag_emoji
from bot.reminders import DURATION_FORMS, ReminderRules, format_duration, parse_duration

PREFIX = "INCIDENT_BOT_"
DEFAULT_DATABASE_URL = "sqlite:///incident-bot.db"


class ConfigError(Exception):
    """A setting that cannot be used; says which and how to write it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    drafts_dir: Path = Path("drafts")
    default_template: str = "standard"
    templates_dir: Path | None = None  # a team's own templates, over the built-ins by name
    declarer_is_commander: bool = True
    tag_emoji: TagEmoji = field(default_factory=TagEmoji)  # the reaction that tags a message
    config_file: Path | None = None
    # Reminders (design §3); durations are written 30m, 2h, 1d.
    remind_no_commander_after: timedelta = timedelta(minutes=10)
    remind_status_every: timedelta = timedelta(minutes=30)
    remind_sections_after: timedelta = timedelta(hours=24)
    remind_sections_every: timedelta = timedelta(days=1)
    remind_sections_max: int = 5
    remind_sweep_interval: timedelta = timedelta(seconds=5)
    # Ticket numbers people write without a link, and the URL of one (`{id}`).
    links: LinkRules = NO_TICKET_PATTERNS
    # Values for the templates' [options] (a report's organisation, a blog's category):
    # under "" for every template, under a template's name for that one.
    template_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # A stored request (the inbox) whose handling has not finished this long after it
    # was taken is taken up again, by this process or another replica.
    inbox_retry_after: timedelta = timedelta(seconds=30)
    # On SQLite, how durable a stored request is before its ack: `normal` survives the
    # bot being killed, `full` also a power loss, at an fsync per commit (storage/inbox.py).
    inbox_sync: str = "normal"
    # Housekeeping: how long a platform event id is kept to drop a re-delivery of it.
    processed_events_retention: timedelta = timedelta(days=30)
    # The level of the libraries' loggers (Slack, Matrix, APScheduler, alembic …); the
    # bot's own lines are at INFO unless this is lower.
    log_level: str = "WARNING"
    # Which alerts declare incidents, and where (`[[alerts.routes]]` in the file).
    alert_rules: AlertRules = NO_ALERT_RULES
    # The largest alert notification the receivers take, in bytes.
    alerts_max_body: int = 1024 * 1024

    def reminder_rules(self) -> ReminderRules:
        return ReminderRules(
            no_commander_after=self.remind_no_commander_after,
            status_every=self.remind_status_every,
            sections_after=self.remind_sections_after,
            sections_every=self.remind_sections_every,
            sections_max=self.remind_sections_max,
        )

    def describe(self) -> list[tuple[str, str]]:
        """Each setting as shown to an operator, secrets masked."""
        return [
            ("config_file", str(self.config_file) if self.config_file else "(none)"),
            ("database_url", mask_url(self.database_url)),
            ("timezone", self.timezone.key),
            ("drafts_dir", str(self.drafts_dir)),
            ("default_template", self.default_template),
            ("templates_dir", str(self.templates_dir) if self.templates_dir else "(none)"),
            ("declarer_is_commander", str(self.declarer_is_commander).lower()),
            ("tag_emoji", self.tag_emoji.describe()),
            ("remind_no_commander_after", format_duration(self.remind_no_commander_after)),
            ("remind_status_every", format_duration(self.remind_status_every)),
            ("remind_sections_after", format_duration(self.remind_sections_after)),
            ("remind_sections_every", format_duration(self.remind_sections_every)),
            ("remind_sections_max", str(self.remind_sections_max)),
            ("remind_sweep_interval", format_duration(self.remind_sweep_interval)),
            (
                "ticket_patterns",
                " ".join(p.pattern for p in self.links.ticket_patterns) or "(none)",
            ),
            ("ticket_url", self.links.ticket_url or "(none)"),
            *(
                (f"template_options{'.' + name if name else ''}.{key}", value)
                for name, values in sorted(self.template_options.items())
                for key, value in sorted(values.items())
            ),
            ("inbox_retry_after", format_duration(self.inbox_retry_after)),
            ("inbox_sync", self.inbox_sync),
            ("processed_events_retention", format_duration(self.processed_events_retention)),
            ("log_level", self.log_level),
            ("alerts_max_body", f"{self.alerts_max_body} bytes"),
            *(
                (f"alerts.routes[{index}] {route.name}", route.describe())
                for index, route in enumerate(self.alert_rules.routes)
            ),
        ]


def mask_url(url: str) -> str:
    """`postgresql://bot:s3cret@db/x` -> `postgresql://bot:***@db/x`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    config_path = env.get(f"{PREFIX}CONFIG")
    file_values: dict[str, object] = {}
    config_file = None
    if config_path:
        config_file = Path(config_path)
        try:
            file_values = tomllib.loads(config_file.read_text("utf-8"))
        except OSError as problem:
            raise ConfigError(
                f"{PREFIX}CONFIG names {config_file}, which cannot be read: {problem.strerror}"
            ) from None
        except tomllib.TOMLDecodeError as problem:
            raise ConfigError(f"{config_file}: not valid TOML: {problem}") from None

    def value(key: str, default: str) -> str:
        name = f"{PREFIX}{key.upper()}"
        if name in env:
            return env[name]
        secret_file = env.get(f"{name}_FILE")
        if secret_file:
            try:
                return Path(secret_file).read_text("utf-8").strip()
            except OSError as problem:
                raise ConfigError(
                    f"{name}_FILE names {secret_file}, which cannot be read: {problem.strerror}"
                ) from None
        if key in file_values:
            return str(file_values[key])
        return default

    zone_name = value("timezone", "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"timezone: `{zone_name}` is not a known time zone; use an IANA name such as "
            "UTC, Europe/Oslo or America/New_York"
        ) from None
    return Settings(
        database_url=value("database_url", DEFAULT_DATABASE_URL),
        timezone=zone,
        drafts_dir=Path(value("drafts_dir", "drafts")),
        default_template=value("default_template", "standard"),
        templates_dir=Path(value("templates_dir", "")) if value("templates_dir", "") else None,
        declarer_is_commander=parse_boolean(
            "declarer_is_commander", value("declarer_is_commander", "true")
        ),
        tag_emoji=_tag_emoji(value("tag_emoji", "pushpin")),
        config_file=config_file,
        remind_no_commander_after=_duration(
            "remind_no_commander_after", value("remind_no_commander_after", "10m")
        ),
        remind_status_every=_duration("remind_status_every", value("remind_status_every", "30m")),
        remind_sections_after=_duration(
            "remind_sections_after", value("remind_sections_after", "24h")
        ),
        remind_sections_every=_duration(
            "remind_sections_every", value("remind_sections_every", "1d")
        ),
        remind_sections_max=_count("remind_sections_max", value("remind_sections_max", "5")),
        remind_sweep_interval=_duration(
            "remind_sweep_interval", value("remind_sweep_interval", "5s")
        ),
        links=_links(env, file_values, value("ticket_url", "")),
        template_options=_template_options(file_values.get("template_options", {})),
        inbox_retry_after=_duration("inbox_retry_after", value("inbox_retry_after", "30s")),
        inbox_sync=_inbox_sync(value("inbox_sync", "normal")),
        processed_events_retention=_duration(
            "processed_events_retention", value("processed_events_retention", "30d")
        ),
        log_level=_log_level(value("log_level", "WARNING")),
        alert_rules=_alert_rules(file_values.get("alerts", {})),
        alerts_max_body=_size("alerts_max_body", value("alerts_max_body", "1MiB")),
    )


def _alert_rules(raw: object) -> AlertRules:
    """`[alerts]` in the TOML file, with one `[[alerts.routes]]` table per route."""
    if not isinstance(raw, dict):
        raise ConfigError(
            "alerts: a table, e.g. [[alerts.routes]] match = ['severity=\"critical\"']"
        )
    unknown = sorted(set(raw) - {"routes"})
    if unknown:
        raise ConfigError(
            f"alerts: unknown key(s) {', '.join(unknown)}; write [[alerts.routes]] tables "
            "(and alerts_max_body at the top level)"
        )
    routes = raw.get("routes", [])
    if not isinstance(routes, list) or not all(isinstance(route, dict) for route in routes):
        raise ConfigError(
            "alerts.routes: one [[alerts.routes]] table per route, each with `match`, "
            "`platform`, `workspace` and `announce`"
        )
    try:
        return AlertRules(tuple(parse_route(route, index) for index, route in enumerate(routes)))
    except AlertRuleError as problem:
        raise ConfigError(str(problem)) from None


_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib|k|m)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2}
_SIZE_UNITS["mib"] = 1024**2


def _size(key: str, text: str) -> int:
    match = _SIZE.match(text)
    if match is None or int(match[1]) < 1:
        raise ConfigError(
            f"{key}: `{text}` is not a size; write a number of bytes, or 512KiB, 1MiB"
        )
    return int(match[1]) * _SIZE_UNITS[(match[2] or "").lower()]


def _template_options(raw: object) -> dict[str, dict[str, str]]:
    """`[template_options]` in the TOML file: `key = "value"` for every template, and
    `[template_options.NAME]` tables for one template."""
    problem = ConfigError(
        "template_options: a table of text values, e.g. "
        '[template_options] organisation = "Acme Ltd", and [template_options.blog] '
        'category = "outages" for one template'
    )
    if not isinstance(raw, dict):
        raise problem
    options: dict[str, dict[str, str]] = {"": {}}
    for key, value in raw.items():
        if isinstance(value, dict):
            if not all(isinstance(v, str | int | float | bool) for v in value.values()):
                raise problem
            options[key] = {str(k): str(v) for k, v in value.items()}
        elif isinstance(value, str | int | float | bool):
            options[""][key] = str(value)
        else:
            raise problem
    return {name: values for name, values in options.items() if values}

def _links(env: Mapping[str, str], file_values: Mapping[str, object], url: str) -> LinkRules:
    """`ticket_patterns`: a TOML list of regular expressions, or in the environment one
    pattern per line or separated by spaces."""
    name = f"{PREFIX}TICKET_PATTERNS"
    raw: object = env[name].split() if name in env else file_values.get("ticket_patterns", [])
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ConfigError(
            "ticket_patterns: a list of regular expressions, e.g. "
            "ticket_patterns = ['WR#\\d+', 'OPS-\\d+']"
        )
    try:
        patterns = compile_ticket_patterns(raw)
    except ValueError as problem:
        raise ConfigError(f"ticket_patterns: {problem}") from None
    if url and not url.startswith(("https://", "http://")):
        raise ConfigError(
            f"ticket_url: `{url}` is not an http(s) URL; write e.g. "
            "https://tickets.example.org/view/{id}"
        )
    return LinkRules(ticket_patterns=patterns, ticket_url=url or None)


INBOX_SYNCS = ("normal", "full")


def _inbox_sync(text: str) -> str:
    sync = text.strip().lower()
    if sync not in INBOX_SYNCS:
        raise ConfigError(
            f"inbox_sync: `{text}` is not an inbox durability; write normal (a stored "
            "request survives the bot being killed) or full (also a power loss, slower acks)"
        )
    return sync


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(
            f"log_level: `{text}` is not a log level; write one of "
            f"{', '.join(name.lower() for name in LOG_LEVELS)}"
        )
    return level


def _duration(key: str, text: str) -> timedelta:
    duration = parse_duration(text)
    if duration is None:
        raise ConfigError(f"{key}: `{text}` is not a duration; write {DURATION_FORMS}")
    return duration


def _tag_emoji(text: str) -> TagEmoji:
    try:
        return parse_tag_emoji(text)
    except TagEmojiError as problem:
        raise ConfigError(f"tag_emoji: {problem}") from None


def _count(key: str, text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{key}: `{text}` is not a whole number of at least 1")
    return int(text)


def parse_boolean(key: str, text: str) -> bool:
    """`true`/`false` as people write them in settings (also yes/no, on/off, 1/0)."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}: `{text}` is not true or false")


def secret_from(environ: Mapping[str, str], name: str) -> str | None:
    """A secret from the variable itself, or from the file its `NAME_FILE` names."""
    value = environ.get(name, "").strip()
    if value:
        return value
    path = environ.get(f"{name}_FILE", "").strip()
    if not path:
        return None
    try:
        return Path(path).read_text("utf-8").strip() or None
    except OSError as problem:
        raise ConfigError(
            f"{name}_FILE names {path}, which cannot be read: {problem.strerror}"
        ) from None
