"""The blog draft in its real consumer: a Jekyll site built by Debian's `jekyll`.

The blog transcript (seed 003) is played with hostile text in a section and on the
timeline: Liquid (`{{ site.title }}`, an unbalanced `{% raw %}`, `{% endraw %}` with and
without whitespace control) and kramdown extensions (`{::comment}`, `{: onclick=…}`).
The draft the console wrote, and the one `export --out _posts/` writes, are dropped
into a minimal site; the build must succeed, publish the post, and show the text as
written. A team's copy of the template changes the post's category and layout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cli import REPO, incident_bot

pytestmark = pytest.mark.e2e

JEKYLL = shutil.which("jekyll")
SITE_TITLE = "Site title that Liquid would print"
POST = "2023-02-23-downtime-of-the-reference-server"
HOSTILE_SECTION = (
    "Liquid: {{ site.title }} then {% raw %} left open, {%- endraw -%} and {% endraw %} "
    "and {%endraw%}; a lone {{ and {% too. kramdown: {::comment} this stays visible"
)
HOSTILE_NOTE = '{: onclick="alert(1)"} {::nomarkdown}<b>bold?</b>{:/nomarkdown}'
LITERALS = [
    "{{ site.title }}",
    "{% raw %} left open",
    "{%- endraw -%}",
    "{% endraw %}",
    "{%endraw%}",
    "a lone {{ and {% too.",
    "{::comment} this stays visible",
    "{: onclick=",
    "{::nomarkdown}<b>bold?</b>{:/nomarkdown}",
]

needs_jekyll = pytest.mark.skipif(
    JEKYLL is None,
    reason="jekyll is not installed: `make test` installs it as root, or "
    "apt-get install --no-install-recommends jekyll",
)


class _Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.attributes: list[str] = []
        self.tags: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text += data


def _transcript() -> str:
    played = (REPO / "tests" / "transcripts" / "blog.txt").read_text("utf-8").splitlines()
    close = next(i for i, line in enumerate(played) if line.endswith("/incident close"))
    return "\n".join(
        [
            *played[:close],
            f"[11:40] tom: /incident set lessons-learned {HOSTILE_SECTION}",
            f"[11:40] tom: /incident note {HOSTILE_NOTE}",
            *played[close:],
        ]
    ) + "\n"


def _site(root: Path, layout: str = "post") -> Path:
    (root / "_layouts").mkdir(parents=True)
    (root / "_posts").mkdir()
    (root / "_config.yml").write_text(f'title: "{SITE_TITLE}"\n')
    (root / "_layouts" / f"{layout}.html").write_text(
        f"<html><head><title>{{{{ page.title }}}}</title></head>"
        f"<body data-layout=\"{layout}\">{{{{ content }}}}</body></html>\n"
    )
    return root


def _build(site: Path) -> None:
    assert JEKYLL is not None
    done = subprocess.run(
        [JEKYLL, "build", "--source", str(site), "--destination", str(site / "_site")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _played(tmp_path: Path) -> tuple[Path, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    result = incident_bot(
        "console", "--tz", "Europe/Berlin", cwd=tmp_path, database_url=url,
        stdin=_transcript(),
    )
    assert result.code == 0, result.err
    return tmp_path, url


def _assert_literal(page: _Page) -> None:
    for literal in LITERALS:
        assert literal in page.text, literal
    assert SITE_TITLE not in page.text
    assert "onclick" not in page.attributes
    assert "b" not in page.tags


def test_every_draft_file_of_the_blog_has_the_jekyll_post_name(tmp_path: Path) -> None:
    workdir, _ = _played(tmp_path)
    written = sorted(path.name for path in (workdir / "drafts").iterdir())
    # The transcript exports html and docx, and `close` posts the Markdown.
    assert written == [f"{POST}.docx", f"{POST}.html", f"{POST}.md"]


@needs_jekyll
def test_jekyll_publishes_the_post_and_shows_user_text_as_written(tmp_path: Path) -> None:
    workdir, url = _played(tmp_path / "bot")
    site = _site(tmp_path / "site")
    # The console's own file, as someone would copy it into the site...
    shutil.copy(workdir / "drafts" / f"{POST}.md", site / "_posts")
    _build(site)
    page_file = site / "_site" / "post-mortem" / "2023" / "02" / "23" / f"{POST[11:]}.html"
    assert page_file.is_file(), sorted(str(p) for p in (site / "_site").rglob("*.html"))
    page = _Page(page_file.read_text("utf-8"))
    _assert_literal(page)
    assert "Post-mortem: Downtime of the reference server on February 23, 2023" in page.text
    # The rest of the post is still there after the hostile lines.
    assert "Final rollout of the fixed scripts" in page.text

    # ... and `export --out FOLDER` names the file the same way.
    (site / "_posts" / f"{POST}.md").unlink()
    result = incident_bot(
        "export", "1", "--out", str(site / "_posts"), cwd=workdir, database_url=url
    )
    assert result.code == 0, result.err
    assert [p.name for p in (site / "_posts").iterdir()] == [f"{POST}.md"]
    _build(site)
    _assert_literal(_Page(page_file.read_text("utf-8")))


@needs_jekyll
def test_a_teams_template_sets_the_posts_category_and_layout(tmp_path: Path) -> None:
    workdir, url = _played(tmp_path / "bot")
    team = tmp_path / "team-templates"
    shutil.copytree(REPO / "bot" / "templates" / "blog", team / "blog")
    toml = team / "blog" / "template.toml"
    toml.write_text(
        re.sub(
            r'layout = "post"\ncategory = "post-mortem"',
            'layout = "incident"\ncategory = "deployments"',
            toml.read_text("utf-8"),
        )
    )
    site = _site(tmp_path / "site", layout="incident")
    result = incident_bot(
        "export", "1", "--out", str(site / "_posts"), cwd=workdir, database_url=url,
        env={"INCIDENT_BOT_TEMPLATES_DIR": str(team)},
    )
    assert result.code == 0, result.err
    front = (site / "_posts" / f"{POST}.md").read_text("utf-8").split("---")[1]
    assert "\nlayout: incident\n" in front and "\ncategory: deployments\n" in front
    _build(site)
    page_file = site / "_site" / "deployments" / "2023" / "02" / "23" / f"{POST[11:]}.html"
    assert page_file.is_file(), sorted(str(p) for p in (site / "_site").rglob("*.html"))
    assert 'data-layout="incident"' in page_file.read_text("utf-8")
