"""This replica's claim to sync the bot's Matrix account (bot.ports.Leadership).

Two replicas sharing one Matrix account must not both sync: each would run every
command. One holds the lease and syncs; the other waits as a standby and takes the
lease over once it runs out (the holder died or lost its database). Both share one
store directory (one device, one set of encryption keys), which only the holder opens,
so the to-device key messages queued for that device reach whichever replica syncs.

The holder trusts its lease only until `seconds` after it last asked for it, counted
on its own monotonic clock from before the request, so it stops before the database
would let another take over; and the sync token is saved only with the lease checked
in the same transaction.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid

from bot.ports import Leadership, LeaseLost

# Given up at once on the lease's end, not at its very last moment: the database's clock
# and this one may tick at slightly different rates.
SAFETY = 1.0


class SyncLease:
    def __init__(self, leadership: Leadership, *, user_id: str, seconds: float) -> None:
        self._leadership = leadership
        self.name = f"matrix-sync:{user_id}"
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.seconds = seconds
        self._valid_until = 0.0  # time.monotonic() when this replica stops trusting it

    @property
    def renew_every(self) -> float:
        """How often the holder renews, and a standby tries: three tries per lease."""
        return self.seconds / 3

    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def remaining(self) -> float:
        """Seconds until this replica stops trusting its lease (0 when it holds none)."""
        return max(0.0, self._valid_until - time.monotonic())

    def drop(self) -> None:
        self._valid_until = 0.0

    async def take(self) -> bool:
        """Takes or renews the lease; False when another replica holds it. Raises what
        the database raised (StorageUnavailable when it is away)."""
        asked = time.monotonic()
        loop = asyncio.get_running_loop()
        taken = await loop.run_in_executor(
            None,
            lambda: self._leadership.take(self.name, holder=self.holder, seconds=self.seconds),
        )
        if taken:
            self._valid_until = asked + self.seconds - SAFETY
        else:
            self.drop()
        return bool(taken)

    async def position(self) -> str | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._leadership.position, self.name)

    async def save_position(self, position: str) -> None:
        """Saves the sync token while the lease is held; raises LeaseLost otherwise."""
        if not self.held():
            raise LeaseLost(f"the lease {self.name} ran out before it was renewed")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                None,
                lambda: self._leadership.save_position(
                    self.name, holder=self.holder, position=position
                ),
            )
        except LeaseLost:
            self.drop()
            raise

    async def give_up(self) -> None:
        """A clean stop: the standby need not wait for the lease to run out."""
        self.drop()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            None, lambda: self._leadership.give_up(self.name, holder=self.holder)
        )
