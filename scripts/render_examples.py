"""Renders docs/examples/: the shared example transcript (examples/checkout-outage.txt,
played in Europe/Oslo) through every built-in template, in Markdown and HTML.

    .venv/bin/python scripts/render_examples.py          # rewrite docs/examples/
    .venv/bin/python scripts/render_examples.py --check  # exit 1 if they are stale

The drafts are rendered as of the moment the incident closed, so the same transcript
always gives the same files; tests/drafts/test_examples_current.py runs the check.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "checkout-outage.txt"
OUT = REPO / "docs" / "examples"
FORMATS = ("md", "html")


def render_examples() -> dict[str, bytes]:
    """File name -> content of every example."""
    from adapters.bootstrap import build_bot, prepare_database
    from adapters.config import Settings
    from adapters.console.app import Console, ConsolePlatform, new_console_clock

    zone = ZoneInfo("Europe/Oslo")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/examples.db",
            timezone=zone,
            drafts_dir=Path(tmp) / "drafts",
        )
        prepare_database(settings.database_url)
        clock = new_console_clock()
        bot = build_bot(settings, clock=clock)
        console = Console(
            bot=bot, clock=clock, zone=zone, out=io.StringIO(), err=io.StringIO(),
            drafts_dir=settings.drafts_dir,
        )
        if console.play(EXAMPLE.read_text("utf-8").splitlines()):
            raise SystemExit(f"{EXAMPLE} has lines the console cannot read")
        incident = bot.find(1)
        assert incident.closed_at is not None, "the example transcript closes its incident"
        files = {}
        for template in bot.templates.all():
            for fmt in FORMATS:
                draft = bot.draft(incident, template, fmt, ConsolePlatform(), incident.closed_at)
                files[f"{template.name}.{fmt}"] = draft.content
        return files


def main(argv: list[str]) -> int:
    files = render_examples()
    if "--check" in argv:
        stale = [
            name for name, content in files.items()
            if not (OUT / name).is_file() or (OUT / name).read_bytes() != content
        ]
        if stale:
            print(f"stale examples: {', '.join(stale)}; run scripts/render_examples.py")
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (OUT / name).write_bytes(content)
        print(f"wrote {(OUT / name).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
