"""The Markdown people write in chat, made safe to put in a draft.

Sections accept CommonMark with GFM tables and task lists; timeline entries and action
items accept inline Markdown only (code, emphasis, links). User text is parsed with
markdown-it-py and written out again by this module, token by token, so what reaches
the document is Markdown this module produced, never the user's characters as such.
That is what keeps the limits whatever was typed:

- raw HTML is text (the parser runs with HTML off, so `<script>` is a text token,
  and text is escaped on the way out);
- links and images point at `http`, `https` or `mailto` only; anything else is text;
  images become links (a draft fetches nothing when it is opened);
- a heading inside a section is demoted below the section's own heading;
- nothing user-written can add a heading, a table row or a front-matter fence to the
  document outside its own section: a thematic break is written `* * *`, never `---`,
  and a fence left open is closed where the section ends.

`to_html` renders the safe Markdown with HTML off; the Word writer walks `parse`'s tree.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from bot.drafts.markdown import backslash_escaped

LINK_SCHEMES = ("http", "https", "mailto")
# Markdown headings stop at level 6; a section's own heading is level 2 in every layout.
SECTION_LEVEL = 2
_TASK = re.compile(r"^\[([ xX])\] ")
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_LINE_START = re.compile(r"^(#|[-+=])")
_ORDERED_ITEM = re.compile(r"^([0-9]+)([.)])(?=\s|$)")


def link_allowed(url: str) -> bool:
    """Only web and mail links: no `javascript:`, `data:`, `file:` or relative paths."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return False
    return scheme in LINK_SCHEMES


def _parser() -> MarkdownIt:
    # Bare web addresses become links too (`linkify`), as chat clients and GitHub show them.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": True}).enable(
        ["table", "strikethrough", "linkify"]
    )
    parser.validateLink = link_allowed  # type: ignore[method-assign]
    return parser


_PARSER = _parser()


def parse(markdown: str) -> SyntaxTreeNode:
    """The tree of safe Markdown (what `section` or `inline` returned)."""
    return SyntaxTreeNode(_PARSER.parse(markdown))


def parse_inline(markdown: str) -> list[Token]:
    """The inline tokens of one line of safe inline Markdown (what `inline` returned)."""
    tokens = _PARSER.parseInline(markdown)
    return list(tokens[0].children or []) if tokens else []


def section(text: str, level: int = SECTION_LEVEL) -> str:
    """A section's text as Markdown that stays inside the section: headings below
    `level`, HTML as text, only web and mail links, fences closed."""
    tree = SyntaxTreeNode(_PARSER.parse(text.replace("\r\n", "\n").replace("\r", "\n")))
    return "\n\n".join(_blocks(tree.children, level)).strip("\n")


def inline(text: str) -> str:
    """One line of inline Markdown (code, emphasis, links); everything else is text."""
    line = " ".join(text.split())
    pieces = plain_pieces(line)
    if pieces is not None:
        return "".join(_code(content) if code else _escape(content) for code, content in pieces)
    return parsed_inline(line)


def parsed_inline(line: str) -> str:
    """`inline` through the parser, whatever the line holds."""
    tokens = _PARSER.parseInline(line)
    children = tokens[0].children if tokens and tokens[0].children else []
    return _inline(children, one_line=True)


def inline_as_html(text: str) -> str:
    """One line of inline Markdown as HTML: `inline_html(inline(text))`, quicker."""
    pieces = shown_pieces(text)
    if pieces is None:
        return inline_html(inline(text))
    return "".join(
        f"<code>{escape_html(content)}</code>" if code else escape_html(content)
        for code, content in pieces
    )


# -- the quick path for lines of words and code -------------------------------------------
#
# A draft renders every timeline line, and a timeline can have 10,000. Most lines are
# words, perhaps with `code`, and the parser takes about 0.2 ms on each. For those the
# pieces are found here, as the parser would find them, and written out the same way;
# a line with anything else the parser could read as markup goes to the parser. A test
# (tests/drafts/test_quick_inline.py) checks the two agree on many generated lines.

