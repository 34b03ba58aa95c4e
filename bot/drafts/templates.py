"""Postmortem templates: a folder with `template.toml` (metadata, sections in order, and
how the document is laid out) and `draft.md.j2`, the Markdown layout.

HTML and docx come from the same description: a shared HTML page (`_shared/page.html.j2`,
or the template's own `draft.html.j2`) and a generic Word writer, both walking the
section list and the `[document]` table. A team writes one TOML file and one Jinja file
and gets all three formats.

Built-ins ship inside the package under `bot/templates/`; a team folder
(`INCIDENT_BOT_TEMPLATES_DIR`) adds templates and overrides built-ins by name. A broken
template never stops the others: its error, naming the file and line, is kept in the
registry and shown by `templates` and at start-up.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from bot.domain import GENERATED_SECTION_IDS, SECTION_IDS, AutomaticEvent, MilestoneKind

FORMATS: tuple[str, ...] = ("md", "html", "docx")
MD_FILE = "draft.md.j2"
HTML_FILE = "draft.html.j2"
SHARED_FOLDER = "_shared"
MEDIA_TYPES: Mapping[str, str] = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
# milestones: the key times as a list, then the timeline's entries nested under a
# closing item (seed 004's "Sequence of findings and primary decision:").
TIMELINE_STYLES = ("list", "days", "table", "milestones")
# What a template's [milestones] table may name, besides the milestone kinds.
DERIVED_MILESTONES = ("declared", "team-allocated")
DEFAULT_FINDINGS = "Sequence of findings and primary decision:"
TIMELINE_DATES = ("auto", "always")
PAGE_SIZES = ("A4", "Letter")
# A draft's file name without its extension, a Jinja expression over the draft.
DEFAULT_FILENAME = "incident-{{ draft.number }}-{{ draft.slug }}-{{ draft.template_name }}"
# Who a timeline line is credited to: nobody (as every seed writes it), or the person
# who wrote or 📌'd the message. A back-dated entry is never credited to whoever typed it.
TIMELINE_NAMES = ("none", "authors")


class TemplateError(Exception):
    """A template file that cannot be used; names the file (and line where known)."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


@dataclass(frozen=True)
class TemplateSection:
    id: str
    heading: str
    guidance: str
    required: bool
    generated: bool
    # Generated blocks shown after this section's own text (e.g. the action items
    # under "Corrective and Preventative Measures").
    include: tuple[str, ...] = ()
    # The opening paragraph of the document, shown without its heading (a blog post's lead).
    lead: bool = False


@dataclass(frozen=True)
class TemplateField:
    """One cell of the template's fields table (seed 000's "Customers Impacted"),
    written with `set FIELD TEXT` like a section."""

    id: str
    label: str
    guidance: str = ""


@dataclass(frozen=True)
class DocumentLayout:
    """How the HTML page and the Word document are laid out (the `[document]` table).

    `title` and `title_block` are Jinja expressions over the draft (`{{ draft.title }}`);
    what they produce is plain text, escaped by each format like any other value.
    """

    title: str = "{{ draft.title }}"
    title_block: tuple[str, ...] = ()
    overline: str = ""  # a line above the title (a report's "Incident Postmortem")
    preamble: tuple[str, ...] = ()  # generated blocks between the title and the sections
    toc: bool = False
    revision_history: bool = False
    timeline: str = "list"  # list | days (one heading per day) | table | milestones
    findings: str = DEFAULT_FINDINGS  # the `milestones` style's item over the entries
    page_size: str = "A4"  # A4 | Letter: the Word document's paper (and the page's print)


