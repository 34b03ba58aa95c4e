"""Alerts on Matrix: `incident-bot run` on a real Synapse takes Alertmanager's
notification, opens the incident's room, announces it in the route's room and posts the
alerts' summary in the new one."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alert_notifications import firing, post_to_alertmanager_hook
from matrix_people import BotProcess
from synapse_server import Account, Synapse

TOKEN = "matrix-alerts-token-55"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def client_api(
    synapse: Synapse, token: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    request = urllib.request.Request(
        f"{synapse.url}/_matrix/client/v3{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def bodies(synapse: Synapse, token: str, room: str) -> list[str]:
    quoted = urllib.parse.quote(room)
    found = client_api(synapse, token, f"/rooms/{quoted}/messages?dir=b&limit=50")
    return [
        event["content"].get("body", "")
        for event in found["chunk"]
        if event["type"] == "m.room.message"
    ]


def room_named(synapse: Synapse, token: str, name: str) -> str | None:
    """The bot's room whose name starts so."""
    for room in client_api(synapse, token, "/joined_rooms")["joined_rooms"]:
        quoted = urllib.parse.quote(room)
        try:
            state = client_api(synapse, token, f"/rooms/{quoted}/state/m.room.name")
        except urllib.error.HTTPError:
            continue
        if str(state.get("name", "")).startswith(name):
            return str(room)
    return None


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
    return found


def test_an_alert_opens_a_matrix_room_and_posts_the_summary(
    synapse: Synapse,
    new_account: Callable[[str], Account],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    bot_account = new_account("incident-bot")
    token = bot_account.access_token
    announce = client_api(synapse, token, "/createRoom", {"name": "alerts"})["room_id"]
    (tmp_path / "settings.toml").write_text(
        "[[alerts.routes]]\n"
        "match = ['severity=\"critical\"']\n"
        f'platform = "matrix"\nworkspace = "{synapse.server_name}"\nannounce = "{announce}"\n'
    )
    http_port = free_port()
    bot = BotProcess(
        env={
            **bot_env,
            "MATRIX_USER_ID": bot_account.user_id,
            "MATRIX_ACCESS_TOKEN": token,
            "INCIDENT_BOT_MATRIX_ENCRYPT_ROOMS": "false",
            "INCIDENT_BOT_HTTP_PORT": str(http_port),
            "INCIDENT_BOT_CONFIG": str(tmp_path / "settings.toml"),
            "INCIDENT_BOT_ALERTMANAGER_TOKEN": TOKEN,
        },
        workdir=tmp_path,
    )
    bot.start()
    try:
        wait_for("the bot's HTTP server", lambda: port_open(http_port))
        alert = firing("ReplicationLag", "Replica is 10 minutes behind", "4a6e000000000001")
        assert post_to_alertmanager_hook(http_port, alert, TOKEN) == 200
        room = wait_for(
            "the incident's room",
            lambda: room_named(synapse, token, "inc-1-replicationlag-replica-is-10"),
        )
        summary = wait_for(
            "the summary in the incident's room",
            lambda: [b for b in bodies(synapse, token, room) if "Alerts for incident 1" in b],
        )
        assert "1 firing since the last summary: ReplicationLag." in summary[0]
        announced = wait_for(
            "the announcement",
            lambda: [b for b in bodies(synapse, token, announce) if "declared" in b],
        )
        assert "Incident 1 declared by alertmanager alerts" in announced[0]
    finally:
        code = bot.stop()
    output = bot.output()
    assert code == 0, output
    assert TOKEN not in output and token not in output
    assert "Traceback" not in output, output
