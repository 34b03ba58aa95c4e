"""Reminders end to end on a real Synapse: `incident-bot run` with short reminder
settings, restarted before each reminder falls due, in rooms where nothing happens
between the restart and the reminder.

Each reminder must arrive in the incident's room, once, addressed to the right person
as a Matrix pill, naming each empty section with `!incident set …`; and nothing more
arrives once the sections are written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from matrix_people import BotProcess, Human, RunBot, Seen, notice_from
from synapse_server import Account, Synapse

SWEEP = 1.0
NO_COMMANDER_AFTER = 30  # room for setting up and a restart on a loaded machine
STATUS_EVERY = 34
SECTIONS_AFTER = 32
SECTIONS_EVERY = 12  # room for the commands between two reminders on a loaded machine
REMINDERS = {
    "INCIDENT_BOT_DECLARER_IS_COMMANDER": "false",
    "INCIDENT_BOT_REMIND_NO_COMMANDER_AFTER": f"{NO_COMMANDER_AFTER}s",
    "INCIDENT_BOT_REMIND_STATUS_EVERY": f"{STATUS_EVERY}s",
    "INCIDENT_BOT_REMIND_SECTIONS_AFTER": f"{SECTIONS_AFTER}s",
    "INCIDENT_BOT_REMIND_SECTIONS_EVERY": f"{SECTIONS_EVERY}s",
    "INCIDENT_BOT_REMIND_SWEEP_INTERVAL": f"{SWEEP:.0f}s",
}
SECTIONS = ("impact", "summary", "root-cause", "resolution", "prevention")


def stamp(seen: Seen) -> float:
    """When the homeserver received the event, in seconds since the epoch."""
    return int(seen.source["origin_server_ts"]) / 1000


def pill_to(seen: Seen, user: str) -> bool:
    """The reminder addresses `user` the Matrix way: id in the body, pill, m.mentions."""
    return (
        seen.body.startswith(f"{user}: ")
        and f'href="https://matrix.to/#/{user}"' in seen.content.get("formatted_body", "")
        and seen.content.get("m.mentions") == {"user_ids": [user]}
    )


def test_every_reminder_arrives_once_after_a_restart_in_quiet_rooms(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    run_bot: RunBot,
    tmp_path: Path,
) -> None:
    account, bot = run_bot(**REMINDERS)
    try:
        asyncio.run(
            _reminders(synapse, new_account("alice"), new_account("bob"), tmp_path,
                       account.user_id, bot)
        )
    finally:
        assert bot.stop() == 0, bot.output()
    log = bot.log.read_text()
    assert "not delivered" not in log, log
    assert "Traceback" not in log, log


async def _reminders(
    synapse: Synapse,
    alice_account: Account,
    bob_account: Account,
    tmp_path: Path,
    bot: str,
    process: BotProcess,
) -> None:
    async with (
        Human(synapse, alice_account, tmp_path / "alice") as alice,
        Human(synapse, bob_account, tmp_path / "bob") as bob,
    ):
        general = await alice.create_room(invite=[bot], encrypted=False)
        await alice.wait_until(lambda: bot in alice.client.rooms[general].users, "the bot")

        async def incident(number: int, title: str) -> tuple[str, float]:
            sent = await alice.send(general, f"!incident start {title}")
            room: str = await alice.wait_until(
                lambda: len(alice.invites) >= number and alice.invites[number - 1], "an invite"
            )
            await alice.join(room)
            await alice.wait_for(room, notice_from(bot, f"Incident {number}: {title}"), title)
            declared = await alice.wait_for(general, lambda s: s.event_id == sent, "start")
            return room, stamp(declared)

        async def command(room: str, text: str, *answer: str) -> Seen:
            """The command as the homeserver dated it, once the bot has answered it (the
            answer itself may come a while later on a loaded machine)."""
            mark = len(alice.seen)
            sent = await alice.send(room, f"!incident {text}")
            await alice.wait_for(room, notice_from(bot, *answer), text, after=mark)
            return await alice.wait_for(room, lambda s: s.event_id == sent, text, after=mark)

        async def reminder(room: str, due: float, what: str, *words: str) -> Seen:
            seen = await alice.wait_for(
                room, notice_from(bot, *words), f"the {what} reminder",
                timeout=due - time.time() + 30,
            )
            print(f"{what} reminder arrived {stamp(seen) - due:+.2f} s after its due time")
            assert stamp(seen) >= due - 0.5, f"the {what} reminder came early"
            return seen

        # Incident 1 is closed at once, with every section empty and nobody in a role.
        closed_room, _ = await incident(1, "Cache stampede")
        closed = await command(closed_room, "close", "Incident 1 closed")
        sections_due = stamp(closed) + SECTIONS_AFTER
        # Incident 2 stays open without a commander; its comms lead is bob.
        live, declared = await incident(2, "Disk full on db-2")
        no_commander_due = declared + NO_COMMANDER_AFTER
        comms = await command(live, f"role comms {bob.user_id}", "is now Communications Lead")
        status_due = stamp(comms) + STATUS_EVERY  # a timeline change restarts the clock

        # Restarted before any of them is due; nothing is said in those rooms after it.
        began = time.time()
        process.stop()
        process.start()
        print(f"set up in {began - stamp(closed):.1f} s, restarted in {time.time() - began:.1f} s")
        first_due = min(no_commander_due, status_due, sections_due)
        assert time.time() < first_due, "the restart took too long for this test"
        print(f"restart done {first_due - time.time():.1f} s before the first reminder was due")

        # No commander: to the room as a whole.
        no_commander = await reminder(live, no_commander_due, "no-commander", "has no commander")
        assert "`!incident role commander me`" in no_commander.body

        # Empty sections: to the declarer (nobody holds a role), each section by command.
        first = await reminder(closed_room, sections_due, "empty-sections", "Reminder 1 of 5")
        assert pill_to(first, alice.user_id), first.content
        for section in SECTIONS:
            assert f"`!incident set {section} TEXT`" in first.body, first.body
        assert "/incident" not in first.body
        await command(closed_room, "set impact Writes failed for 12 minutes.", "`impact`")

        # Status update: to the comms lead, bob, as a pill.
        status = await reminder(live, status_due, "status-update", "no status update")
        assert pill_to(status, bob.user_id), status.content
        assert "`!incident status investigating|identified|monitoring|resolved`" in status.body
        await command(live, "status resolved", "Status: resolved")

        # The next empty-sections reminder, SECTIONS_EVERY later, names the others.
        sections_due += SECTIONS_EVERY  # the cadence of the due times, not of the arrivals
        second = await reminder(closed_room, sections_due, "second empty-sections", "2 of 5")
        assert "`!incident set impact TEXT`" not in second.body
        assert "`!incident set summary TEXT`" in second.body
        for section in SECTIONS[1:]:
            await command(closed_room, f"set {section} Written.", f"`{section}`")

        # Quiet from now on: wait past the time the third would have been due.
        quiet_until = max(sections_due + SECTIONS_EVERY, status_due + 1) + 3 * SWEEP
        await alice.wait_until(lambda: time.time() > quiet_until, "the quiet time",
                               timeout=quiet_until - time.time() + 10)
        reminders = [s.body for s in alice.events(closed_room, sender=bot) if "Reminder" in s.body]
        assert len(reminders) == 2, reminders
        assert len([s for s in alice.seen if notice_from(bot, "has no commander")(s)]) == 1
        assert len([s for s in alice.seen if notice_from(bot, "no status update")(s)]) == 1
        assert not [s for s in alice.events(general, sender=bot) if "remind" in s.body.lower()]