@dataclass(frozen=True)
class LinkHeadings:
    """The sub-headings of the generated `links` block (the `[links]` table); `{platform}`
    in `chat_log` is the chat platform's name."""

    chat_log: str = "Relevant {platform} chat log"
    tickets: str = "Tickets"
    merge_requests: str = "Merge requests"
    pull_requests: str = "Pull requests"
    commits: str = "Commits"
    alerts: str = "Alerts"  # the alerts' own links: source, runbook, dashboard, panel


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    description: str
    date_format: str
    sections: tuple[TemplateSection, ...]
    sources: Mapping[str, str] = field(default_factory=dict)  # md/html -> Jinja source
    # Pins the zone the draft is written in (a blog's "times in UTC"); None: the incident's.
    timezone: str | None = None
    timeline_dates: str = "auto"  # auto: dates when the incident spans days; always
    timeline_names: str = "none"  # none | authors (see TIMELINE_NAMES)
    # Kinds of the bot's own entries (declared, status, role…) the draft's timeline shows;
    # by default none: the draft shows what people put on the timeline.
    timeline_includes: tuple[AutomaticEvent, ...] = ()
    layout: DocumentLayout = field(default_factory=DocumentLayout)
    options: Mapping[str, str] = field(default_factory=dict)  # free values for the layouts
    # The file name (without extension) wherever the draft is written or posted.
    filename: str = DEFAULT_FILENAME
    # The Markdown is a Jekyll post: user text is kept literal through Liquid and kramdown.
    jekyll: bool = False
    link_headings: LinkHeadings = field(default_factory=LinkHeadings)
    origin: str = "built-in"  # "built-in" or the team folder it came from
    location: str = ""
    fields: tuple[TemplateField, ...] = ()  # [[fields]], in order
    # [milestones]: which key times the draft lists, in this order, with these words;
    # empty: every known one, in time order, with the bot's words.
    milestone_labels: Mapping[str, str] = field(default_factory=dict)

    def field_named(self, field_id: str) -> TemplateField | None:
        for item in self.fields:
            if item.id == field_id:
                return item
        return None

    def section(self, section_id: str) -> TemplateSection | None:
        for section in self.sections:
            if section.id == section_id:
                return section
        return None

    @property
    def formats(self) -> tuple[str, ...]:
        return FORMATS


class TemplateRegistry:
    def __init__(
        self,
        templates: Iterable[Template],
        shared: Mapping[str, str],
        errors: Iterable[TemplateError] = (),
    ) -> None:
        self._templates = {template.name: template for template in templates}
        self.shared_sources = dict(shared)  # Jinja files every template may include
        self.errors = list(errors)  # broken template files, shown by `templates`

    def get(self, name: str) -> Template | None:
        return self._templates.get(name)

    def names(self) -> list[str]:
        return sorted(self._templates)

    def all(self) -> list[Template]:
        return [self._templates[name] for name in self.names()]

    def with_options(self, options: Mapping[str, Mapping[str, str]]) -> TemplateRegistry:
        """The templates with a deployment's `[options]` values over their own: those
        under "" for every template, then those under a template's name for it."""
        changed = [
            replace(
                template,
                options={**template.options, **options.get("", {}), **options.get(name, {})},
            )
            for name, template in self._templates.items()
        ]
        return TemplateRegistry(changed, self.shared_sources, self.errors)
    def field_ids(self) -> frozenset[str]:
        """Every field id some template declares: what `set FIELD TEXT` accepts."""
        return frozenset(
            item.id for template in self._templates.values() for item in template.fields
        )


def builtin_registry() -> TemplateRegistry:
    return load_registry(None)


def load_registry(team_dir: Path | None) -> TemplateRegistry:
    """The built-ins, then the team folder's templates over them by name."""
    root = resources.files("bot").joinpath("templates")
    templates: dict[str, Template] = {}
    errors: list[TemplateError] = []
    shared = _shared_sources(root.joinpath(SHARED_FOLDER))
    errors.extend(_check_shared(shared, "bot/templates/_shared"))
    for entry in _template_folders(root):
        loaded = _load_into(entry, f"bot/templates/{entry.name}", "built-in")
        if isinstance(loaded, TemplateError):
            errors.append(loaded)
        else:
            templates[loaded.name] = loaded
    if team_dir is not None:
        if not team_dir.is_dir():
            errors.append(TemplateError(str(team_dir), "the templates folder does not exist"))
        else:
            # A team's partials may add to the shared ones (or replace one by name).
            team_shared = _shared_sources(team_dir / SHARED_FOLDER)
            errors.extend(_check_shared(team_shared, str(team_dir / SHARED_FOLDER)))
            shared = {**shared, **team_shared}
            for folder in _template_folders(team_dir):
                loaded = _load_into(folder, str(folder), str(team_dir))
                if isinstance(loaded, TemplateError):
                    errors.append(loaded)
                else:
                    templates[loaded.name] = loaded
    return TemplateRegistry(templates.values(), shared, errors)


