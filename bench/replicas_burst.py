"""A burst of Slack requests at a fixed rate across two `incident-bot run` replicas in
HTTP mode on one PostgreSQL: is every request acked, every event applied once, and
nobody told "something went wrong"?

    .venv/bin/python bench/replicas_burst.py [--rate 600] [--seconds 3] [--retries 0.1]
        [--senders 3]

One run:
- a scratch PostgreSQL database (reached like the tests do: INCIDENT_BOT_TEST_POSTGRES,
  default host=127.0.0.1 port=5432 user=postgres), the fake Slack of tests/slack/, and
  two replicas, each on a port of its own;
- one incident is started, and people's messages are posted for the 📌 to tag;
- `rate × seconds` requests are sent open-loop, each at its own scheduled instant
  (not "as fast as the last answer allows"): in turn a `/incident note` command and a
  📌 `reaction_added` event, alternately to each replica, as a round-robin front would.
  A share of the events (`--retries`) is sent again to the other replica as Slack's
  retry (`X-Slack-Retry-Num: 1`). The requests are shared out among `--senders`
  processes of their own (request n to sender n mod K); each signs its share before
  the burst and sends it from one asyncio loop (`send_share`);
- then it waits until both replicas have handled everything stored in their inbox.

It prints the rate the sender achieved, ack latency (median, p99, max), how long the
handling took to drain after the burst, and the counts that must be zero: requests
not acked with 200, notes or 📌 missing or applied twice, people told "went wrong".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "slack"))
sys.path.insert(0, str(REPO / "bench"))

from fake_slack import BOT_TOKEN, BOT_USER, FakeSlack  # noqa: E402
from ingest import postgres_url  # noqa: E402
from slack_ack import cpu_of  # noqa: E402
from slack_bot import (  # noqa: E402
    SIGNING_SECRET,
    BotProcess,
    SlackSender,
    command_body,
    event_callback,
    free_port,
    port_open,
    reaction,
)
from sqlalchemy import func, select  # noqa: E402

from adapters.slack.settings import EVENTS_PATH  # noqa: E402
from storage.database import make_engine  # noqa: E402
from storage.orm import inbox, incidents, timeline_entries  # noqa: E402


@dataclass(frozen=True)
class Result:
    requests: int
    achieved_per_s: float
    late_p99_ms: float  # how far behind its scheduled instant a request was sent
    ack_median_ms: float
    ack_p99_ms: float
    ack_max_ms: float
    drain_s: float  # from the last ack until every stored request was handled
    not_acked: int
    notes_missing: int
    notes_twice: int
    pins_missing: int
    pins_twice: int
    told_went_wrong: int
    # CPU per request over the burst and the drain: the replicas' acking processes, and
    # their handling processes (children), summed over both replicas.
    ack_cpu_ms: float = 0.0
    handling_cpu_ms: float = 0.0

    @property
    def failures(self) -> int:
        return (self.not_acked + self.notes_missing + self.notes_twice + self.pins_missing
                + self.pins_twice + self.told_went_wrong)


@dataclass(frozen=True)
class Sent:
    at: float  # when it was sent (wall clock)
    late: float
    seconds: float
    status: int


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def burst(rate: int, seconds: float, retries: float, database_url: str,
          senders_count: int = 3) -> Result:
    fake = FakeSlack().start()
    fake.add_user("UADA", name="ada", display_name="Ada Lovelace")
    fake.add_user("UBOB", name="bob", display_name="Bob Ross")
    workdir = Path(tempfile.mkdtemp(prefix="replicas-burst-"))
    ports = [free_port(), free_port()]
    replicas: list[BotProcess] = []
    try:
        for n, port in enumerate(ports):
            (workdir / f"replica-{n}").mkdir()
            replicas.append(BotProcess(workdir=workdir / f"replica-{n}", env={
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "INCIDENT_BOT_SLACK_PORT": str(port),
                "INCIDENT_BOT_SLACK_HOST": "127.0.0.1",
                "INCIDENT_BOT_HTTP_PORT": "off",
                "INCIDENT_BOT_SLACK_API_URL": fake.api_url,
                "INCIDENT_BOT_DATABASE_URL": database_url,
                "INCIDENT_BOT_INBOX_RETRY_AFTER": "5s",
            }))
        for replica, port in zip(replicas, ports, strict=True):
            replica.wait_until(lambda port=port: port_open(port), timeout=60)  # type: ignore[misc]
        senders = [SlackSender(port=port) for port in ports]
        pids = [replica.process.pid for replica in replicas]
        before = [cpu_of(pid) for pid in pids]
        result = _measure(fake, senders, rate, seconds, retries, database_url, senders_count)
        after = [cpu_of(pid) for pid in pids]
        own = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
        children = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
        return replace(result, ack_cpu_ms=own * 1000 / result.requests,
                       handling_cpu_ms=children * 1000 / result.requests)
    finally:
        for replica in replicas:
            replica.stop()
        fake.stop()


def _measure(fake: FakeSlack, senders: list[SlackSender], rate: int, seconds: float,
             retries: float, database_url: str, senders_count: int) -> Result:
    ws = f"T{uuid.uuid4().hex[:8].upper()}"
    general = fake.add_channel(f"general-{uuid.uuid4().hex[:6]}", members={BOT_USER, "UADA"})
    title = f"Burst {uuid.uuid4().hex[:6]}"
    assert senders[0].command(team=ws, channel=general, user="UADA", text=f"start {title}",
                              response_url=fake.response_url()).status == 200
    channel = fake.wait_for(
        lambda: next((c.id for c in fake.channels.values() if c.topic.endswith(title)), None),
        timeout=60,
    )
    # Saved as the incident's channel once the summary is posted there (see slack_ack.py).
    fake.wait_for(lambda: fake.bot_messages(channel), timeout=60)
    count = int(rate * seconds)
    notes = [f"burst note {n} {uuid.uuid4().hex[:6]}" for n in range(count - count // 2)]
    pinned = [fake.post_user_message(channel, user="UBOB", text=f"line {n}")
              for n in range(count // 2)]
    plan = {
        "ports": [sender.port for sender in senders],
        "ws": ws, "channel": channel, "notes": notes, "pinned": pinned,
        "response_url": fake.response_url(),
        "every_retry": round(1 / retries) if retries > 0 else 0,
        "rate": rate, "count": count,
        # Wall clock, shared by the sender processes: each request's instant is
        # start_at + n / rate, whichever process sends it.
        "start_at": time.time() + 5,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--sender", str(k), str(senders_count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for k in range(senders_count)
    ]
    # Every sender gets the plan before any is waited for: each sends its share at the
    # planned instants, side by side.
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(json.dumps(plan))
        process.stdin.close()
    sent: list[Sent] = []
    for process in processes:
        assert process.stdout is not None
        out = process.stdout.read()
        process.wait()
        if process.returncode != 0:
            raise RuntimeError(f"a sender process failed with {process.returncode}")
        sent += [Sent(*row) for row in json.loads(out)]
    burst_end = time.perf_counter()
    first, last = min(s.at for s in sent), max(s.at for s in sent)
    span = max(last - first, 1 / rate)  # from the first request sent to the last

    noted, tagged = _wait_until_handled(database_url, ws, notes, pinned)
    drain = time.perf_counter() - burst_end
    told = [body for _, body in fake.responses] + [
        str(call.params.get("text")) for call in fake.calls_to("chat.postEphemeral")
    ]
    acks = [s.seconds * 1000 for s in sent]
    return Result(
        requests=len(sent),
        achieved_per_s=len(sent) / span,
        late_p99_ms=percentile([s.late * 1000 for s in sent], 0.99),
        ack_median_ms=statistics.median(acks),
        ack_p99_ms=percentile(acks, 0.99),
        ack_max_ms=max(acks),
        drain_s=drain,
        not_acked=sum(s.status != 200 for s in sent),
        notes_missing=sum(noted[t] == 0 for t in notes),
        notes_twice=sum(noted[t] > 1 for t in notes),
        pins_missing=sum(tagged[ts] == 0 for ts in pinned),
        pins_twice=sum(tagged[ts] > 1 for ts in pinned),
        told_went_wrong=sum("went wrong" in text for text in told),
    )


def _wait_until_handled(database_url: str, ws: str, notes: list[str], pinned: list[str],
                        timeout: float = 600) -> tuple[Counter[str], Counter[str]]:
    """The notes and 📌 applied, once every request stored in an inbox was handled."""
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(timeline_entries.c.kind, timeline_entries.c.text,
                           timeline_entries.c.source_ref)
                    .join(incidents, incidents.c.id == timeline_entries.c.incident_id)
                    .where(incidents.c.workspace == ws)
                ).all()
                waiting = connection.scalar(select(func.count()).select_from(inbox))
            noted = Counter(row.text for row in rows if row.kind == "note")
            tagged = Counter(row.source_ref for row in rows if row.kind == "tagged")
            done = all(noted[t] for t in notes) and all(tagged[ts] for ts in pinned)
            if (done and not waiting) or time.monotonic() > deadline:
                return noted, tagged
            time.sleep(0.25)
    finally:
        engine.dispose()


def send_share(k: int, of: int) -> None:
    """The `--sender K N` process: sends requests K, K+N, K+2N … of the plan on stdin at
    their instants, and prints what each got as JSON.

    Every request is built and signed before the burst (Slack's signatures stay valid
    for five minutes), and sent from one asyncio loop over connections kept open, as a
    front keeps them to its backends. A thread per request in flight, building and
    signing as it went, reached about 465 requests/s here with three such processes
    beside the replicas: the senders, not the bot, set the rate."""
    plan = json.load(sys.stdin)
    ws, channel = plan["ws"], plan["channel"]
    notes, pinned, every_retry = plan["notes"], plan["pinned"], plan["every_retry"]
    signer = SlackSender(port=0)

    def wire(port: int, body: str, headers: dict[str, str]) -> bytes:
        lines = [f"POST {EVENTS_PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 f"Content-Length: {len(body.encode())}",
                 *(f"{key}: {value}" for key, value in headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    # Request n: to port n % 2, and for some 📌 Slack's retry to the other one after it.
    requests: list[tuple[int, list[tuple[int, bytes]]]] = []
    for n in range(k, plan["count"], of):
        port, other = plan["ports"][n % 2], plan["ports"][(n + 1) % 2]
        if n % 2:
            body = command_body(team=ws, channel=channel, user="UADA",
                                text=f"note {notes[n // 2]}",
                                response_url=plan["response_url"])
            signed = signer.signed(body, content_type="application/x-www-form-urlencoded")
            requests.append((n, [(port, wire(port, body, signed))]))
            continue
        event = json.dumps(event_callback(ws, reaction(
            "reaction_added", user="UADA", channel=channel, ts=pinned[n // 2], author="UBOB")))
        sends = [(port, wire(port, event, signer.signed(event, content_type="application/json")))]
        if every_retry and (n // 2) % every_retry == 0:
            retry = signer.signed(event, content_type="application/json", headers={
                "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
            sends.append((other, wire(other, event, retry)))
        requests.append((n, sends))
    sent = asyncio.run(_send_all(requests, rate=plan["rate"], start_at=plan["start_at"]))
    print(json.dumps(sent))


async def _send_all(requests: list[tuple[int, list[tuple[int, bytes]]]], *, rate: int,
                    start_at: float) -> list[tuple[float, float, float, int]]:
    idle: dict[int, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
    sent: list[tuple[float, float, float, int]] = []

    async def exchange(port: int, request: bytes) -> tuple[float, int]:
        pool = idle.setdefault(port, [])
        while pool:
            reader, writer = pool.pop()
            try:
                return await over(reader, writer, pool, request)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed it while it was idle (uvicorn's keep-alive timeout),
                # before reading the request: sent again on another.
                writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return await over(reader, writer, pool, request)

    async def over(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
                   request: bytes) -> tuple[float, int]:
        began = time.perf_counter()
        writer.write(request)
        status_line = await reader.readuntil(b"\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        seconds = time.perf_counter() - began
        pool.append((reader, writer))
        return seconds, int(status_line.split()[1])

    async def send(n: int, sends: list[tuple[int, bytes]]) -> None:
        at = start_at + n / rate
        await asyncio.sleep(max(0.0, at - time.time()))
        began = time.time()
        for port, request in sends:
            seconds, status = await exchange(port, request)
            sent.append((began, began - at, seconds, status))

    await asyncio.gather(*(send(n, sends) for n, sends in requests))
    for pool in idle.values():
        for _, writer in pool:
            writer.close()
    return sent


def report(rate: int, seconds: float, result: Result) -> str:
    r = result
    return "\n".join([
        f"target {rate} requests/s for {seconds:g} s, two replicas, one PostgreSQL",
        "| requests | achieved/s | sent late p99 | ack median | ack p99 | ack max | drain |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r.requests:,} | {r.achieved_per_s:,.0f} | {r.late_p99_ms:.0f} ms | "
        f"{r.ack_median_ms:.1f} ms | {r.ack_p99_ms:.1f} ms | {r.ack_max_ms:.1f} ms | "
        f"{r.drain_s:.1f} s |",
        f"not acked {r.not_acked}; notes missing {r.notes_missing}, twice {r.notes_twice}; "
        f"📌 missing {r.pins_missing}, twice {r.pins_twice}; told 'went wrong' "
        f"{r.told_went_wrong}",
        f"CPU per request: acking processes {r.ack_cpu_ms:.2f} ms, handling processes "
        f"{r.handling_cpu_ms:.2f} ms (both replicas, burst and drain)",
    ])


def main(argv: Sequence[str] | None = None) -> Result | None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=int, default=600, help="requests per second")
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--retries", type=float, default=0.1,
                        help="share of events Slack sends again to the other replica")
    parser.add_argument("--senders", type=int, default=3,
                        help="processes sending the requests between them")
    parser.add_argument("--sender", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sender:
        send_share(*args.sender)
        return None
    with postgres_url() as url:
        result = burst(args.rate, args.seconds, args.retries, url, args.senders)
    print(report(args.rate, args.seconds, result))
    return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(1 if outcome is not None and outcome.failures else 0)
