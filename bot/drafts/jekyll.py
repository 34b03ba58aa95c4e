"""Keeping user text literal in a Jekyll post.

Jekyll reads a post in two passes before anyone sees it: Liquid first (`{{ … }}`
outputs, `{% … %}` tags), then kramdown, whose own extensions all start with `{` too:
`{: attr="…"}` adds attributes (`onclick` included) to the block before it,
`{::comment}` hides the rest of the post, `{::nomarkdown}` passes text through
unconverted.

Both passes start every construct with `{`, so one rule covers them: no `{` from user
text reaches the file as itself. Each one is written `\\{{ "{" }}`: Liquid turns the
`{{ "{" }}` output into a `{` and leaves the backslash alone, and kramdown reads `\\{`
as an escaped, literal brace. User text thus can neither start a Liquid tag or output
(so it cannot open or close a `{% raw %}` block, whatever whitespace control it
uses) nor a kramdown extension; the reader sees the brace.

This wraps text that is already escaped for Markdown; the layout's own text (a team's
deliberate Liquid, say) is left alone.
"""

from __future__ import annotations

import re

LITERAL_BRACE = '\\{{ "{" }}'
# In code kramdown shows a backslash as itself and reads no extension: Liquid's `{` alone.
CODE_BRACE = '{{ "{" }}'
# Code as bot/drafts/user_markdown.py writes it: fenced blocks (``` on their own line,
# inside list items or quotes too) and backtick code spans not preceded by a backslash.
_FENCE = re.compile(r"^([ >]*)(`{3,})[^`\n]*\n.*?^[ >]*\2[ \t]*$", re.M | re.S)
_SPAN = re.compile(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)", re.S)


def liquid_literal(markdown: str) -> str:
    """Markdown that Jekyll shows exactly as it would show `markdown` without Liquid."""
    if "{" not in markdown and "\n" not in markdown:
        # Nothing to change, and on one line (no fence) the code spans found below do
        # not overlap: the pieces would add up to `markdown` itself. Every value and
        # timeline line of a post passes here.
        return markdown
    out: list[str] = []
    position = 0
    for code in _code(markdown):
        out.append(markdown[position : code.start()].replace("{", LITERAL_BRACE))
        out.append(code.group(0).replace("{", CODE_BRACE))
        position = code.end()
    out.append(markdown[position:].replace("{", LITERAL_BRACE))
    return "".join(out)


def _code(markdown: str) -> list[re.Match[str]]:
    fences = list(_FENCE.finditer(markdown))
    spans = [
        span
        for span in _SPAN.finditer(markdown)
        if not any(f.start() <= span.start() < f.end() for f in fences)
    ]
    return sorted(fences + spans, key=lambda match: match.start())