def _template_folders(root: Traversable) -> list[Traversable]:
    return sorted(
        (
            entry
            for entry in root.iterdir()
            if entry.is_dir() and entry.name != SHARED_FOLDER and not entry.name.startswith(".")
        ),
        key=lambda entry: entry.name,
    )


def _shared_sources(folder: Traversable) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {f.name: f.read_text("utf-8") for f in folder.iterdir() if f.name.endswith(".j2")}


def _check_shared(sources: Mapping[str, str], location: str) -> list[TemplateError]:
    problems = []
    for name, source in sorted(sources.items()):
        try:
            _compile(SandboxedEnvironment(), source, f"{location}/{name}")
        except TemplateError as problem:
            problems.append(problem)
    return problems


def _load_into(folder: Traversable, location: str, origin: str) -> Template | TemplateError:
    try:
        template = load_template(folder, location, origin=origin)
        check_syntax(template, location)
    except TemplateError as problem:
        return problem
    return template


def load_template(folder: Traversable, location: str, *, origin: str = "built-in") -> Template:
    meta_file = folder.joinpath("template.toml")
    where = f"{location}/template.toml"
    if not meta_file.is_file():
        raise TemplateError(location, "no template.toml in this template folder")
    raw = meta_file.read_text("utf-8")
    try:
        meta = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as problem:
        line = _decode_error_line(problem)
        raise TemplateError(
            f"{where}:{line}" if line else where, f"not valid TOML: {problem}"
        ) from None
    lines = _SectionLines(raw)
    name = _text(meta, "name", where)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise TemplateError(
            f"{where}:{lines.key('name')}",
            f"`name` `{name}` must be lower-case letters, digits, `-` or `_`",
        )
    raw_sections = meta.get("sections", [])
    if not isinstance(raw_sections, list) or not raw_sections:
        raise TemplateError(where, "a template needs at least one [[sections]] entry")
    sections = tuple(
        _section(entry, f"{where}:{lines.section(index)}", index)
        for index, entry in enumerate(raw_sections, start=1)
    )
    seen: set[str] = set()
    for index, section in enumerate(sections, start=1):
        if section.id in seen:
            raise TemplateError(
                f"{where}:{lines.section(index)}", f"section `{section.id}` appears twice"
            )
        seen.add(section.id)
    sources = {
        fmt: folder.joinpath(filename).read_text("utf-8")
        for fmt, filename in (("md", MD_FILE), ("html", HTML_FILE))
        if folder.joinpath(filename).is_file()
    }
    if "md" not in sources:
        raise TemplateError(location, f"no {MD_FILE} (the Markdown layout) in this folder")
    timezone = meta.get("timezone")
    if timezone is not None:
        _check_zone(timezone, f"{where}:{lines.key('timezone')}")
    timeline_dates = str(meta.get("timeline_dates", "auto"))
    if timeline_dates not in TIMELINE_DATES:
        raise TemplateError(
            f"{where}:{lines.key('timeline_dates')}",
            f"`timeline_dates` must be one of {', '.join(TIMELINE_DATES)}",
        )
    timeline_names = str(meta.get("timeline_names", "none"))
    if timeline_names not in TIMELINE_NAMES:
        raise TemplateError(
            f"{where}:{lines.key('timeline_names')}",
            f"`timeline_names` must be one of {', '.join(TIMELINE_NAMES)}",
        )
    timeline_includes = _timeline_includes(
        meta.get("timeline_includes", []), f"{where}:{lines.key('timeline_includes')}"
    )
    options = meta.get("options", {})
    if not isinstance(options, dict):
        raise TemplateError(where, "[options] must be a table of names and values")
    filename = meta.get("filename", DEFAULT_FILENAME)
    if not isinstance(filename, str) or not filename.strip():
        raise TemplateError(
            f"{where}:{lines.key('filename')}",
            "`filename` is a file name without extension, e.g. "
            '"{{ draft.declared_iso }}-{{ draft.slug }}"',
        )
    jekyll = meta.get("jekyll", False)
    if not isinstance(jekyll, bool):
        raise TemplateError(f"{where}:{lines.key('jekyll')}", "`jekyll` is true or false")
    fields = _fields(meta.get("fields", []), where, lines)
    milestone_labels = _milestone_labels(meta.get("milestones", {}), where, lines)
    return Template(
        fields=fields,
        milestone_labels=milestone_labels,
        name=name,
        title=_text(meta, "title", where),
        description=_text(meta, "description", where),
        date_format=str(meta.get("date_format", "%Y-%m-%d")),
        sections=sections,
        sources=sources,
        timezone=timezone,
        timeline_dates=timeline_dates,
        timeline_names=timeline_names,
        timeline_includes=timeline_includes,
        layout=_layout(meta.get("document", {}), where, lines),
        options={str(key): str(value) for key, value in options.items()},
        filename=filename.strip(),
        jekyll=jekyll,
        link_headings=_link_headings(meta.get("links", {}), where),
        origin=origin,
        location=location,
    )


