"""People named inside free text are resolved in the view, before any format's renderer
sees the text: a reference never reaches a renderer (escaping would break it), and a
display name is data like any user text, so a hostile one comes out literally."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from drafting import BUILTINS, REGISTRY, T0, Page, md_skeleton, word, word_text

from bot.domain import WRITTEN_SECTION_IDS, Incident, Role
from bot.drafts.markdown import escape_inline
from bot.drafts.render import render
from bot.drafts.view import build_view, with_names
from bot.mentions import reference

HOSTILE = "*Eve* [x](javascript:alert(1)) <b>bold</b> {{ 7*7 }} | `c` _u_"
NAMES = {"maria": "Maria", "li": "Li", "eve_1": HOSTILE}


def incident(text: str) -> Incident:
    minute = timedelta(minutes=1)
    incident = Incident.declare(
        workspace="w", number=7, title="DB down", platform="slack", channel_id="C7",
        channel_name="inc-7", declared_by="maria", declared_at=T0, captured_at=T0,
        template="standard", timezone="UTC",
    )
    incident.assign_role(Role.OPS, "li", by="maria", at=T0, now=T0)
    incident.add_note(text, author="li", at=T0 + 5 * minute, now=T0 + 5 * minute, source_ref=None)
    incident.add_backdated(text, author="li", occurred_at=T0 - minute, now=T0 + 6 * minute)
    for section_id in WRITTEN_SECTION_IDS:
        incident.set_section(section_id, text, by="li", now=T0 + 9 * minute)
    incident.add_action(text, owner="li", by="li", now=T0 + 10 * minute)
    return incident


def rendered(text: str, template: str, fmt: str) -> bytes:
    found = REGISTRY.get(template)
    assert found is not None
    view = build_view(
        incident(text), found, zone=ZoneInfo("UTC"), name_of=lambda u: NAMES.get(u, u),
        command_prefix="/incident", now=T0 + timedelta(hours=1),
    )
    return render(view, found, REGISTRY, fmt).content


@pytest.mark.parametrize("name", BUILTINS)
def test_a_reference_with_markdown_characters_in_its_id_resolves_in_every_format(
    name: str,
) -> None:
    # `_` and `*` are what a Markdown escaper would backslash; resolved first, they never
    # meet it.
    text = f"Paged {reference('eve_1')} about it"
    for fmt in ("md", "html"):
        out = rendered(text, name, fmt).decode()
        assert "{@" not in out and "eve_1" not in out and "eve\\_1" not in out
    docx_text = word_text(word(rendered(text, name, "docx")))
    assert "{@" not in docx_text and "eve_1" not in docx_text


@pytest.mark.parametrize("name", BUILTINS)
def test_a_hostile_display_name_comes_out_literally(name: str) -> None:
    plain = "Paged somebody about it"
    named = f"Paged {reference('eve_1')} about it"
    md = rendered(named, name, "md").decode()
    assert md_skeleton(md) == md_skeleton(rendered(plain, name, "md").decode())
    page = Page(rendered(named, name, "html").decode())
    assert not any(tag in ("b", "/b") for tag, _ in page.tags)
    assert not any(
        "javascript" in (value or "") for _, attrs in page.tags for _, value in attrs
    )
    assert HOSTILE in "".join(page.text)
    assert HOSTILE in word_text(word(rendered(named, name, "docx")))


def test_a_name_put_into_markdown_source_is_escaped_as_data() -> None:
    """For text rendered as Markdown (not escaped whole), the name alone is escaped."""
    text = f"**Paged** {reference('eve_1')}"
    source = with_names(text, NAMES.__getitem__, quote=escape_inline)
    assert source.startswith("**Paged** ")
    assert md_skeleton(source) == md_skeleton("**Paged** somebody")
