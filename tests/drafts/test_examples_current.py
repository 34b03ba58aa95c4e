"""docs/examples/ is what the built-ins make of the shared example transcript today:
a change to a template, the view or the escaper that is not re-rendered fails here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "render_examples.py"


def test_the_committed_examples_match_a_fresh_render() -> None:
    spec = importlib.util.spec_from_file_location("render_examples", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh: dict[str, bytes] = module.render_examples()
    assert sorted(fresh) == sorted(
        f"{name}.{fmt}"
        for name in ("standard", "retro", "blameless", "blog", "report")
        for fmt in ("md", "html")
    )
    for name, content in fresh.items():
        committed = REPO / "docs" / "examples" / name
        assert committed.is_file(), f"{name} missing: run scripts/render_examples.py"
        assert committed.read_bytes() == content, (
            f"docs/examples/{name} is stale: run .venv/bin/python scripts/render_examples.py"
        )
