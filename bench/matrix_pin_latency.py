"""How long from a human's 📌 to the bot's ✅, on a real Synapse, over 50 tries.

Run on demand (not part of `make test`):

    make synapse
    INCIDENT_BOT_SYNAPSE_PYTHON=.venv-synapse/bin/python \
        .venv/bin/python bench/matrix_pin_latency.py [--tries 50] [--plain]

It starts Synapse and `incident-bot run` exactly as the tests do, declares an incident,
then for each try posts a message in the incident room, reacts with 📌 and waits for
the bot's ✅ on that message. For scale it also measures a message's plain trip from
one human to another in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "matrix"))

from matrix_people import BotProcess, Human  # noqa: E402
from synapse_server import register, start, stop  # noqa: E402


async def measure(
    tries: int, encrypted: bool, workdir: Path, url_and_accounts: tuple[object, ...]
) -> tuple[list[float], list[float]]:
    synapse, alice_account, bob_account, bot = url_and_accounts
    async with (
        Human(synapse, alice_account, workdir / "alice") as alice,  # type: ignore[arg-type]
        Human(synapse, bob_account, workdir / "bob") as bob,  # type: ignore[arg-type]
    ):
        general = await alice.create_room(invite=[str(bot)], encrypted=encrypted)
        await alice.wait_for(
            general,
            lambda s: s.type == "m.room.member"
            and s.source.get("state_key") == bot
            and s.content.get("membership") == "join",
            "the bot to join",
        )
        await alice.send(general, f"!incident start Latency bench --invite {bob.user_id}")
        room = await alice.wait_until(lambda: alice.invites and alice.invites[-1], "an invite")
        await bob.wait_until(lambda: room in bob.invites, "bob's invite")
        await alice.join(room)
        await bob.join(room)
        pins: list[float] = []
        trips: list[float] = []
        for number in range(tries):
            sent = time.perf_counter()
            message = await alice.send(room, f"Observation {number}")
            await bob.wait_for(room, lambda s, m=message: s.event_id == m, "the message")
            trips.append(time.perf_counter() - sent)
            mark = len(alice.seen)
            tagged = time.perf_counter()
            await alice.react(room, message)
            await alice.wait_for(
                room,
                lambda s, m=message: s.sender == bot
                and s.type == "m.reaction"
                and (s.content.get("m.relates_to") or {}).get("event_id") == m,
                "the ✅",
                after=mark,
            )
            pins.append(time.perf_counter() - tagged)
        return pins, trips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=50)
    parser.add_argument("--plain", action="store_true", help="unencrypted rooms")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        workdir = Path(temp)
        (workdir / "synapse").mkdir()
        synapse, process = start(workdir / "synapse")
        try:
            bot_account = register(synapse, f"incident-bot-{uuid.uuid4().hex[:8]}", "bench-pw")
            alice = register(synapse, f"alice-{uuid.uuid4().hex[:8]}", "bench-pw")
            bob = register(synapse, f"bob-{uuid.uuid4().hex[:8]}", "bench-pw")
            bot = BotProcess(
                env={
                    "MATRIX_HOMESERVER": synapse.url,
                    "MATRIX_USER_ID": bot_account.user_id,
                    "MATRIX_ACCESS_TOKEN": bot_account.access_token,
                    "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
                    "INCIDENT_BOT_MATRIX_STORE": str(workdir / "store"),
                    "INCIDENT_BOT_MATRIX_ENCRYPT_ROOMS": "false" if args.plain else "true",
                },
                workdir=workdir,
            )
            bot.start()
            try:
                pins, trips = asyncio.run(
                    measure(
                        args.tries,
                        not args.plain,
                        workdir,
                        (synapse, alice, bob, bot_account.user_id),
                    )
                )
            finally:
                bot.stop()
        finally:
            stop(process)
    rooms = "unencrypted" if args.plain else "encrypted"
    print(f"{args.tries} tries, {rooms} rooms, SQLite, one Synapse on 127.0.0.1")
    print(
        f"📌 -> ✅ : median {statistics.median(pins) * 1000:.0f} ms, "
        f"p90 {statistics.quantiles(pins, n=10)[-1] * 1000:.0f} ms, "
        f"max {max(pins) * 1000:.0f} ms"
    )
    print(
        f"message human -> human: median {statistics.median(trips) * 1000:.0f} ms "
        f"(ratio {statistics.median(pins) / statistics.median(trips):.1f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
