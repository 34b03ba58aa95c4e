"""Homeserver trouble becomes a clear log line and a bot that keeps trying, never a
crash (which a supervisor would turn into a restart loop) and never a leaked secret."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from matrix_people import BotProcess, Human, Seen
from synapse_server import Account, Synapse, free_port, limit_messages, register


def wait_for_line(bot: BotProcess, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in bot.output():
        assert bot.running(), f"the bot exited:\n{bot.output()}"
        assert time.monotonic() < deadline, f"no `{text}` in the log:\n{bot.output()}"
        time.sleep(0.05)


def test_a_refused_login_is_logged_clearly_and_retried(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    wrong = "not-the-password-" + account.password
    bot = BotProcess(
        env={**bot_env, "MATRIX_USER_ID": account.user_id, "MATRIX_PASSWORD": wrong},
        workdir=tmp_path,
    )
    bot.start()
    try:
        wait_for_line(bot, f"logging in as {account.user_id} failed")
        wait_for_line(bot, "check MATRIX_USER_ID and MATRIX_PASSWORD; retrying in 2 s")
        assert bot.running()
    finally:
        assert bot.stop() == 0
    assert wrong not in bot.log.read_text()


def test_a_homeserver_that_is_down_is_logged_and_retried(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    bot = BotProcess(
        env={
            **bot_env,
            "MATRIX_HOMESERVER": down,
            "MATRIX_USER_ID": "@incident-bot:localhost",
            "MATRIX_ACCESS_TOKEN": "syt_secret_token_value",
            "MATRIX_DEVICE_ID": "DEVICE",
        },
        workdir=tmp_path,
    )
    bot.start()
    try:
        wait_for_line(bot, f"Matrix: cannot reach {down}")
        wait_for_line(bot, "retrying in 2 s")
    finally:
        assert bot.stop() == 0
    assert "syt_secret_token_value" not in bot.log.read_text()


def test_a_rate_limited_bot_waits_as_told_and_loses_no_reply(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    admin = register(synapse, f"admin-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, admin=True)
    limit_messages(synapse, admin, account.user_id, per_second=2)
    bot = BotProcess(
        env={
            **bot_env,
            "MATRIX_USER_ID": account.user_id,
            "MATRIX_ACCESS_TOKEN": account.access_token,
            "INCIDENT_BOT_MATRIX_ENCRYPT_ROOMS": "false",
        },
        workdir=tmp_path,
    )
    bot.start()

    async def burst() -> None:
        async with Human(synapse, new_account("alice"), tmp_path / "alice") as alice:
            general = await alice.create_room(invite=[account.user_id], encrypted=False)
            await alice.wait_until(
                lambda: account.user_id in alice.client.rooms[general].users, "the bot to join"
            )
            for number in range(1, 4):
                await alice.send(general, f"!incident help note{' ' * number}")

            def answers() -> list[Seen]:
                found = alice.events(general, sender=account.user_id, type="m.room.message")
                return found if len(found) >= 3 else []

            replies = await alice.wait_until(answers, "three answers")
            assert [reply.body.split(":")[0] for reply in replies] == ["note"] * 3

    try:
        asyncio.run(burst())
    finally:
        assert bot.stop() == 0
    assert "Got 429 response (ratelimited), sleeping for" in bot.output()
