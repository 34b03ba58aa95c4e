"""The Markdown teams write in their postmortems (the seeds' own) comes through as
Markdown that renders the same, and what may not come through is text."""

from __future__ import annotations

import pytest

from bot.drafts.user_markdown import inline, section, to_html

KEPT = [
    # seed 000: links and code in a timeline line and a section
    "[PR-158](https://github.com/bottlerocket-os/bottlerocket-core-kit/pull/158) was merged",
    "Dependency update to `CRI-O v1.27` in production.",
    # seed 001: nested lists and bold sub-headings
    "- 2024-08-10\n  - 13:05 Disk space in production is exhausted.\n  - 13:05 Outage occurs.",
    "**Storage Configuration**\n\n**Alerting**",
    # seed 002: a star list, a code block
    "* `dnsPolicy: Default`\n* missing an EKS control plane security group.",
    "```\nEvents:\nType     Reason\n```",
    # seed 003: a task list
    "- [x] Check and fix the Salt profile for dehydrated\n- [ ] Always run a 'Salt highstate'",
    # a GFM table
    "| Customers Impacted | Support Cases Raised |\n| :---: | :---: |\n| All | 1 |",
    # a quote, an ordered list
    "> quoted\n\n1. one\n2. two",
    # a bare address stays as typed
    "Upgrade guide: https://github.com/oslokommune/okctl-upgrade/blob/64920127/README.md",
]


@pytest.mark.parametrize("text", KEPT)
def test_the_seeds_markdown_is_written_back_as_it_was(text: str) -> None:
    assert section(text) == text


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("# Top\n## Next\n###### Deep", "### Top\n\n#### Next\n\n###### Deep"),
        ("Title\n===", "### Title"),
        ("---", "* * *"),
        ("```\nnever closed\n## not a heading", "```\nnever closed\n## not a heading\n```"),
        ("    indented code", "```\nindented code\n```"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
        ("![chart](../media/chart.png)", "!\\[chart\\](../media/chart.png)"),
        ("![chart](https://x.example/c.png)", "[chart](https://x.example/c.png)"),
        ("a line\n= not an underline", "a line\n\\= not an underline"),
    ],
)
def test_what_may_not_come_through_is_rewritten(text: str, written: str) -> None:
    assert section(text) == written


def test_html_renders_code_links_lists_and_tasks() -> None:
    html = to_html(section("- [ ] `a` *b* **c** [d](https://d.example)\n- [x] e"))
    assert html == (
        "<ul>\n<li>☐ <code>a</code> <em>b</em> <strong>c</strong> "
        '<a href="https://d.example">d</a></li>\n<li>☒ e</li>\n</ul>\n'
    )


def test_a_timeline_line_keeps_inline_markdown_only() -> None:
    assert inline("# not a heading - `code` and [PR-7](https://x.example/7)\n| no row |") == (
        "# not a heading - `code` and [PR-7](https://x.example/7) \\| no row \\|"
    )


def test_in_a_jekyll_post_braces_in_code_show_without_a_backslash() -> None:
    from drafting import MD, draft, incident_with, liquid_pass

    sections = "Run `{{ site.title }}` and {{ x }}\n\n```\n{% endraw %} {{ y }}\n```"
    markdown = draft(incident_with("words", "T", sections=sections), "blog", "md").decode()
    html = MD.render(liquid_pass(markdown.split("\n---\n", 1)[1]))
    assert "<p>Run <code>{{ site.title }}</code> and {{ x }}</p>" in html
    assert "<pre><code>{% endraw %} {{ y }}\n</code></pre>" in html
