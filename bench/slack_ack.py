"""Slash-command ack latency of the Slack adapter, beside a bare Bolt app that only acks,
in Socket Mode and in HTTP mode, in one run, against the fake Slack of tests/slack/.

    .venv/bin/python bench/slack_ack.py [--commands 300] [--concurrency 20] [--runs 3]
        [--modes http,socket] [--database-url postgresql://…]
        [--variant 'full-sync:INCIDENT_BOT_INBOX_SYNC=full'] [--control]

Each run starts, for each mode, the bare app and then the bot (and each `--variant`, the
bot with more environment; with `--control`, the bare app once more, last) as
subprocesses, warms each up, then sends N `/incident note …` commands, C at a time,
and times each until its ack (HTTP: the response; Socket Mode: the
envelope's ack on the websocket, timed by the fake). The bot really does the work behind
each ack (SQLite or PostgreSQL, chat.postMessage), so the numbers show whether the ack
waits for it. The bot's ack includes storing the request in its inbox (one committed
insert); the bare app stores nothing.

The HTTP requests are sent and timed by a process of their own (`--http-client`): the
fake Slack that the bot posts its replies to runs in this process, and a client sharing
its interpreter lock would count the fake's work in the bot's ack time.

Printed: each run's median and p99 per app, and the CPU time the app's process (the one
that acks) spent per request during the burst, with its children's (the bot's handling
process) beside it; then the medians over runs of those and of the per-run p99 ratio
bot/bare. The CPU figures are steadier than the latencies on a busy machine: at this
concurrency the acking process is saturated, so its CPU per request sets the queueing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "slack"))

from fake_slack import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlack  # noqa: E402
from slack_bot import (  # noqa: E402
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    children_of,
    command_payload,
    free_port,
    port_open,
)

BARE = "bare Bolt (ack only)"
BOT = "incident-bot"
BARE_AGAIN = "bare Bolt again (control)"
BARE_ASYNC = "bare Bolt, asyncio (ack only)"


@dataclass(frozen=True)
class Variant:
    label: str
    env: dict[str, str]
    bare: bool = False  # the bare app again (--control), not the bot
    flavour: str = "sync"  # the bare app's: Bolt's App, or its AsyncApp ("async")


@dataclass(frozen=True)
class Row:
    run: int
    mode: str
    app: str
    median_ms: float
    p99_ms: float
    max_ms: float
    cpu_ms: float  # the acking process's CPU per request
    child_cpu_ms: float  # its children's (the handling process)
    latencies_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class Burst:
    seconds: list[float]
    cpu_ms: float
    child_cpu_ms: float


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> tuple[float, float]:
    """(the process's CPU seconds, its live children's)."""
    children = 0.0
    for child in children_of(pid):
        try:
            children += cpu_seconds(child)
        except OSError:
            continue
    return cpu_seconds(pid), children


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


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(fraction * len(ordered)) - 1)]


def p99(values: Sequence[float]) -> float:
    return percentile(values, 0.99)


def run(fake: FakeSlack, mode: str, variant: Variant | None, n: int, concurrency: int,
        database_url: str | None) -> Burst:
    """Ack latencies in seconds, and CPU per request; `variant` None is the bare app."""
    flavour = "sync"
    if variant is not None and variant.bare:
        flavour, variant = variant.flavour, None
    which = "bare" if variant is None else "bot"
    workdir = Path(tempfile.mkdtemp(prefix=f"slack-ack-{mode}-{which}-"))
    port = free_port()
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "INCIDENT_BOT_SLACK_API_URL": fake.api_url,
           "INCIDENT_BOT_DATABASE_URL": database_url or f"sqlite:///{workdir}/bot.db",
           # The pages and /metrics on a free port (8080 may be taken).
           "INCIDENT_BOT_HTTP_PORT": str(free_port())}
    if mode == "socket":
        env["SLACK_APP_TOKEN"] = APP_TOKEN
    else:
        env.update({"SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "INCIDENT_BOT_SLACK_PORT": str(port), "INCIDENT_BOT_SLACK_HOST": "127.0.0.1"})
    opened = fake.connections_opened
    if variant is not None:
        process: BotProcess = BotProcess(env={**env, **variant.env}, workdir=workdir)
    else:
        process = Bare(env=env, workdir=workdir,
                       args=["--mode", mode, "--port", str(port), "--api-url", fake.api_url,
                             "--flavour", flavour])
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
        # The bot invites people once the channel is saved as the incident's: a note sent
        # before is answered that the channel has no incident (by design), and not recorded.
        channel = fake.wait_for(
            lambda: next((c.id for c in fake.channels.values()
                          if c.topic.endswith(title) and "UADA" in c.members), None)
        ) if variant is not None else general
        for i in range(20):  # warm-up
            send(channel, f"note warm-up {i}")
        pid = process.process.pid
        own_before, children_before = cpu_of(pid)
        if mode == "http":
            seconds = http_burst(port=port, team=ws, channel=channel, n=n,
                                 concurrency=concurrency, response_base=fake.response_url())
        else:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                seconds = list(pool.map(lambda i: send(channel, f"note bench {i}"), range(n)))
        own_after, _ = cpu_of(pid)
        # The handling goes on after the acks: its CPU is counted once it is done.
        if variant is not None:
            # Imported here: the client process (--http-client) stays small, so that a
            # garbage collection of its heap does not delay the burst's first requests.
            from storage.inbox import inbox_for

            stored = inbox_for(env["INCIDENT_BOT_DATABASE_URL"])
            try:
                fake.wait_for(lambda: stored.pending() == 0, timeout=300)
            finally:
                stored.engine.dispose()
            confirmed = note_replies(fake, channel)
            if confirmed != n + 20:
                print(f"  ! {n + 20 - confirmed} notes were not confirmed", flush=True)
        _, children_after = cpu_of(pid)
        return Burst(seconds, (own_after - own_before) * 1000 / n,
                     (children_after - children_before) * 1000 / n)
    finally:
        process.stop()


def note_replies(fake: FakeSlack, channel: str) -> int:
    """How many notes the bot has confirmed in the channel (each gets one post)."""
    return sum(
        1 for call in fake.calls_to("chat.postMessage")
        if call.params.get("channel") == channel
        and str(call.params.get("text", "")).startswith("Noted on the timeline")
    )


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


def http_burst(*, port: int, team: str, channel: str, n: int, concurrency: int,
               response_base: str) -> list[float]:
    """N commands, C at a time, sent and timed by a client process of its own."""
    job = {"port": port, "team": team, "channel": channel, "n": n,
           "concurrency": concurrency, "response_base": response_base}
    done = subprocess.run(
        [sys.executable, __file__, "--http-client"], input=json.dumps(job),
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return [float(s) for s in json.loads(done.stdout)]


def http_client() -> None:
    """The `--http-client` process: reads its job on stdin, prints the latencies."""
    gc.freeze()  # what it imported is never collected: no pause of that size mid-burst
    job = json.load(sys.stdin)
    http = SlackSender(port=job["port"])

    def send(i: int) -> float:
        answer = http.command(team=job["team"], channel=job["channel"], user="UADA",
                              text=f"note bench {i}", response_url=f"{job['response_base']}{i}")
        assert answer.status == 200, answer
        return answer.seconds

    with ThreadPoolExecutor(max_workers=job["concurrency"]) as pool:
        print(json.dumps(list(pool.map(send, range(job["n"])))))


def variant(text: str) -> Variant:
    """`label:KEY=VALUE,KEY=VALUE` -> the bot run with that environment added."""
    label, _, assignments = text.partition(":")
    env = dict(pair.split("=", 1) for pair in assignments.split(",") if pair)
    return Variant(label=f"{BOT} {label}", env=env)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="http,socket")
    parser.add_argument("--database-url", help="run the bot on this database (PostgreSQL)")
    parser.add_argument("--variant", type=variant, action="append", default=[],
                        help="also run the bot with more environment: 'label:KEY=VALUE,…'")
    parser.add_argument("--async-bare", action="store_true",
                        help="also run a bare Bolt AsyncApp (HTTP only), the bot's kind of app")
    parser.add_argument("--control", action="store_true",
                        help="run the bare app a second time, last: its ratio to the first "
                             "is what noise and the order of the runs alone make")
    parser.add_argument("--http-client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.http_client:
        http_client()
        return []
    modes = [mode for mode in args.modes.split(",") if mode]
    apps: list[Variant | None] = [None, Variant(BOT, {}), *args.variant]
    if args.async_bare:
        if modes != ["http"]:
            parser.error("--async-bare needs --modes http")
        apps.append(Variant(BARE_ASYNC, {}, bare=True, flavour="async"))
    if args.control:
        apps.append(Variant(BARE_AGAIN, {}, bare=True))
    fake = FakeSlack().start()
    fake.add_user("UADA", name="ada", display_name="Ada Lovelace")
    print(f"{args.commands} slash commands, {args.concurrency} at a time, {args.runs} run(s); "
          f"ack latency in ms; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'run':<4} {'mode':<7} {'app':<34} {'median':>8} {'p99':>8} {'max':>8} "
          f"{'cpu/req':>8} {'child':>6}", flush=True)
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for number in range(1, args.runs + 1):
            for mode in modes:
                for app in apps:
                    burst = run(fake, mode, app, args.commands, args.concurrency,
                                args.database_url)
                    ms = [s * 1000 for s in burst.seconds]
                    row = Row(number, mode, BARE if app is None else app.label,
                              statistics.median(ms), p99(ms), max(ms), burst.cpu_ms,
                              burst.child_cpu_ms, tuple(ms))
                    rows.append(row)
                    print(f"{row.run:<4} {row.mode:<7} {row.app:<34} {row.median_ms:8.1f} "
                          f"{row.p99_ms:8.1f} {row.max_ms:8.1f} {row.cpu_ms:8.2f} "
                          f"{row.child_cpu_ms:6.2f}", flush=True)
    finally:
        fake.stop()
    summarise(rows, modes, [BARE if a is None else a.label for a in apps])
    print(f"load average at end {os.getloadavg()[0]:.1f}; {time.monotonic() - started:.0f} s",
          flush=True)
    return rows


def summarise(rows: list[Row], modes: list[str], apps: list[str]) -> None:
    """The medians over runs, and the p99 of all runs' acks taken together: with 400
    commands a run's p99 is its fourth slowest ack, so one run's ratio moves by ±0.2 on
    its own; the pooled p99 (and its ratio) is the steadier figure."""
    print(f"\nmedian over runs    {'median':>8} {'p99':>8} {'cpu/req':>8} "
          f"{'p99 ratio (per run)':>22}")
    for mode in modes:
        bare = {r.run: r for r in rows if r.mode == mode and r.app == BARE}
        for app in apps:
            mine = [r for r in rows if r.mode == mode and r.app == app]
            ratios = [r.p99_ms / bare[r.run].p99_ms for r in mine]
            print(f"{mode:<7} {app:<34} {statistics.median(r.median_ms for r in mine):8.1f} "
                  f"{statistics.median(r.p99_ms for r in mine):8.1f} "
                  f"{statistics.median(r.cpu_ms for r in mine):8.2f} "
                  f"{statistics.median(ratios):8.2f} "
                  f"({', '.join(f'{x:.2f}' for x in ratios)})")
    versus_async = BARE_ASYNC in apps
    print(f"\nall runs together   {'median':>8} {'p99':>8} {'p99.9':>8} {'p99 ÷ bare p99':>16}"
          + (f" {'÷ asyncio bare':>15}" if versus_async else ""))
    for mode in modes:
        pooled = {
            app: [ms for r in rows if r.mode == mode and r.app == app for ms in r.latencies_ms]
            for app in apps
        }
        bare_p99 = p99(pooled[BARE])
        for app, ms in pooled.items():
            print(f"{mode:<7} {app:<34} {statistics.median(ms):8.1f} {p99(ms):8.1f} "
                  f"{percentile(ms, 0.999):8.1f} {p99(ms) / bare_p99:16.2f}"
                  + (f" {p99(ms) / p99(pooled[BARE_ASYNC]):15.2f}" if versus_async else ""))


if __name__ == "__main__":
    main()
