"""`incident-bot`: the command line. Thin: parse arguments, build, call, print."""

from __future__ import annotations

import argparse
import contextlib
import functools
import getpass
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.adapter import Adapter, HttpMount
from adapters.bootstrap import DatabaseNotReady, build_bot, prepare_database
from adapters.config import ConfigError, Settings, load_settings, mask_url
from adapters.console.app import Console, new_console_clock
from adapters.logs import configure_logging
from adapters.offline import OfflinePlatform
from adapters.runner import run_adapters
from bot.clock import SystemClock
from bot.domain import IncidentError
from bot.summary import IncidentSummary
from bot.telemetry import Telemetry
from storage.database import upgrade_database


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        return int(args.run(args, settings))
    except ConfigError as problem:
        print(f"incident-bot: configuration: {problem}", file=sys.stderr)
        return 2
    except (IncidentError, DatabaseNotReady) as problem:
        print(f"incident-bot: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-bot",
        description="An incident bot: keeps the timeline, drafts the postmortem.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="start the adapters the settings enable (the console when none are set)"
    )
    run.set_defaults(run=_run)

    console = commands.add_parser(
        "console", help="chat with the bot in the terminal, or play a transcript from stdin"
    )
    console.add_argument("--tz", help="timezone of stamps and replies (default: the setting)")
    console.add_argument(
        "--user", help="who you are when a typed line names nobody (interactive only)"
    )
    console.set_defaults(run=_console)

    export = commands.add_parser("export", help="write an incident's postmortem draft")
    export.add_argument("number", type=int, help="the incident number")
    export.add_argument("--template", help="template name (default: the incident's)")
    export.add_argument(
        "--format", default="md", choices=["md", "html", "docx"], help="output format"
    )
    export.add_argument(
        "--out",
        type=Path,
        help="file to write, or a folder to write it into under the draft's own name "
        "(a blog post: YYYY-MM-DD-slug.md); default: standard output",
    )
    export.add_argument("--workspace", help="workspace, when several have incident N")
    export.set_defaults(run=_export)

    listing = commands.add_parser("list", help="list incidents")
    listing.add_argument("--workspace", help="only this workspace")
    listing.set_defaults(run=_list)

    show = commands.add_parser("show", help="show one incident: roles, timeline, sections")
    show.add_argument("number", type=int)
    show.add_argument("--workspace")
    show.set_defaults(run=_show)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="apply every schema migration")
    upgrade.set_defaults(run=_db_upgrade)

    check = commands.add_parser("check-config", help="print the settings in force, secrets masked")
    check.set_defaults(run=_check_config)
    return parser


def _run(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings.log_level)
    from adapters.scheduling import reminder_jobs  # the APScheduler sweep, only when running
    from adapters.telemetry import PrometheusTelemetry
    from adapters.web.runtime import WebFace, start_web_face
    from adapters.web.settings import web_settings

    web_settings(os.environ)  # a bind beyond loopback without a login stops here, first
    telemetry = PrometheusTelemetry()
    prepare_database(settings.database_url)
    faces: list[WebFace] = []

    def serve_http(mounts: Sequence[HttpMount]) -> Callable[[], None]:
        face = start_web_face(settings, os.environ, telemetry, mounts)
        faces.append(face)
        if face.url:
            print(f"incident-bot: web pages at {face.url}", file=sys.stderr)
        return face.stop

    def on_started(adapters: Sequence[Adapter]) -> None:
        for face in faces:
            face.readiness.watch(
                [adapter.readiness_problem for adapter in adapters],
                [functools.partial(_standby_note, adapter) for adapter in adapters],
            )

    if run_adapters(
        settings,
        os.environ,
        background_jobs=reminder_jobs,
        telemetry=telemetry,
        on_started=on_started,
        serve_http=serve_http,
        beside_adapters=lambda adapters: _alerts_beside(settings, adapters),
    ):
        return 0
    # No chat platform is configured: the console, on a terminal or a piped transcript.
    print(
        "incident-bot: no Slack or Matrix credentials set; starting the console.",
        file=sys.stderr,
    )
    args.tz = None
    args.user = None

    def beside_console(console: Console) -> Callable[[], None]:
        from adapters.alerts.runtime import start_alerts

        alerts = start_alerts(settings, os.environ, {"console": console.alert_outlet()})
        stop_http = serve_http([alerts.mount] if alerts else [])

        def stop() -> None:
            stop_http()
            if alerts:
                alerts.stop()

        return stop

    return _console(args, settings, telemetry=telemetry, beside=beside_console)


def _alerts_beside(
    settings: Settings, adapters: Sequence[Adapter]
) -> tuple[list[HttpMount], Callable[[], None]]:
    """The alert receivers, posting through the chat platforms that run."""
    from adapters.alerts.runtime import outlets_of, start_alerts

    alerts = start_alerts(settings, os.environ, outlets_of(adapters))
    if alerts is None:
        return [], lambda: None
    return [alerts.mount], alerts.stop


