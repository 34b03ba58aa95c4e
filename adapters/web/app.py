"""The web face: incident pages, health and metrics on one Starlette app.

An adapter over the core like the chat platforms: it reads incidents through
`IncidentBot`, asks `bot.overview` what a list or a timeline shows, and only draws.
Endpoints are plain functions, so Starlette runs them on its thread pool and a slow
database never stalls the event loop that serves Slack's acks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from adapters.offline import OfflinePlatform
from adapters.web import charts
from adapters.web.access import COOKIE, SESSION_LIFETIME, AccessMiddleware, SessionSigner
from adapters.web.live import IncidentWatches
from adapters.web.picture import incident_picture
from adapters.web.settings import WebSettings
from bot import insights, overview
from bot.domain import Incident, IncidentError
from bot.service import IncidentBot
from bot.summary import IncidentSummary
from bot.timefmt import format_duration

HERE = Path(__file__).parent
FORMATS = {"md", "html", "docx"}

Readiness = Callable[[], list[str]]  # what is not ready; empty when all is


def build_app(
    *,
    bot: IncidentBot,
    settings: WebSettings,
    readiness: Readiness,
    readiness_notes: Callable[[], list[str]] = list,
    metrics: Callable[[], tuple[bytes, str]] | None = None,
    extra_routes: list[BaseRoute] | None = None,
) -> AccessMiddleware:
    pages = Pages(bot=bot, settings=settings)
    routes: list[BaseRoute] = [
        Route("/", pages.index),
        Route("/incidents/{workspace}/{number:int}", pages.incident),
        Route("/incidents/{workspace}/{number:int}/draft", pages.draft),
        Route("/incidents/{workspace}/{number:int}/live", pages.live),
        Route("/insights", pages.insights),
        Route("/insights.csv", pages.insights_csv),
        Route("/login", pages.login, methods=["GET", "POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/healthz", lambda request: PlainTextResponse("ok\n")),
        Route("/readyz", _ready_endpoint(readiness, readiness_notes)),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    if metrics is not None:
        routes.append(Route("/metrics", _metrics_endpoint(metrics)))
    routes.extend(extra_routes or [])
    app = Starlette(routes=routes)
    guarded = AccessMiddleware(app, settings=settings)
    pages.signer = guarded.signer
    return guarded


def _ready_endpoint(
    readiness: Readiness, notes: Callable[[], list[str]]
) -> Callable[[Request], Response]:
    def ready(request: Request) -> Response:
        problems = readiness()
        if problems:
            return PlainTextResponse("not ready: " + "; ".join(problems) + "\n", status_code=503)
        said = notes()
        return PlainTextResponse(f"ready ({'; '.join(said)})\n" if said else "ready\n")

    return ready


def _metrics_endpoint(metrics: Callable[[], tuple[bytes, str]]) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        body, media_type = metrics()
        return Response(body, media_type=media_type)

    return endpoint


class Pages:
    def __init__(self, *, bot: IncidentBot, settings: WebSettings) -> None:
        self._bot = bot
        self._settings = settings
        self.signer: SessionSigner | None = None
        self.watches = IncidentWatches(bot.change_marker)
        self._jinja = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # -- pages ---------------------------------------------------------------------

    def index(self, request: Request) -> Response:
        chosen, problems = overview.read_filter(
            status=request.query_params.get("status"),
            severity=request.query_params.get("severity"),
            query=request.query_params.get("q"),
        )
        incidents = self._bot.incident_summaries()
        kept = overview.listed(incidents, chosen)
        platforms = self._commanders_platforms(kept)
        rows = overview.incident_rows(
            kept,
            chosen,
            lambda incident: platforms[(incident.platform, incident.workspace)].display_name,
        )
        return self._page(
            "index.html.j2",
            request,
            title="Incidents",
            rows=rows,
            total=len(incidents),
            chosen=chosen,
            problems=problems,
            status_choices=overview.STATUS_CHOICES,
        )

    def incident(self, request: Request) -> Response:
        incident = self._incident(request)
        if incident is None:
            return self._not_found(request)
        platform = self._platform(incident)
        name_of = platform.display_name
        template = self._bot.templates.get(incident.template)
        sections = []
        if template is not None:
            sections = [
                (section.heading, section.id, incident.section_text(section.id))
                for section in template.sections
                if not section.generated
            ]
        lines = overview.timeline_lines(incident, name_of)
        now = datetime.now(UTC)
        chosen_template = request.query_params.get("template") or incident.template
        if self._bot.templates.get(chosen_template) is None:
            chosen_template = incident.template
        return self._page(
            "incident.html.j2",
            request,
            title=f"Incident {incident.number}: {incident.title}",
            incident=incident,
            severity=overview.severity_label(incident),
            declared=overview.moment_label(incident.declared_at, overview.zone_of(incident)),
            declared_by=name_of(incident.declared_by),
            roles=overview.role_lines(incident, name_of),
            milestones=overview.milestone_lines(incident),
            durations=overview.duration_lines(incident),
            people_lines=[line for line in lines if not line.automatic],
            bookkeeping=[line for line in lines if line.automatic],
            actions=sorted(incident.actions, key=lambda action: action.seq),
            name_of=name_of,
            sections=sections,
            picture=incident_picture(incident, lines, now, name_of),
            templates=self._bot.templates.names(),
            chosen_template=chosen_template,
            live=not incident.is_closed,
        )

    def draft(self, request: Request) -> Response:
        incident = self._incident(request)
        if incident is None:
            return self._not_found(request)
        fmt = request.query_params.get("format", "html")
        template_name = request.query_params.get("template") or None
        if fmt not in FORMATS:
            return PlainTextResponse(
                f"Format `{fmt}` is not one of md, html, docx.\n", status_code=400
            )
        if template_name is not None and self._bot.templates.get(template_name) is None:
            return PlainTextResponse(
                f"There is no template `{template_name}`; templates: "
                f"{', '.join(self._bot.templates.names())}.\n",
                status_code=404,
            )
        try:
            draft = self._bot.export(
                incident, template_name, fmt, self._platform(incident)
            )
        except IncidentError as problem:
            return PlainTextResponse(problem.message + "\n", status_code=422)
        inline = fmt == "html" and request.query_params.get("download") is None
        disposition = "inline" if inline else "attachment"
        return Response(
            draft.content,
            media_type=draft.media_type,
            headers={"content-disposition": f'{disposition}; filename="{_ascii(draft.filename)}"'},
        )

    async def live(self, request: Request) -> Response:
        """Server-sent events: `changed` whenever the incident's record moves on. The
        pages of one incident share one poll of its change marker (adapters/web/live.py)."""

        workspace = request.path_params["workspace"]
        number = request.path_params["number"]

        async def stream() -> AsyncIterator[bytes]:
            async with self.watches.follow(workspace, number) as watch:
                seen = watch.version
                yield b"retry: 2000\n\n"
                for _ in range(600):  # at most ~20 min; the browser reconnects by itself
                    now = await watch.next_version(seen, timeout=self.watches.interval)
                    if await request.is_disconnected():
                        return
                    if now != seen:
                        seen = now
                        yield b"event: changed\ndata: {}\n\n"
                    else:
                        yield b": still here\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store"},
        )

    def insights(self, request: Request) -> Response:
        by = request.query_params.get("by", "week")
        if by not in ("week", "month"):
            by = "week"
        incidents = self._bot.incident_summaries()
        periods = insights.periods(incidents, by=by)
        measures = [
            (label, insights.duration_stats(incidents, measure)) for measure, label in MEASURES
        ]
        return self._page(
            "insights.html.j2",
            request,
            title="Insights",
            by=by,
            total=len(incidents),
            periods=periods,
            chart=charts.stacked_bars(periods),
            measures=[
                (label, stats, charts.duration_bars(stats, _seconds_label))
                for label, stats in measures
            ],
            seconds_label=_seconds_label,
            actions=insights.action_counts(incidents),
        )

    def insights_csv(self, request: Request) -> Response:
        """The numbers behind the charts, for a spreadsheet."""
        incidents = self._bot.incident_summaries()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["table", "period_or_measure", "severity", "count", "median_seconds", "p90_seconds"]
        )
        for by in ("week", "month"):
            for period in insights.periods(incidents, by=by):
                for severity, count in period.counts.items():
                    writer.writerow([f"incidents_per_{by}", period.label, severity, count, "", ""])
        for measure, _label in MEASURES:
            for row in insights.duration_stats(incidents, measure):
                writer.writerow(
                    [
                        "durations",
                        measure,
                        row.severity,
                        row.count,
                        _csv_number(row.median),
                        _csv_number(row.p90),
                    ]
                )
        counts = insights.action_counts(incidents)
        writer.writerow(["action_items", "open", "", counts.open, "", ""])
        writer.writerow(["action_items", "done", "", counts.done, "", ""])
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="incident-insights.csv"'},
        )

    # -- logging in ----------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        next_path = _local_path(request.query_params.get("next", "/"))
        if self.signer is None:
            return RedirectResponse(next_path, status_code=303)
        problem = None
        if request.method == "POST":
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            offered = (form.get("token") or [""])[0]
            next_path = _local_path((form.get("next") or ["/"])[0])
            if self.signer.token_matches(offered):
                response = RedirectResponse(next_path, status_code=303)
                response.set_cookie(
                    COOKIE,
                    self.signer.issue(),
                    max_age=SESSION_LIFETIME,
                    httponly=True,
                    samesite="strict",
                    secure=_is_https(request),
                    path="/",
                )
                return response
            problem = "That is not the token. Ask whoever runs the bot for INCIDENT_BOT_WEB_TOKEN."
        return self._page(
            "login.html.j2",
            request,
            title="Log in",
            next_path=next_path,
            problem=problem,
            status_code=401 if problem else 200,
        )

    def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- helpers -------------------------------------------------------------------

    def _incident(self, request: Request) -> Incident | None:
        return self._bot.incident(request.path_params["workspace"], request.path_params["number"])

    def _platform(self, incident: Incident) -> OfflinePlatform:
        """The incident's platform as the pages see it: people by their stored names."""
        return OfflinePlatform(incident.platform, self._bot.stored_names(incident))

    def _commanders_platforms(
        self, incidents: list[IncidentSummary]
    ) -> dict[tuple[str, str], OfflinePlatform]:
        """Each listed incident's platform, knowing its commander's stored name: one
        lookup per platform and workspace, not one per incident."""
        commanders: dict[tuple[str, str], set[str]] = {}
        for incident in incidents:
            users = commanders.setdefault((incident.platform, incident.workspace), set())
            if incident.commander is not None:
                users.add(incident.commander)
        return {
            (platform, workspace): OfflinePlatform(
                platform, self._bot.names_of(platform, workspace, users) if users else {}
            )
            for (platform, workspace), users in commanders.items()
        }

    def _not_found(self, request: Request) -> Response:
        return self._page("missing.html.j2", request, title="No such incident", status_code=404)

    def _page(
        self, name: str, request: Request, *, title: str, status_code: int = 200, **values: object
    ) -> Response:
        html = self._jinja.get_template(name).render(
            title=title,
            reader=request.scope.get("state", {}).get("reader"),
            needs_login=self._settings.needs_login,
            **values,
        )
        return HTMLResponse(html, status_code=status_code)


MEASURES = (
    ("time_to_detect", "Time to detect"),
    ("time_to_mitigate", "Time to mitigate"),
    ("impact", "Impact duration"),
)


def _seconds_label(seconds: float) -> str:
    return format_duration(timedelta(seconds=seconds))


def _csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _local_path(target: str) -> str:
    """Only a path on this site: a login form must not bounce a reader elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.lower() == "https"


def _ascii(filename: str) -> str:
    return "".join(
        ch if ch.isascii() and ch not in '"\\' and ch.isprintable() else "_" for ch in filename
    )
