"""An open incident's pages follow it through one shared, cheap poll: however many pages
are open, the database is asked once per interval, with one query that loads no entry;
each page hears of a change; when the last page closes, the polling stops."""

from __future__ import annotations

import http.client
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from test_web_reads import T0, seeded, sql_sent
from web_face import start_face

from storage.uow import unit_of_work_factory


class EventStream:
    """One page's server-sent-events stream, read line by line on a thread."""

    def __init__(self, base: str, path: str) -> None:
        parts = urlsplit(base)
        self.lines: list[str] = []
        self._connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        self._connection.request("GET", path)
        self._answer = self._connection.getresponse()
        assert self._answer.status == 200
        assert self._answer.getheader("content-type", "").startswith("text/event-stream")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while line := self._answer.readline():
                self.lines.append(line.decode("utf-8").rstrip("\n"))
        except (OSError, ValueError, AttributeError):
            pass  # closed by the test

    def wait_for(self, line: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.lines:
            assert time.monotonic() < deadline, f"no {line!r} in {self.lines}"
            time.sleep(0.05)

    def close(self) -> None:
        self._connection.close()


def polls(sent: list[str]) -> list[str]:
    return [sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]


def test_pages_of_one_incident_share_one_cheap_poll(tmp_path: Path) -> None:
    url = seeded(tmp_path)
    face = start_face(url)
    streams: list[EventStream] = []
    try:
        base = str(face.url)
        streams = [EventStream(base, "/incidents/w/2/live") for _ in range(3)]
        for stream in streams:
            stream.wait_for("retry: 2000")
        with sql_sent() as sent:
            time.sleep(7)  # three or four polls of 2 s
        asked = polls(sent)
        # One poll per interval for the three pages (each alone: 9 to 12 queries).
        assert 2 <= len(asked) <= 4, asked
        assert all("timeline_entries.text" not in sql for sql in asked)
        assert all(sql == asked[0] for sql in asked)  # the change marker, nothing else

        factory = unit_of_work_factory(url)
        with factory() as uow:
            incident = uow.incidents.get_by_channel("console", "inc-2")
            assert incident is not None
            moment = T0 + timedelta(days=3)
            incident.add_note("Queue drained", author="bo", at=moment, now=moment, source_ref=None)
            uow.commit()
        factory.dispose()
        for stream in streams:
            stream.wait_for("event: changed", timeout=10)
    finally:
        for stream in streams:
            stream.close()
    try:
        time.sleep(1)  # the server notices the pages went away
        with sql_sent() as sent:
            time.sleep(4.5)
        assert polls(sent) == []  # nobody follows the incident: nothing is polled
    finally:
        face.stop()
