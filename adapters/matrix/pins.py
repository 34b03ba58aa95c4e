"""Which 📌 reaction tagged which message, kept beside the encryption store.

A redaction only names the event it removes, and a redacted reaction has lost the
message it pointed at; this map lets the bot tell "a 📌 was taken off message X by
Y" from "a message was deleted", across restarts.

It also keeps the event id of each ✅ the bot put on a message: taking it off again is
a redaction of that event, and Matrix has no "remove my reaction with this key".
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
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS confirmations (room_id TEXT NOT NULL, message_id "
                "TEXT NOT NULL, key TEXT NOT NULL, event_id TEXT NOT NULL, "
                "PRIMARY KEY (room_id, message_id, key))"
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

    def remember_confirmation(self, room_id: str, message_id: str, key: str, event_id: str) -> None:
        """The bot's own reaction `key` on a message is the event `event_id`."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO confirmations VALUES (?, ?, ?, ?)",
                (room_id, message_id, key, event_id),
            )

    def confirmation(self, room_id: str, message_id: str, key: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT event_id FROM confirmations WHERE room_id = ? AND message_id = ? "
                "AND key = ?",
                (room_id, message_id, key),
            ).fetchone()
        return str(row[0]) if row else None

    def forget_confirmation(self, room_id: str, message_id: str, key: str) -> None:
        with self._lock, self._db:
            self._db.execute(
                "DELETE FROM confirmations WHERE room_id = ? AND message_id = ? AND key = ?",
                (room_id, message_id, key),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
