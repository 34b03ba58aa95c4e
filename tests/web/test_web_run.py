"""`incident-bot run` serves the pages beside the console, and says when it cannot."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli import incident_bot

from adapters.web.settings import DEFAULT_PORT

TRANSCRIPT = "[2025-03-04 14:02] maria: /incident start Checkout returns 502\n"


@contextmanager
def occupied(port: int) -> Iterator[int]:
    """Holds the port (if nobody else already does) for the duration."""
    holder = socket.socket()
    try:
        try:
            holder.bind(("127.0.0.1", port))
            holder.listen(1)
        except OSError:
            pass  # someone else holds it: just as busy
        yield holder.getsockname()[1] if port == 0 else port
    finally:
        holder.close()


def test_a_port_the_operator_chose_that_is_taken_stops_the_bot(tmp_path: Path) -> None:
    with occupied(0) as port:
        result = incident_bot(
            "run", cwd=tmp_path, database_url=f"sqlite:///{tmp_path / 'a.db'}",
            stdin=TRANSCRIPT, env={"INCIDENT_BOT_HTTP_PORT": str(port)},
        )  # fmt: skip
    assert result.code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.err
    assert "choose another with INCIDENT_BOT_HTTP_PORT" in result.err
    assert "Traceback" not in result.err


def test_a_taken_default_port_leaves_chat_running_without_pages(tmp_path: Path) -> None:
    with occupied(DEFAULT_PORT):
        result = incident_bot(
            "run", cwd=tmp_path, database_url=f"sqlite:///{tmp_path / 'b.db'}", stdin=TRANSCRIPT
        )
    assert result.code == 0, result.err
    assert f"not served: cannot listen on 127.0.0.1:{DEFAULT_PORT}" in result.err
    assert "Incident 1 declared" in result.out or "inc-1-checkout-returns-502" in result.out


def test_a_bind_beyond_loopback_without_a_token_is_refused_at_start(tmp_path: Path) -> None:
    result = incident_bot(
        "run", cwd=tmp_path, database_url=f"sqlite:///{tmp_path / 'c.db'}",
        stdin=TRANSCRIPT, env={"INCIDENT_BOT_HTTP_HOST": "0.0.0.0"},
    )  # fmt: skip
    assert result.code == 2
    assert "set INCIDENT_BOT_WEB_TOKEN" in result.err
