"""Slack's stored requests handled in a child process, so that acks never wait for it.

Why a process and not threads: the ack (Bolt's signature check, the inbox insert) and
the handling (the ORM's work, about 10 ms of CPU an event) shared one interpreter lock,
and on a busy machine one run queue, so a burst of requests was acked behind the
handling of the ones before it (bench/slack_ack.py: p99 1.5 to 1.9 times a bare Bolt
app's). The acking process now stores, acks and passes the stored request on; the
child (`python -m adapters.handling_process`) handles it with the same `SlackHandlers`,
at a lower CPU priority (nice +10), so that on a busy machine the acks go first.

The two talk in lines. Parent to child, on the child's stdin: first a hello (the
inbox claimant both act as, the bot's user id), then for each stored request its
fields as JSON, a tab and its payload as stored (`item_line`), and `{"renamed": …}` for
a changed display name. Child to parent, on its stdout: `{"finished": [[id, done], …]}`
for the items whose handling ended since the last line, done (the parent may have to
delete them from the inbox) or left for a later attempt, and `{"handled": […]}` with
the figures the core counted meanwhile (the metrics are served by the parent).

Nothing rides only on the pipe: every item is in the inbox before it is passed on. The
parent keeps the items it passed on until the child says they finished; if the child
dies, the parent starts another and passes them on again (what the dead child claimed
from the inbox by itself is taken up again after INCIDENT_BOT_INBOX_RETRY_AFTER). If
the parent dies, the child reads the end of its stdin, finishes the event in hand and
exits; the next process takes up the rest from the inbox.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import IO, Any

from bot.ports import Inbox, InboxItem
from bot.telemetry import Telemetry

log = logging.getLogger(__name__)

CHILD_COMMAND: tuple[str, ...] = (sys.executable, "-m", "adapters.handling_process", "slack")
# A child that dies is started again after this pause, doubled each time it dies young.
FIRST_PAUSE = 0.5
LONGEST_PAUSE = 30.0
# A child that lived this long is not dying young: the pause starts over.
SETTLED_AFTER = 60.0
# How long a stopping child may take to finish the event in hand.
STOP_WAIT = 30.0


def item_line(item: InboxItem) -> bytes:
    """An item for the pipe: its fields as JSON, a tab, then its payload as stored. The
    payload is JSON already (ASCII, one line): written as it is, it is not escaped again
    by the acking process (with `finished` sent in one line per batch, about 5% less of
    its CPU per request in bench/slack_ack.py)."""
    fields = {
        "id": item.id,
        "platform": item.platform,
        "key": item.key,
        "received_at": item.received_at.isoformat(),
        "attempts": item.attempts,
    }
    return b"".join((json.dumps({"item": fields}, separators=(",", ":")).encode(), b"\t",
                     item.payload.encode(), b"\n"))


def item_from_line(line: bytes) -> InboxItem:
    """The item of an `item_line`."""
    head, _, payload = line.partition(b"\t")
    fields = json.loads(head)["item"]
    return InboxItem(
        id=int(fields["id"]),
        platform=str(fields["platform"]),
        key=str(fields["key"]),
        payload=payload.rstrip(b"\n").decode(),
        received_at=datetime.fromisoformat(fields["received_at"]),
        attempts=int(fields["attempts"]),
    )


def line_of(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class ToParent:
    """The child's end of its stdout: JSON lines, written by a thread of their own in
    batches, so that the parent reads several at a time instead of waking for each."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._waiting: list[bytes] = []
        self._done: set[int] = set()
        self._handled: list[list[Any]] = []
        self._finished: list[list[Any]] = []  # [item id, done] since the last write
        self._changed = threading.Condition()
        self._closing = False
        self._writer = threading.Thread(target=self._write, name="to-parent", daemon=True)
        self._writer.start()

    def send(self, message: Mapping[str, Any]) -> None:
        data = line_of(message)
        with self._changed:
            self._waiting.append(data)
            self._changed.notify()

    def done(self, item_id: int) -> None:
        """The item was handled: said with its `finished`, which follows (one line)."""
        with self._changed:
            self._done.add(item_id)

    def finished(self, item_id: int) -> None:
        with self._changed:
            done = item_id in self._done
            self._done.discard(item_id)
            self._finished.append([item_id, done])
            self._changed.notify()

    def handled(self, figures: list[Any]) -> None:
        """The core's count of one event: sent with the next lines, in one."""
        with self._changed:
            self._handled.append(figures)

    def close(self) -> None:
        """Writes what is waiting, then stops."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._writer.join(timeout=10)

    def _write(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._finished and not self._closing:
                    self._changed.wait()
                batch, self._waiting = self._waiting, []
                if self._handled:
                    batch.insert(0, line_of({"handled": self._handled}))
                    self._handled = []
                if self._finished:
                    # One line for all of them: a line each cost the parent a parse each.
                    batch.append(line_of({"finished": self._finished}))
                    self._finished = []
                closing = self._closing
            if batch:
                try:
                    self._stream.write(b"".join(batch))
                    self._stream.flush()
                except (BrokenPipeError, OSError, ValueError):
                    return  # the parent is gone; the child stops at the end of its stdin
            if closing:
                return


class TelemetryToParent:
    """The core's telemetry in the child: what it counts there (events handled) is said
    to the parent, which serves /metrics. Reminders, acks and Matrix syncs happen in the
    parent, never here."""

    def __init__(self, parent: ToParent) -> None:
        self._parent = parent

    def event_handled(self, *, platform: str, kind: str, seconds: float) -> None:
        self._parent.handled([platform, kind, seconds])

    def reminder_sent(self, *, platform: str, delivered: bool) -> None:
        pass

    def slack_acked(self, *, seconds: float) -> None:
        pass

    def matrix_synced(self, *, lag_seconds: float) -> None:
        pass


class HandlingProcess:
    """The parent's side: starts the child, passes items on, starts another if it dies.

    `item` is called on the acking thread: it only files the item and wakes the writer,
    so an ack never waits for the pipe."""

    def __init__(
        self,
        *,
        inbox: Inbox,
        telemetry: Telemetry,
        environ: Mapping[str, str],
        command: Sequence[str] = CHILD_COMMAND,
    ) -> None:
        """`inbox`: where the parent deletes what the child handled (see `DoneInParent`)."""
        self._inbox = inbox
        self._telemetry = telemetry
        self._environ = dict(environ)
        self._command = list(command)
        self._changed = threading.Condition()
        # Passed on and not finished, in the order they arrived (a dict keeps it).
        self._outstanding: dict[int, InboxItem] = {}
        # What the writer sends next: item ids, or whole messages.
        self._unsent: deque[int | bytes] = deque()
        self._hello = b""
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._exited: str | None = None  # why the last child ended, while none runs

    # -- the parent's calls ----------------------------------------------------------------

    def start(self, *, claimant: str, bot_user: str | None) -> None:
        self._hello = line_of({"hello": {"claimant": claimant, "bot_user": bot_user}})
        process = self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, args=(process,), name="slack-handling-supervisor",
            daemon=True,
        )
        self._supervisor.start()

    def item(self, item: InboxItem) -> None:
        with self._changed:
            if item.id in self._outstanding:
                return  # the sweep found it again: the child has it
            self._outstanding[item.id] = item
            self._unsent.append(item.id)
            self._changed.notify()

    def renamed(self, workspace: str, user: str, name: str) -> None:
        with self._changed:
            self._unsent.append(line_of({"renamed": [workspace, user, name]}))
            self._changed.notify()

    def problem(self) -> str | None:
        """Why nothing is being handled now (for /readyz), or None."""
        process = self._process
        if process is None or process.poll() is not None:
            return f"slack: the handling process is not running ({self._exited or 'starting'})"
        return None

    def stop(self) -> None:
        """Closes the child's stdin: it finishes the event in hand and exits. What it had
        not started stays in the inbox for the next process."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        process = self._process
        if process is not None:
            _close(process.stdin)
            try:
                process.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                log.warning("the Slack handling process did not stop in %.0f s; killed",
                            STOP_WAIT)
                process.kill()
                process.wait()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)

    # -- the child's life --------------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=self._environ,
        )
        with self._changed:
            # Everything it must handle: what the last child left unfinished first, in
            # the order it arrived, then whatever arrives. A rename the last child never
            # read is dropped: the name is stored again with the person's next event.
            self._unsent = deque([self._hello, *self._outstanding])
            self._process = process
            self._exited = None
        threading.Thread(
            target=self._write, args=(process,), name="slack-handling-writer", daemon=True
        ).start()
        threading.Thread(
            target=self._read, args=(process,), name="slack-handling-reader", daemon=True
        ).start()
        log.info("Slack events are handled by process %d", process.pid)
        return process

    def _supervise(self, process: subprocess.Popen[bytes]) -> None:
        pause = FIRST_PAUSE
        while True:
            born = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            with self._changed:
                self._exited = f"it exited with {code}"
                waiting = len(self._outstanding)
                self._changed.notify_all()  # its writer stops
            if time.monotonic() - born >= SETTLED_AFTER:
                pause = FIRST_PAUSE
            log.warning(
                "the Slack handling process %d exited with %s; starting another in %.1f s "
                "(%d acknowledged request(s) wait for it, stored in the inbox)",
                process.pid, code, pause, waiting,
            )
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, LONGEST_PAUSE)
            try:
                process = self._spawn()
            except OSError:
                log.exception("cannot start the Slack handling process; trying again")
                continue

    def _write(self, process: subprocess.Popen[bytes]) -> None:
        stream = process.stdin
        assert stream is not None
        while True:
            with self._changed:
                while not self._unsent and not self._stopping.is_set() and self._current(process):
                    self._changed.wait()
                if self._stopping.is_set() or not self._current(process):
                    return
                batch: list[bytes] = []
                while self._unsent and len(batch) < 100:
                    entry = self._unsent.popleft()
                    if isinstance(entry, bytes):
                        batch.append(entry)
                    elif entry in self._outstanding:
                        batch.append(item_line(self._outstanding[entry]))
            try:
                stream.write(b"".join(batch))
                stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                return  # it died: the supervisor starts another and passes these on again

    def _current(self, process: subprocess.Popen[bytes]) -> bool:
        return self._process is process and process.poll() is None

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        stream = process.stdout
        assert stream is not None
        for raw in stream:
            try:
                message = json.loads(raw)
            except ValueError:
                log.warning("the Slack handling process said something unreadable: %r",
                            raw[:200])
                continue
            self._heard(message)

    def _heard(self, message: Mapping[str, Any]) -> None:
        if "finished" in message:
            finished = message["finished"]
            with self._changed:
                for item_id, _ in finished:
                    self._outstanding.pop(int(item_id), None)
            for item_id, done in finished:
                if not done:
                    continue
                try:
                    self._inbox.done(int(item_id))
                except Exception:
                    # Left in the inbox: handled again later, which the core makes a no-op.
                    log.exception("could not delete a handled request from the inbox")
        elif "handled" in message:
            for platform, kind, seconds in message["handled"]:
                self._telemetry.event_handled(platform=platform, kind=kind, seconds=seconds)


def _close(stream: IO[bytes] | None) -> None:
    if stream is None:
        return
    with contextlib.suppress(OSError):
        stream.close()