def check_syntax(template: Template, location: str) -> None:
    """Compiles every Jinja source now, so a typo is reported at start-up with its line."""
    environment = SandboxedEnvironment()
    for fmt, source in template.sources.items():
        filename = MD_FILE if fmt == "md" else HTML_FILE
        _compile(environment, source, f"{location}/{filename}")
    for index, expression in enumerate(
        (template.layout.title, template.layout.overline, *template.layout.title_block), start=1
    ):
        what = {1: "title", 2: "overline"}.get(index, "title_block")
        _compile(environment, expression, f"{location}/template.toml ([document] {what})")
    _compile(environment, template.filename, f"{location}/template.toml (filename)")


def _compile(environment: SandboxedEnvironment, source: str, where: str) -> None:
    try:
        environment.parse(source)
    except TemplateSyntaxError as problem:
        raise TemplateError(
            f"{where}:{problem.lineno}", f"Jinja syntax: {problem.message}"
        ) from None


class _SectionLines:
    """Line numbers in a template.toml, so errors can point at the line to fix."""

    def __init__(self, raw: str) -> None:
        self._lines = raw.splitlines()

    def section(self, index: int) -> int:
        return self.table(index, "sections")

    def table(self, index: int, name: str) -> int:
        count = 0
        for number, line in enumerate(self._lines, start=1):
            if line.strip().startswith(f"[[{name}]]"):
                count += 1
                if count == index:
                    return number
        return 1

    def key(self, key: str) -> int:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number, line in enumerate(self._lines, start=1):
            if pattern.match(line):
                return number
        return 1


