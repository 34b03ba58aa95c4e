"""How much one incident may hold, and the refusals that say so.

Every number is far above what a real incident needs (the seeds' longest timeline line
is about 300 characters, their longest section about 2,000), so only a mistake or a
script reaches one. Each refusal names the limit and how to write it right. A 📌 on a
long chat message is never refused: its text is shortened, with a visible mark.

The README's "Limits" table states the same numbers.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.domain import IncidentError

# A title becomes the channel name's slug (Slack caps names at 80 characters) and the
# postmortem's heading; a title longer than this is a paragraph pasted by mistake.
TITLE_CHARS = 200
# One timeline line: `note`, `timeline add`, `timeline edit`; a 📌 message is shortened
# to it (Slack lets a message hold 40,000 characters).
ENTRY_CHARS = 4_000
# One postmortem section, after `append` as well as `set`.
SECTION_CHARS = 20_000
# One action item's text.
ACTION_CHARS = 1_000
# A user id as a mention or a console handle: Matrix caps user ids at 255 bytes, and
# storage keeps ids in 255-character columns.
PERSON_CHARS = 255
# Timeline entries people add (`note`, `timeline add`, 📌), counting removed ones (they
# are kept). The bot's own entries (status, roles, close …) may go AUTOMATIC_HEADROOM
# beyond, so a full timeline can still be resolved and closed.
TIMELINE_ENTRIES = 20_000
AUTOMATIC_HEADROOM = 1_000
# Action items in one incident.
ACTIONS = 1_000
# How far back `timeline add` may reach: an incident's history, not the calendar's
# (a year 1 or 9999 date is a typo, and would not even fit a timezone conversion).
BACKDATE_DAYS = 366

SHORTENED_MARK = " … [shortened]"


def _n(number: int) -> str:
    return f"{number:,}"


def check_title(title: str, usage: str | None = None) -> None:
    if len(title) > TITLE_CHARS:
        raise IncidentError(
            f"The title has {_n(len(title))} characters; a title may have at most "
            f"{_n(TITLE_CHARS)}. Give a short title and put the details in a `note`.",
            usage,
        )


def check_entry_text(text: str, usage: str | None = None) -> None:
    if len(text) > ENTRY_CHARS:
        raise IncidentError(
            f"That timeline entry has {_n(len(text))} characters; one entry may have at "
            f"most {_n(ENTRY_CHARS)}. Split it into several entries, or write the long "
            "part into a section with `set SECTION TEXT`.",
            usage,
        )


def check_section_text(section_id: str, text: str, usage: str | None = None) -> None:
    if len(text) > SECTION_CHARS:
        raise IncidentError(
            f"Section `{section_id}` would have {_n(len(text))} characters; a section may "
            f"have at most {_n(SECTION_CHARS)}. Shorten it, or put the rest in another "
            "section (`supporting-info`, `references`).",
            usage,
        )


def check_action_text(text: str, usage: str | None = None) -> None:
    if len(text) > ACTION_CHARS:
        raise IncidentError(
            f"That action item has {_n(len(text))} characters; one may have at most "
            f"{_n(ACTION_CHARS)}. Name the action in a sentence and put the details in a "
            "section.",
            usage,
        )


def check_person(user: str, usage: str | None = None) -> None:
    if len(user) > PERSON_CHARS:
        shown = user[:40] + "…"
        raise IncidentError(
            f"`{shown}` is {_n(len(user))} characters long; a mention or handle may have at "
            f"most {_n(PERSON_CHARS)}. Mention the person as your platform writes them "
            "(`@handle`).",
            usage,
        )


def check_backdate(
    day: date, today: date, usage: str | None = None, command: str = "timeline add"
) -> None:
    if day < today - timedelta(days=BACKDATE_DAYS):
        raise IncidentError(
            f"{day.isoformat()} is more than a year ago; `{command}` records what "
            f"happened in this incident, at most {BACKDATE_DAYS} days back. Check the date "
            "(YYYY-MM-DD), or leave it out for today.",
            usage,
        )


def check_timeline_room(stored_entries: int, number: int, *, automatic: bool) -> None:
    """Refuses one more entry when the incident's timeline holds as many as it may."""
    most = TIMELINE_ENTRIES + (AUTOMATIC_HEADROOM if automatic else 0)
    if stored_entries >= most:
        raise IncidentError(
            f"Incident {number} holds {_n(stored_entries)} timeline entries (removed ones "
            f"included, since they are kept), and that is the most one incident may hold. "
            "Sections still take text; for a new phase of the work, `start` a new incident."
        )


def check_action_room(actions: int, number: int) -> None:
    if actions >= ACTIONS:
        raise IncidentError(
            f"Incident {number} has {_n(actions)} action items, the most one incident may "
            "hold. Track further ones in your ticket system and list them with "
            "`set related-tickets TEXT`."
        )


def shortened(text: str, most: int = ENTRY_CHARS) -> str:
    """Text cut to at most `most` characters, ending with a visible mark when cut."""
    if len(text) <= most:
        return text
    keep = text[: most - len(SHORTENED_MARK)]
    # Cut between words when there is a space near the end, so no word is half shown.
    space = keep.rfind(" ", len(keep) - 200)
    if space > 0:
        keep = keep[:space]
    return keep.rstrip() + SHORTENED_MARK
