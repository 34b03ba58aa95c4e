"""Postmortem templates: a folder with `template.toml` (metadata and sections) and one
Jinja file per output format (`draft.md.j2`, …).

Built-ins ship inside the package under `bot/templates/`; the templates issue adds a
team folder that overrides them by name.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable

from bot.domain import GENERATED_SECTION_IDS, SECTION_IDS

FORMAT_FILES: Mapping[str, str] = {"md": "draft.md.j2"}
MEDIA_TYPES: Mapping[str, str] = {"md": "text/markdown; charset=utf-8"}


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


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    description: str
    date_format: str
    sections: tuple[TemplateSection, ...]
    sources: Mapping[str, str] = field(default_factory=dict)  # format -> Jinja source

    def section(self, section_id: str) -> TemplateSection | None:
        for section in self.sections:
            if section.id == section_id:
                return section
        return None

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(self.sources)


class TemplateRegistry:
    def __init__(self, templates: Iterable[Template], shared: Mapping[str, str]) -> None:
        self._templates = {template.name: template for template in templates}
        self.shared_sources = dict(shared)  # Jinja files every template may import

    def get(self, name: str) -> Template | None:
        return self._templates.get(name)

    def names(self) -> list[str]:
        return sorted(self._templates)

    def all(self) -> list[Template]:
        return [self._templates[name] for name in self.names()]


def builtin_registry() -> TemplateRegistry:
    root = resources.files("bot").joinpath("templates")
    templates = []
    shared: dict[str, str] = {}
    for entry in sorted(root.iterdir(), key=lambda item: item.name):
        if entry.name == "_shared":
            shared = {f.name: f.read_text("utf-8") for f in entry.iterdir() if f.is_file()}
        elif entry.is_dir() and entry.joinpath("template.toml").is_file():
            templates.append(load_template(entry, f"bot/templates/{entry.name}"))
    return TemplateRegistry(templates, shared)


def load_template(folder: Traversable, location: str) -> Template:
    meta_file = folder.joinpath("template.toml")
    try:
        meta = tomllib.loads(meta_file.read_text("utf-8"))
    except tomllib.TOMLDecodeError as problem:
        raise TemplateError(f"{location}/template.toml", str(problem)) from None
    where = f"{location}/template.toml"
    name = _text(meta, "name", where)
    sections = tuple(
        _section(raw, f"{where}, section {index}")
        for index, raw in enumerate(meta.get("sections", []), start=1)
    )
    if not sections:
        raise TemplateError(where, "a template needs at least one [[sections]] entry")
    sources = {
        fmt: folder.joinpath(filename).read_text("utf-8")
        for fmt, filename in FORMAT_FILES.items()
        if folder.joinpath(filename).is_file()
    }
    if not sources:
        raise TemplateError(location, f"no format file ({', '.join(FORMAT_FILES.values())})")
    return Template(
        name=name,
        title=_text(meta, "title", where),
        description=_text(meta, "description", where),
        date_format=str(meta.get("date_format", "%Y-%m-%d")),
        sections=sections,
        sources=sources,
    )


def _text(table: Mapping[str, object], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(where, f"`{key}` must be a non-empty string")
    return value.strip()


def _section(raw: object, where: str) -> TemplateSection:
    if not isinstance(raw, dict):
        raise TemplateError(where, "each [[sections]] entry must be a table")
    section_id = _text(raw, "id", where)
    if section_id not in SECTION_IDS:
        raise TemplateError(
            where, f"unknown section id `{section_id}`; use one of {', '.join(SECTION_IDS)}"
        )
    return TemplateSection(
        id=section_id,
        heading=_text(raw, "heading", where),
        guidance=str(raw.get("guidance", "")).strip(),
        required=bool(raw.get("required", section_id not in GENERATED_SECTION_IDS)),
        generated=section_id in GENERATED_SECTION_IDS,
    )
