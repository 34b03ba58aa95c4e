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

LITERAL_BRACE = '\\{{ "{" }}'


def liquid_literal(markdown: str) -> str:
    """Markdown that Jekyll shows exactly as it would show `markdown` without Liquid."""
    return markdown.replace("{", LITERAL_BRACE)