# Outside code spans: characters that may start emphasis, a link, an image, an escape,
# strikethrough, an email address, an entity (`&amp;`), an autolink (`<http:…>`), a
# bare web address (`//`, `www.`, `name.tld`), or that the parser replaces (NUL).
_MARKUP_CHARACTER = re.compile(r"[\\*_\[\]~@\x00-\x1f\x7f]")
_ENTITY_LIKE = re.compile(r"&#?[0-9A-Za-z]+;")
_AUTOLINK_LIKE = re.compile(r"<[^<>]*:")
_DOMAIN_LIKE = re.compile(r"\.[^\W\d_]")
_MAILTO = re.compile(r"(?i:mailto:)")


def _words_need_parser(words: str) -> bool:
    # Each pattern only where its first character is there: most lines have none.
    return bool(
        _MARKUP_CHARACTER.search(words)
        or "//" in words
        or ("&" in words and _ENTITY_LIKE.search(words))
        or ("<" in words and _AUTOLINK_LIKE.search(words))
        or ("." in words and _DOMAIN_LIKE.search(words))
    )


def _line_needs_parser(line: str) -> bool:
    """Anywhere, code spans included: an autolink or a web address that starts before a
    code span could take it in; a NUL, which the parser replaces in code too (a draft
    never holds one: `safe_text` takes it out first)."""
    return bool(
        "\x00" in line
        or "://" in line
        or ("<" in line and _AUTOLINK_LIKE.search(line))
        or (":" in line and _MAILTO.search(line))
    )
# A code span as markdown-it finds them, left to right: a run of backticks (a whole run,
# never part of one) up to the next run of the same length; a run with no such closer
# is text, and the search goes on after it.
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.*?)(?<!`)\1(?!`)")


def plain_pieces(line: str) -> list[tuple[bool, str]] | None:
    """A line (its spaces already collapsed) as (is code, content) pieces when its only
    markup is code spans, as markdown-it reads them; None when it needs the parser."""
    if "`" not in line:
        if _words_need_parser(line):
            return None
        return [(False, line)] if line else []
    if _line_needs_parser(line):
        return None
    if not _words_need_parser(line):
        # Nothing in the whole line needs the parser, so no part of it does (each
        # pattern finds in a part what it finds in the whole): split without asking.
        return _split_code(line)
    pieces: list[tuple[bool, str]] = []
    position = 0  # where the text not yet taken starts
    for span in _CODE_SPAN.finditer(line):
        if not _add_words(pieces, line[position : span.start()]):
            return None
        content = span.group(2)
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]
        pieces.append((True, content))
        position = span.end()
    return pieces if _add_words(pieces, line[position:]) else None


def _split_code(line: str) -> list[tuple[bool, str]]:
    """`plain_pieces` of a line whose words need no parser."""
    pieces: list[tuple[bool, str]] = []
    position = 0
    for span in _CODE_SPAN.finditer(line):
        if span.start() > position:
            pieces.append((False, line[position : span.start()]))
        content = span.group(2)
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]
        pieces.append((True, content))
        position = span.end()
    if position < len(line):
        pieces.append((False, line[position:]))
    return pieces


def shown_pieces(text: str) -> list[tuple[bool, str]] | None:
    """The pieces a reader of `inline(text)` sees (html, Word), when the quick path
    knows them; None when `inline`'s Markdown must be parsed."""
    pieces = plain_pieces(" ".join(text.split()))
    # Code of spaces only reads back wider from `inline`'s Markdown: the parser says how.
    if pieces is None or any(code and not content.strip(" ") for code, content in pieces):
        return None
    return pieces


def _add_words(pieces: list[tuple[bool, str]], words: str) -> bool:
    """Adds text outside code; False when it needs the parser."""
    if _words_need_parser(words):
        return False
    if words:
        pieces.append((False, words))
    return True


