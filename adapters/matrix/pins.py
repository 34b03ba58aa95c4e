"""Which 📌 reaction tagged which message, kept beside the encryption store.

A redaction only names the event it removes, and a redacted reaction has lost the
message it pointed at; this map lets the bot tell "a 📌 was taken off message X by
Y" from "a message was deleted", across restarts.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pin:
    reaction_id: str
    room_id: str
    message_id: str
    sender: str


class PinMap:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS pins (reaction_id TEXT PRIMARY KEY, room_id TEXT "
                "NOT NULL, message_id TEXT NOT NULL, sender TEXT NOT NULL)"
            )

    def remember(self, pin: Pin) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO pins VALUES (?, ?, ?, ?)",
                (pin.reaction_id, pin.room_id, pin.message_id, pin.sender),
            )

    def find(self, reaction_id: str) -> Pin | None:
        with self._lock:
            row = self._db.execute(
                "SELECT reaction_id, room_id, message_id, sender FROM pins WHERE reaction_id = ?",
                (reaction_id,),
            ).fetchone()
        return Pin(*row) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
