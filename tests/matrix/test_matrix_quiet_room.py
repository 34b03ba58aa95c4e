"""Right after a restart the bot can post to a room where nothing has happened since:
a message, a file and a reaction, in an end-to-end encrypted room.

Two restarts in a row make sure the start finds its stored sync token unchanged (the
first restart's sync stored the newest token; nothing happened after it), which is
when the homeserver answers the start's full-state sync with that same token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from matrix_people import Human
from synapse_server import Account, Synapse

from adapters.bootstrap import build_bot, build_leadership, prepare_database
from adapters.config import Settings
from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.settings import matrix_settings
from bot.clock import SystemClock
from bot.replies import FileUpload, Message, Reaction

DRAFT = b"# Postmortem\n\nTo be written.\n"


def test_messages_files_and_reactions_reach_a_quiet_room_after_a_restart(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    env = {**bot_env, "MATRIX_USER_ID": account.user_id, "MATRIX_PASSWORD": account.password}
    settings = Settings(database_url=env["INCIDENT_BOT_DATABASE_URL"])
    prepare_database(settings.database_url)
    matrix = matrix_settings(env)
    assert matrix is not None

    def adapter() -> MatrixAdapter:
        return MatrixAdapter(
            bot=build_bot(settings, clock=SystemClock()),
            settings=matrix,
            leadership=build_leadership(settings),
        )

    asyncio.run(_quiet_room(synapse, new_account("alice"), tmp_path, account.user_id, adapter))


async def _quiet_room(
    synapse: Synapse,
    alice_account: Account,
    tmp_path: Path,
    bot: str,
    adapter: Callable[[], MatrixAdapter],
) -> None:
    async with Human(synapse, alice_account, tmp_path / "alice") as alice:
        first = adapter()
        await asyncio.to_thread(first.start)
        try:
            room = await alice.create_room(invite=[bot], encrypted=True)
            await alice.wait_until(
                lambda: bot in alice.client.rooms[room].users, "the bot to join"
            )
            message = await alice.send(room, "Disk on db-2 is at 97%")
        finally:
            await asyncio.to_thread(first.stop)

        for _ in range(2):  # restarted twice, with nothing said in between
            again = adapter()
            await asyncio.to_thread(again.start)
            await asyncio.to_thread(again.stop)

        last = adapter()
        await asyncio.to_thread(last.start)
        try:
            mark = len(alice.seen)
            await asyncio.to_thread(
                last.deliver,
                [
                    Message(channel=room, text=f"{alice.user_id}: still there?"),
                    FileUpload(
                        channel=room, filename="inc-1.md", content=DRAFT,
                        media_type="text/markdown", comment="The draft.",
                    ),
                    Reaction(channel=room, message_ref=message),
                ],
            )
        finally:
            await asyncio.to_thread(last.stop)

        said = await alice.wait_for(
            room, lambda s: s.sender == bot and "still there?" in s.body, "the message",
            after=mark,
        )
        assert getattr(said.event, "decrypted", False), "the message was not encrypted"
        upload = await alice.wait_for(
            room, lambda s: s.sender == bot and s.content.get("msgtype") == "m.file",
            "the file", after=mark,
        )
        assert "file" in upload.content  # an encrypted attachment
        assert await alice.download(upload.content) == DRAFT
        await alice.wait_for(
            room,
            lambda s: s.sender == bot
            and s.type == "m.reaction"
            and (s.content.get("m.relates_to") or {}).get("event_id") == message,
            "the ✅",
            after=mark,
        )
