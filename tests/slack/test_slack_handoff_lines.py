"""What the acking process writes down the pipe for an item is what the handling
process reads back: the payload goes as stored, whatever the text in it."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from adapters.slack.handoff import ToParent, item_from_line, item_line
from bot.ports import InboxItem


def test_an_item_line_reads_back_as_the_item() -> None:
    body = {"text": "note rollback\tdone\nat 14:02 ✅ \"quoted\" \\ back", "user_id": "U1"}
    item = InboxItem(
        id=42, platform="slack", key="command:13345.22\t1", received_at=datetime(
            2025, 3, 4, 14, 2, 7, 123456, tzinfo=UTC),
        payload=json.dumps({"kind": "command", "body": body}, separators=(",", ":")),
        attempts=2,
    )
    line = item_line(item)
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # one line on the pipe
    assert item_from_line(line) == item
    assert json.loads(item_from_line(line).payload)["body"] == body


def test_the_child_says_which_items_finished_and_which_were_done() -> None:
    class Pipe(io.BytesIO):
        def close(self) -> None:  # read after the writer closed it
            pass

    pipe = Pipe()
    parent = ToParent(pipe)
    parent.done(1)
    for item_id in (1, 2, 3):
        parent.finished(item_id)
    parent.close()
    lines = [json.loads(line) for line in pipe.getvalue().splitlines()]
    finished = [pair for line in lines for pair in line.get("finished", [])]
    assert finished == [[1, True], [2, False], [3, False]]