def _standby_note(adapter: Adapter) -> str | None:
    """Beside "ready" on /readyz: a standby is ready to take over, and says it waits."""
    return f"{adapter.platform}: standby, another replica syncs" if adapter.standing_by() else None


def _console(
    args: argparse.Namespace,
    settings: Settings,
    *,
    telemetry: Telemetry | None = None,
    beside: Callable[[Console], Callable[[], None]] = lambda console: lambda: None,
) -> int:
    """The console; `beside` starts what serves alongside it (the HTTP server) and
    returns how to stop it."""
    zone = settings.timezone
    if args.tz:
        try:
            zone = ZoneInfo(args.tz)
        except (ZoneInfoNotFoundError, ValueError):
            print(
                f"incident-bot: --tz `{args.tz}` is not a known time zone; use an IANA name "
                "such as UTC or Europe/Oslo",
                file=sys.stderr,
            )
            return 2
    settings = Settings(**{**settings.__dict__, "timezone": zone})
    prepare_database(settings.database_url)
    clock = new_console_clock()
    interactive = sys.stdin.isatty()
    console = Console(
        bot=build_bot(settings, clock=clock, telemetry=telemetry),
        clock=clock,
        zone=zone,
        out=sys.stdout,
        err=sys.stderr,
        drafts_dir=settings.drafts_dir,
        follow_system_clock=interactive,
        default_user=_handle(args.user) if interactive else None,
    )
    stop_beside = beside(console)
    try:
        if not interactive:
            return 1 if console.play(sys.stdin) else 0
        _interact(console, zone, settings.tag_emoji.name)
        return 0
    finally:
        stop_beside()


def _handle(user: str | None) -> str:
    raw = user or os.environ.get("USER") or getpass.getuser() or "you"
    return re.sub(r"[^a-z0-9._-]", "", raw.lower()) or "you"


def _interact(console: Console, zone: ZoneInfo, tag: str) -> None:
    with contextlib.suppress(ImportError):  # not on every platform
        import readline  # noqa: F401  (line editing and history for input())
    print(
        f"incident-bot console ({zone.key}). Type `/incident help`; lines may start with "
        f"`[HH:MM]`, `#channel` and `name:`; `+:{tag}: N` pins message N; Ctrl-D quits."
    )
    while True:
        try:
            raw = input(f"#{console.current_channel}> ")
        except EOFError:
            print()
            return
        console.feed(raw)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings.database_url)
    bot = build_bot(settings, clock=SystemClock())
    incident = bot.find(args.number, args.workspace)
    if args.template is not None and bot.templates.get(args.template) is None:
        raise IncidentError(
            f"--template `{args.template}` is not a template; templates: "
            f"{', '.join(bot.templates.names())}"
        )
    if args.out is None and args.format == "docx":
        raise IncidentError(
            "A docx draft is a binary file: name it with --out FILE.docx, or --out FOLDER"
        )
    platform = OfflinePlatform(incident.platform, bot.stored_names(incident))
    draft = bot.export(incident, args.template, args.format, platform)
    if args.out is None:
        sys.stdout.write(draft.content.decode("utf-8"))
        return 0
    # A folder gets the draft under its own name, the one chat uploads carry.
    out = args.out / draft.filename if args.out.is_dir() else args.out
    out.write_bytes(draft.content)
    print(f"Wrote {out} ({draft.filename}).", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings.database_url)
    bot = build_bot(settings, clock=SystemClock())
    incidents = bot.incident_summaries(args.workspace)
    if not incidents:
        print("No incidents yet.")
    for incident in incidents:
        print(_list_line(incident))
    return 0


def _list_line(incident: IncidentSummary) -> str:
    zone = ZoneInfo(incident.timezone)
    declared = incident.declared_at.astimezone(zone)
    severity = f"SEV{incident.severity}" if incident.severity else "SEV-"
    state = "closed" if incident.is_closed else incident.status.value
    return (
        f"{incident.workspace}/{incident.number}\t{declared:%Y-%m-%d %H:%M} {zone.key}\t"
        f"{severity}\t{state}\t{incident.title}"
    )


def _show(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings.database_url)
    bot = build_bot(settings, clock=SystemClock())
    incident = bot.find(args.number, args.workspace)
    platform = OfflinePlatform(incident.platform, bot.stored_names(incident))
    sys.stdout.write(bot.describe(incident, platform))
    return 0


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_database(settings.database_url)
    print(f"Database {mask_url(settings.database_url)} is up to date.")
    return 0


def _check_config(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.alerts.receiver import ReceiverSettings

    for key, value in settings.describe():
        print(f"{key} = {value}")
    # The receivers' secrets: whether they are set, never what they are.
    receivers = ReceiverSettings.from_environment(os.environ, settings.alerts_max_body)
    for key, secret in (
        ("alertmanager_token", receivers.alertmanager_token),
        ("grafana_token", receivers.grafana_token),
        ("grafana_basic_auth", receivers.grafana_user),
    ):
        print(f"{key} = {'(set)' if secret else '(not set)'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
