"""Handling gives way to acks in flight: an event queued while Slack waits for an ack
starts once the ack is out, or after at most a short wait; never lost, never reordered."""

from __future__ import annotations

import threading
import time

from adapters.slack.workers import AckFirst, Lanes


def test_a_lane_waits_for_the_ack_in_flight_then_runs_in_order() -> None:
    ack_first = AckFirst()
    lanes = Lanes(lanes=1, ack_first=ack_first)
    ran: list[tuple[int, float]] = []
    try:
        ack_first.started()
        queued = time.monotonic()
        for n in range(3):
            lanes.submit("C1", lambda n=n: ran.append((n, time.monotonic())))  # type: ignore[misc]
        time.sleep(0.03)
        assert ran == []  # the ack is still out
        ack_first.finished()
        deadline = time.monotonic() + 5
        while len(ran) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert [n for n, _ in ran] == [0, 1, 2]
        assert ran[0][1] - queued >= 0.03
    finally:
        lanes.shutdown()


def test_a_lane_waits_at_most_a_tenth_of_a_second_per_event_under_endless_acks() -> None:
    ack_first = AckFirst()
    lanes = Lanes(lanes=1, ack_first=ack_first)
    done = threading.Event()
    try:
        with ack_first.acking():  # acks never stop arriving
            started = time.monotonic()
            lanes.submit("C1", done.set)
            assert done.wait(timeout=5)
            waited = time.monotonic() - started
        assert 0.08 <= waited < 1.0, waited
    finally:
        lanes.shutdown()