def _decode_error_line(problem: tomllib.TOMLDecodeError) -> int | None:
    lineno = getattr(problem, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    found = re.search(r"line (\d+)", str(problem))
    return int(found.group(1)) if found else None


def _check_zone(value: object, where: str) -> None:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise TemplateError(
            where, f"`timezone` `{value}` is not a known time zone; use an IANA name like UTC"
        ) from None


def _timeline_includes(raw: object, where: str) -> tuple[AutomaticEvent, ...]:
    kinds = [event.value for event in AutomaticEvent]
    if not isinstance(raw, list) or any(str(item) not in kinds for item in raw):
        raise TemplateError(
            where,
            f"`timeline_includes` lists kinds of the bot's own entries: {', '.join(kinds)} "
            '(e.g. timeline_includes = ["declared", "resolved"])',
        )
    return tuple(AutomaticEvent(str(item)) for item in raw)


def _text(table: Mapping[str, object], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(where, f"`{key}` must be a non-empty string")
    return value.strip()


def _section(raw: object, where: str, index: int) -> TemplateSection:
    if not isinstance(raw, dict):
        raise TemplateError(where, f"[[sections]] entry {index} must be a table")
    section_id = _text(raw, "id", where)
    if section_id not in SECTION_IDS:
        raise TemplateError(
            where, f"unknown section id `{section_id}`; use one of {', '.join(SECTION_IDS)}"
        )
    include = raw.get("include", [])
    if not isinstance(include, list) or any(i not in GENERATED_SECTION_IDS for i in include):
        raise TemplateError(
            where, f"`include` lists generated blocks: {', '.join(GENERATED_SECTION_IDS)}"
        )
    return TemplateSection(
        id=section_id,
        heading=_text(raw, "heading", where),
        guidance=str(raw.get("guidance", "")).strip(),
        required=bool(raw.get("required", section_id not in GENERATED_SECTION_IDS)),
        generated=section_id in GENERATED_SECTION_IDS,
        include=tuple(include),
        lead=bool(raw.get("lead", False)),
    )


def _layout(raw: object, where: str, lines: _SectionLines) -> DocumentLayout:
    if not isinstance(raw, dict):
        raise TemplateError(where, "[document] must be a table")
    preamble = raw.get("preamble", [])
    if not isinstance(preamble, list) or any(p not in GENERATED_SECTION_IDS for p in preamble):
        raise TemplateError(
            f"{where}:{lines.key('preamble')}",
            f"`preamble` lists generated blocks: {', '.join(GENERATED_SECTION_IDS)}",
        )
    timeline = str(raw.get("timeline", "list"))
    if timeline not in TIMELINE_STYLES:
        raise TemplateError(
            f"{where}:{lines.key('timeline')}",
            f"[document] `timeline` must be one of {', '.join(TIMELINE_STYLES)}",
        )
    title_block = raw.get("title_block", [])
    if not isinstance(title_block, list):
        raise TemplateError(f"{where}:{lines.key('title_block')}", "`title_block` is a list")
    page_size = _page_size(raw.get("page_size", "A4"), f"{where}:{lines.key('page_size')}")
    return DocumentLayout(
        title=str(raw.get("title", "{{ draft.title }}")),
        title_block=tuple(str(line) for line in title_block),
        overline=str(raw.get("overline", "")),
        preamble=tuple(preamble),
        toc=bool(raw.get("toc", False)),
        revision_history=bool(raw.get("revision_history", False)),
        timeline=timeline,
        findings=str(raw.get("findings", DEFAULT_FINDINGS)),
        page_size=page_size,
    )


def _link_headings(raw: object, where: str) -> LinkHeadings:
    known = LinkHeadings.__dataclass_fields__
    if not isinstance(raw, dict) or any(
        key not in known or not isinstance(value, str) or not value.strip()
        for key, value in raw.items()
    ):
        raise TemplateError(
            where,
            f"[links] names the sub-headings of the references found: {', '.join(known)}, "
            'each a non-empty string (e.g. commits = "Gitlab commits")',
        )
    return LinkHeadings(**{key: value.strip() for key, value in raw.items()})


def _page_size(value: object, where: str) -> str:
    for size in PAGE_SIZES:
        if str(value).lower() == size.lower():
            return size
    raise TemplateError(
        where,
        f"[document] `page_size` `{value}` is not a paper size; use {' or '.join(PAGE_SIZES)}",
    )


_FIELD_ID = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def _fields(raw: object, where: str, lines: _SectionLines) -> tuple[TemplateField, ...]:
    if not isinstance(raw, list):
        raise TemplateError(where, "[[fields]] entries are tables with id, label and guidance")
    fields: list[TemplateField] = []
    for index, entry in enumerate(raw, start=1):
        at = f"{where}:{lines.table(index, 'fields')}"
        if not isinstance(entry, dict):
            raise TemplateError(at, f"[[fields]] entry {index} must be a table")
        field_id = _text(entry, "id", at)
        if not _FIELD_ID.fullmatch(field_id):
            raise TemplateError(
                at, f"field id `{field_id}` must be lower-case words joined by `-`"
            )
        if field_id in SECTION_IDS:
            raise TemplateError(at, f"`{field_id}` is a section id; name the field otherwise")
        if any(known.id == field_id for known in fields):
            raise TemplateError(at, f"field `{field_id}` appears twice")
        fields.append(
            TemplateField(
                id=field_id,
                label=_text(entry, "label", at),
                guidance=str(entry.get("guidance", "")).strip(),
            )
        )
    return tuple(fields)


def _milestone_labels(raw: object, where: str, lines: _SectionLines) -> dict[str, str]:
    known = (*(kind.value for kind in MilestoneKind), *DERIVED_MILESTONES)
    if not isinstance(raw, dict):
        raise TemplateError(where, "[milestones] must be a table of milestone = label")
    labels: dict[str, str] = {}
    for key, label in raw.items():
        if key not in known:
            raise TemplateError(
                f"{where}:{lines.key(key)}",
                f"[milestones] `{key}` is not a milestone; use {', '.join(known)}",
            )
        if not isinstance(label, str) or not label.strip():
            raise TemplateError(f"{where}:{lines.key(key)}", f"[milestones] `{key}` needs a label")
        labels[key] = label.strip()
    return labels
