"""The Matrix sync lag reaches `/metrics`: `incident-bot run` on a real Synapse, with its
web face on a free port, observes one sample per sync that brought someone's event."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from matrix_people import BotProcess, Human, Seen
from synapse_server import Account, Synapse

LAG = "incident_bot_matrix_sync_lag_seconds"


def metric(base: str, name: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode("utf-8")
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} is not on /metrics:\n{text}"
    return float(found.group(1))


def web_url(bot: BotProcess) -> str:
    deadline = time.monotonic() + 30
    while not (found := re.search(r"web pages at (http://127\.0\.0\.1:\d+)", bot.output())):
        assert time.monotonic() < deadline, f"no `web pages at` in the log:\n{bot.output()}"
        time.sleep(0.1)
    return found.group(1)


def test_each_sync_with_events_records_how_far_behind_the_bot_is(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    account = new_account("incident-bot")
    bot = BotProcess(
        env={
            **bot_env,
            "MATRIX_USER_ID": account.user_id,
            "MATRIX_PASSWORD": account.password,
            "INCIDENT_BOT_HTTP_PORT": "0",  # any free port; the bot says which
        },
        workdir=tmp_path,
    )
    bot.start()
    try:
        base = web_url(bot)
        asyncio.run(_talk(synapse, new_account("alice"), tmp_path, account.user_id, base))
    finally:
        assert bot.stop() == 0, bot.output()


async def _talk(synapse: Synapse, account: Account, tmp_path: Path, bot: str, base: str) -> None:
    async with Human(synapse, account, tmp_path / "alice") as alice:
        general = await alice.create_room(invite=[bot], encrypted=False)
        await alice.wait_for(general, _joined(bot), "the bot to join")
        count_before, sum_before = metric(base, f"{LAG}_count"), metric(base, f"{LAG}_sum")
        sent_at = time.time()
        await alice.send(general, "!incident help")
        await alice.wait_for(general, lambda seen: seen.sender == bot, "the bot's answer")
        deadline = time.monotonic() + 30
        while (count := metric(base, f"{LAG}_count")) <= count_before:
            assert time.monotonic() < deadline, "no sync lag was recorded"
            await asyncio.sleep(0.2)
        # Each sample is the age of the newest message from someone else when its batch
        # was done: more than nothing, less than the whole exchange took.
        samples = count - count_before
        lag = metric(base, f"{LAG}_sum") - sum_before
        assert 0 < lag <= samples * (time.time() - sent_at + 1), (samples, lag)


def _joined(bot: str) -> Callable[[Seen], bool]:
    def match(seen: Seen) -> bool:
        return (
            seen.type == "m.room.member"
            and seen.source.get("state_key") == bot
            and seen.content.get("membership") == "join"
        )

    return match
