"""Slash-command ack latency of the Slack adapter, beside a bare Bolt app that only acks,
in Socket Mode and in HTTP mode, in one run, against the fake Slack of tests/slack/.

    .venv/bin/python bench/slack_ack.py [--commands 200] [--concurrency 20]

For each (mode, app): start it as a subprocess, warm up, then send N `/incident note …`
commands, C at a time, and time each until its ack (HTTP: the response; Socket Mode:
the envelope's ack on the websocket, timed by the fake). The bot really does the work
behind each ack (SQLite, chat.postMessage), so the numbers show the ack does not wait
for it. The bot's ack includes storing the request in its inbox (one committed insert,
group-committed with the requests arriving at the same moment); the bare app stores
nothing. `--database-url postgresql://…` runs the bot on PostgreSQL instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "slack"))

from fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlack  # noqa: E402
from slack_bot import (  # noqa: E402
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    command_payload,
    free_port,
    port_open,
)


class Bare(BotProcess):
    """bench/bare_bolt.py as a subprocess (BotProcess runs `incident-bot run`)."""

    def __init__(self, *, env: dict[str, str], workdir: Path, args: list[str]) -> None:
        self.log_path = workdir / "bare.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "bare_bolt.py"), *args],
            cwd=REPO, env={**os.environ, **env, "PYTHONPATH": str(REPO)},
            stdout=self._log, stderr=subprocess.STDOUT,
        )


def run(fake: FakeSlack, mode: str, which: str, n: int, concurrency: int) -> list[float]:
    workdir = Path(tempfile.mkdtemp(prefix=f"slack-ack-{mode}-{which}-"))
    port = free_port()
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "INCIDENT_BOT_SLACK_API_URL": fake.api_url,
           "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{workdir}/bot.db"}
    if mode == "socket":
        env["SLACK_APP_TOKEN"] = APP_TOKEN
    else:
        env.update({"SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "INCIDENT_BOT_SLACK_PORT": str(port), "INCIDENT_BOT_SLACK_HOST": "127.0.0.1"})
    opened = fake.connections_opened
    if which == "bot":
        process: BotProcess = BotProcess(env=env, workdir=workdir)
    else:
        process = Bare(env=env, workdir=workdir,
                       args=["--mode", mode, "--port", str(port), "--api-url", fake.api_url])
    try:
        if mode == "socket":
            process.wait_until(lambda: fake.connections_opened > opened and fake.open_sockets)
        else:
            process.wait_until(lambda: port_open(port))
        ws = f"T{uuid.uuid4().hex[:8].upper()}"
        general = fake.add_channel(f"bench-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
        send = sender(fake, mode, port, ws)
        title = f"Bench incident {uuid.uuid4().hex[:6]}"
        send(general, f"start {title}")
        channel = fake.wait_for(
            lambda: next((c.id for c in fake.channels.values() if c.topic.endswith(title)), None)
        ) if which == "bot" else general
        for i in range(20):  # warm-up
            send(channel, f"note warm-up {i}")
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(lambda i: send(channel, f"note bench {i}"), range(n)))
    finally:
        process.stop()


def sender(fake: FakeSlack, mode: str, port: int, ws: str) -> Callable[[str, str], float]:
    http = SlackSender(port=port)

    def send(channel: str, text: str) -> float:
        if mode == "http":
            answer = http.command(team=ws, channel=channel, user="UADA", text=text,
                                  response_url=fake.response_url())
            assert answer.status == 200, answer
            return answer.seconds
        envelope = fake.push("slash_commands", command_payload(
            team=ws, channel=channel, user="UADA", text=text, response_url=fake.response_url()))
        acked = fake.wait_for(lambda: envelope.acked_at, timeout=30)
        return float(acked - envelope.sent_at)

    return send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    fake = FakeSlack().start()
    fake.add_user("UADA", name="ada", display_name="Ada Lovelace")
    print(f"{args.commands} slash commands, {args.concurrency} at a time; ack latency in ms")
    print(f"{'mode':<7} {'app':<22} {'median':>8} {'p99':>8} {'max':>8}")
    try:
        for mode in ("http", "socket"):
            medians, p99s = {}, {}
            for which in ("bare", "bot"):
                ms = sorted(s * 1000 for s in run(fake, mode, which, args.commands,
                                                  args.concurrency))
                p99s[which] = ms[max(0, round(0.99 * len(ms)) - 1)]
                medians[which] = statistics.median(ms)
                label = "bare Bolt (ack only)" if which == "bare" else "incident-bot"
                print(f"{mode:<7} {label:<22} {medians[which]:8.1f} {p99s[which]:8.1f} "
                      f"{ms[-1]:8.1f}")
            print(f"{mode:<7} {'ratio bot/bare':<22} {medians['bot'] / medians['bare']:8.2f} "
                  f"{p99s['bot'] / p99s['bare']:8.2f}")
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
