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

from matrix_people import BotProcess, Human, Seen
from synapse_server import Account, Synapse

SWEEP = 1.0
NO_COMMANDER_AFTER = 8
STATUS_EVERY = 10
SECTIONS_AFTER = 8
SECTIONS_EVERY = 6
REMINDERS = {
    "INCIDENT_BOT_DECLARER_IS_COMMANDER": "false",
    "INCIDENT_BOT_REMIND_NO_COMMANDER_AFTER": f"{NO_COMMANDER_AFTER}s",
    "INCIDENT_BOT_REMIND_STATUS_EVERY": f"{STATUS_EVERY}s",
    "INCIDENT_BOT_REMIND_SECTIONS_AFTER": f"{SECTIONS_AFTER}s",
    "INCIDENT_BOT_REMIND_SECTIONS_EVERY": f"{SECTIONS_EVERY}s",
    "INCIDENT_BOT_REMIND_SWEEP_INTERVAL": f"{SWEEP:.0f}s",
}
SECTIONS = ("impact", "summary", "root-cause", "resolution", "prevention")


def notice_from(bot: str, *words: str) -> Callable[[Seen], bool]:
    def match(seen: Seen) -> bool:
        return (
            seen.sender == bot
            and seen.type == "m.room.message"
            and seen.content.get("msgtype") == "m.notice"
            and all(word in seen.body for word in words)
        )

    return match


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


def test_every_reminder_arrives_once_after_a_restart_in_a_quiet_room(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    bot = BotProcess(
        env={
            **bot_env,
            **REMINDERS,
            "MATRIX_USER_ID": account.user_id,
            "MATRIX_PASSWORD": account.password,
        },
        workdir=tmp_path,
    )
    bot.start()
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
        started = await alice.send(general, "!incident start Disk full on db-2")
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        await alice.join(room)
        await alice.wait_for(room, notice_from(bot, "Incident 1: Disk full on db-2"), "summary")
        declared = stamp(await alice.wait_for(general, lambda s: s.event_id == started, "start"))

        async def restart_before(due: float, what: str) -> None:
            process.stop()
            process.start()
            assert time.time() < due, f"the restart took too long to test {what}"
            print(f"restart done {due - time.time():.1f} s before the {what} reminder was due")

        async def reminder(due: float, what: str, *words: str, after: int) -> Seen:
            seen = await alice.wait_for(
                room, notice_from(bot, *words), f"the {what} reminder", after=after,
                timeout=due - time.time() + 30,
            )
            print(f"{what} reminder arrived {stamp(seen) - due:+.2f} s after its due time")
            assert stamp(seen) >= due - 0.5, f"the {what} reminder came early"
            return seen

        # No commander: to the room as a whole, after a restart with nothing said since.
        due = declared + NO_COMMANDER_AFTER
        await restart_before(due, "no-commander")
        mark = len(alice.seen)
        no_commander = await reminder(due, "no-commander", "has no commander", after=mark)
        assert no_commander.room_id == room
        assert "`!incident role commander me`" in no_commander.body

        # Status update: to the comms lead (bob), as a pill.
        await alice.send(room, "!incident role commander me")
        await alice.wait_for(room, notice_from(bot, "is now Incident commander"), "commander")
        await alice.send(room, f"!incident role comms {bob.user_id}")
        comms = await alice.wait_for(room, notice_from(bot, "is now Communications lead"), "comms")
        due = stamp(comms) + STATUS_EVERY  # the last timeline change restarts the clock
        await restart_before(due, "status-update")
        mark = len(alice.seen)
        status = await reminder(due, "status-update", "no status update", after=mark)
        assert pill_to(status, bob.user_id), status.content
        assert "`!incident status investigating|identified|monitoring|resolved`" in status.body

        # Resolved and closed: the status reminders stop, the empty-sections ones begin.
        await alice.send(room, "!incident status resolved")
        await alice.send(room, "!incident close")
        closed = await alice.wait_for(room, notice_from(bot, "Incident 1 closed"), "the close")
        due = stamp(closed) + SECTIONS_AFTER
        await restart_before(due, "empty-sections")
        mark = len(alice.seen)
        first = await reminder(due, "empty-sections", "still has", "Reminder 1 of 5", after=mark)
        assert pill_to(first, alice.user_id), first.content  # no reporting lead: the commander
        for section in SECTIONS:
            assert f"`!incident set {section} TEXT`" in first.body, first.body
        assert "/incident" not in first.body

        # One section written: the next reminder, SECTIONS_EVERY later, names the others.
        await alice.send(room, "!incident set impact Writes failed for 12 minutes.")
        await alice.wait_for(room, notice_from(bot, "Section `impact`"), "the impact section")
        due += SECTIONS_EVERY  # the cadence of the due times, not of the arrivals
        second = await reminder(due, "second empty-sections", "Reminder 2 of 5", after=mark)
        assert "`!incident set impact TEXT`" not in second.body
        assert "`!incident set summary TEXT`" in second.body

        for section in SECTIONS[1:]:
            await alice.send(room, f"!incident set {section} Written.")
            await alice.wait_for(room, notice_from(bot, f"Section `{section}`"), section)
        # Quiet from now on: wait past the time the third would have been due.
        third_due = due + SECTIONS_EVERY
        await alice.wait_until(lambda: time.time() > third_due + 3 * SWEEP, "the quiet time",
                               timeout=third_due - time.time() + 10)

        reminders = [s.body for s in alice.events(room, sender=bot) if "Reminder" in s.body]
        assert len(reminders) == 2, reminders
        assert len([s for s in alice.seen if notice_from(bot, "has no commander")(s)]) == 1
        assert len([s for s in alice.seen if notice_from(bot, "no status update")(s)]) == 1
        assert not [s for s in alice.events(general, sender=bot) if "remind" in s.body.lower()]