def escape_html(text: str) -> str:
    """As markdown-it escapes text for HTML."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def to_html(markdown: str) -> str:
    """Safe Markdown as HTML (markdown-it-py, HTML off); task items as ☐ and ☒."""
    tokens = _PARSER.parse(markdown)
    for index, token in enumerate(tokens):
        if token.type == "inline" and index >= 2 and tokens[index - 2].type == "list_item_open":
            _task_box(token)
    return str(_PARSER.renderer.render(tokens, _PARSER.options, {}))


def inline_html(markdown: str) -> str:
    """One line of safe inline Markdown as HTML."""
    return str(_PARSER.renderInline(markdown))


def task_state(node: SyntaxTreeNode) -> bool | None:
    """For a list item: True/False when it is a `[x]`/`[ ]` task, None otherwise."""
    first = node.children[0] if node.children else None
    if first is None or first.type != "paragraph" or not first.children:
        return None
    inline_node = first.children[0]
    leading = inline_node.children[0] if inline_node.children else None
    if leading is None or leading.type != "text":
        return None
    found = _TASK.match(leading.content)
    return None if found is None else found.group(1) != " "


def _task_box(token: Token) -> None:
    children = token.children or []
    if children and children[0].type == "text":
        found = _TASK.match(children[0].content)
        if found:
            box = "☐ " if found.group(1) == " " else "☒ "
            children[0].content = box + children[0].content[found.end() :]


# -- writing Markdown back out -----------------------------------------------------------


def _blocks(nodes: list[SyntaxTreeNode], level: int, *, tight: bool = False) -> list[str]:
    return [block for node in nodes if (block := _block(node, level, tight=tight))]


def _block(node: SyntaxTreeNode, level: int, *, tight: bool = False) -> str:
    kind = node.type
    if kind == "paragraph":
        return _paragraph(node)
    if kind == "heading":
        depth = min(6, int(node.tag[1]) + level)
        return "#" * depth + " " + _inline(_inline_children(node), one_line=True)
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, level)
    if kind == "blockquote":
        inner = "\n\n".join(_blocks(node.children, level))
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    if kind in ("fence", "code_block"):
        return _fence(node)
    if kind == "hr":
        return "* * *"
    if kind == "table":
        return _table(node)
    # Anything else the parser may make is shown as its text.
    return _escape_lines(node.content or "")


def _paragraph(node: SyntaxTreeNode) -> str:
    return _inline(_inline_children(node), one_line=False)


def _inline_children(node: SyntaxTreeNode) -> list[Token]:
    if node.children and node.children[0].type == "inline":
        token = node.children[0].token
        return list(token.children or []) if token is not None else []
    return []


def _list(node: SyntaxTreeNode, level: int) -> str:
    ordered = node.type == "ordered_list"
    number = int(str(node.attrs.get("start", 1))) if ordered else 0
    bullet = (node.markup or "-") if not ordered else ""
    delimiter = node.markup or "." if ordered else ""
    tight = all(
        child.hidden
        for item in node.children
        for child in item.children
        if child.type == "paragraph"
    )
    items: list[str] = []
    for item in node.children:
        marker = f"{number}{delimiter} " if ordered else f"{bullet} "
        number += 1
        parts = []
        for index, child in enumerate(item.children):
            text = _block(child, level)
            if index == 0 and child.type == "paragraph" and task_state(item) is not None:
                text = _unescape_task(text)
            parts.append(text)
        body = ("\n" if tight else "\n\n").join(part for part in parts if part)
        indent = " " * len(marker)
        lines = body.split("\n") if body else [""]
        items.append(
            marker
            + lines[0]
            + "".join(f"\n{indent}{line}" if line else "\n" for line in lines[1:])
        )
    return ("\n" if tight else "\n\n").join(items)


def _unescape_task(text: str) -> str:
    """`\\[ \\] x` back to `[ ] x`: the box of a task item is markup, not text."""
    return re.sub(r"^\\\[([ xX])\\\] ", r"[\1] ", text)


def _fence(node: SyntaxTreeNode) -> str:
    content = node.content
    if content and not content.endswith("\n"):
        content += "\n"
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    info = re.sub(r"[`\s].*", "", (node.info or "").strip())
    return f"{fence}{info}\n{content}{fence}"


def _table(node: SyntaxTreeNode) -> str:
    rows: list[list[str]] = []
    aligns: list[str] = []
    for part in node.children:  # thead, tbody
        for row in part.children:
            cells = []
            for cell in row.children:
                if part.type == "thead":
                    style = str(cell.attrs.get("style", ""))
                    aligns.append(style.removeprefix("text-align:"))
                cells.append(_inline(_inline_children(cell), one_line=True))
            rows.append(cells)
    if not rows:
        return ""
    width = len(rows[0])
    delimiter = [
        {"left": ":---", "right": "---:", "center": ":---:"}.get(align, "---")
        for align in aligns[:width]
    ]
    lines = [rows[0], delimiter, *(row + [""] * (width - len(row)) for row in rows[1:])]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _inline(tokens: list[Token], *, one_line: bool) -> str:
    out: list[str] = []
    links: list[str | None] = []  # the open links' targets; None: not allowed, shown as text
    for token in tokens:
        kind = token.type
        if kind == "text" and not (links and links[-1] == ""):
            out.append(_escape(token.content))
        elif kind == "softbreak":
            out.append(" " if one_line else "\n")
        elif kind == "hardbreak":
            out.append(" " if one_line else "\\\n")
        elif kind == "code_inline":
            out.append(_code(token.content))
        elif kind in ("em_open", "em_close"):
            out.append("*")
        elif kind in ("strong_open", "strong_close"):
            out.append("**")
        elif kind in ("s_open", "s_close"):
            out.append("~~")
        elif kind == "link_open" and token.markup == "linkify":
            links.append("")  # a bare address: written back as it was typed
        elif kind == "link_open":
            href = str(token.attrs.get("href", ""))
            links.append(_target(href) if link_allowed(href) else None)
            out.append("[" if links[-1] is not None else "")
        elif kind == "link_close":
            target = links.pop() if links else None
            out.append(f"]({target})" if target else "")
        elif kind == "text" and links and links[-1] == "":
            out.append(_bare_address(token.content))
        elif kind == "image":
            src = str(token.attrs.get("src", ""))
            label = _inline(list(token.children or []), one_line=True) or _escape(src)
            out.append(f"[{label}]({_target(src)})" if link_allowed(src) else label)
        else:
            out.append(_escape(token.content))
    text = "".join(out)
    if one_line:
        return text
    return "\n".join(_guard_line_start(line.strip()) for line in text.split("\n"))


def _target(url: str) -> str:
    # The parser percent-encodes spaces and angle brackets; parentheses need the <…> form.
    return f"<{url}>" if re.search(r"[()\s]", url) else url


def _bare_address(text: str) -> str:
    """A bare web or mail address as typed, so readers and GitHub link it; in `<…>` when
    it holds a character Markdown could read as markup."""
    if re.search(r"[\\`*_\[\]|~<>]", text):
        return f"<{text}>" if "://" in text or text.startswith("mailto:") else _escape(text)
    return text


def _code(content: str) -> str:
    if "`" not in content:  # most code: one backtick around it
        pad = " " if content.startswith(" ") else ""
        return f"`{pad}{content}{pad}`"
    fence = "`" * (max(len(run) for run in _BACKTICKS.findall(content)) + 1)
    pad = " " if content.startswith("`") or content.endswith("`") or content.startswith(" ") else ""
    return f"{fence}{pad}{content}{pad}{fence}"


_BACKTICKS = re.compile(r"`+")


def escape_text(text: str) -> str:
    """Text (a person's name) as Markdown that shows it as written, wherever it stands
    inside a line."""
    return _escape(text)


def _escape(text: str) -> str:
    if "&" in text:
        text = _ENTITY.sub("&amp;", text)
    # Every timeline line passes here: `replace`, not a pattern.
    return backslash_escaped(text.replace("<", "&lt;").replace(">", "&gt;"))


def _guard_line_start(line: str) -> str:
    # A line of a paragraph must not start a heading, a list, a setext underline or a
    # quote (`>` is already `&gt;`); only text can start that way, never our markup.
    if _LINE_START.match(line):
        return "\\" + line
    return _ORDERED_ITEM.sub(r"\1\\\2", line)


def _escape_lines(text: str) -> str:
    return "\n".join(_guard_line_start(_escape(line.strip())) for line in text.split("\n"))
