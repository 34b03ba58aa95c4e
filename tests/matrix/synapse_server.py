"""A real Synapse homeserver for the tests: started from its own virtual environment
(`.venv-synapse`, made by the Makefile) on 127.0.0.1, on a free port, in a temp dir.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Made absolute, not resolved: a venv's python is a symlink that must stay one.
SYNAPSE_PYTHON = Path(
    os.path.abspath(
        os.environ.get("INCIDENT_BOT_SYNAPSE_PYTHON", REPO / ".venv-synapse" / "bin" / "python")
    )
)
SERVER_NAME = "localhost"
START_DEADLINE = 60.0
_HIGH = {"per_second": 10_000, "burst_count": 10_000}


@dataclass(frozen=True)
class Synapse:
    url: str
    shared_secret: str
    server_name: str
    log: Path


@dataclass(frozen=True)
class Account:
    user_id: str
    password: str
    access_token: str
    device_id: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(directory: Path, port: int, shared_secret: str) -> Path:
    seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    (directory / "signing.key").write_text(f"ed25519 a_test {seed}\n")
    config = {
        "server_name": SERVER_NAME,
        "pid_file": str(directory / "homeserver.pid"),
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client", "media"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "media_store_path": str(directory / "media"),
        "signing_key_path": str(directory / "signing.key"),
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": secrets.token_hex(16),
        "form_secret": secrets.token_hex(16),
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "presence": {"enabled": False},
        "bcrypt_rounds": 4,
        "enable_registration": False,
        "rc_message": _HIGH,
        "rc_registration": _HIGH,
        "rc_login": {"address": _HIGH, "account": _HIGH, "failed_attempts": _HIGH},
        "rc_joins": {"local": _HIGH, "remote": _HIGH},
        "rc_joins_per_room": _HIGH,
        "rc_invites": {"per_room": _HIGH, "per_user": _HIGH, "per_issuer": _HIGH},
        "rc_room_creation": _HIGH,
        "rc_key_requests": _HIGH,
        "rc_admin_redaction": _HIGH,
    }
    path = directory / "homeserver.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def start(directory: Path) -> tuple[Synapse, subprocess.Popen[bytes]]:
    """Starts Synapse and waits (with a deadline) until it answers; fails with its log tail."""
    if not SYNAPSE_PYTHON.exists():
        raise RuntimeError(
            f"Synapse's python is missing ({SYNAPSE_PYTHON}). Run `make synapse` "
            "(or `make test`), or point INCIDENT_BOT_SYNAPSE_PYTHON at a python with "
            "matrix-synapse installed."
        )
    port = free_port()
    shared_secret = secrets.token_hex(16)
    config = write_config(directory, port, shared_secret)
    log_path = directory / "synapse.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "-c", str(config)],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"Synapse exited with {process.returncode} while starting:\n{tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/_matrix/client/versions", timeout=2) as answer:
                if answer.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(
                f"Synapse did not answer within {START_DEADLINE:.0f} s:\n{tail(log_path)}"
            )
        time.sleep(0.05)
    return Synapse(url, shared_secret, SERVER_NAME, log_path), process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def register(server: Synapse, localpart: str, password: str, *, admin: bool = False) -> Account:
    """The shared-secret admin registration API: a nonce, then an HMAC-signed request."""
    endpoint = f"{server.url}/_synapse/admin/v1/register"
    with urllib.request.urlopen(endpoint, timeout=10) as answer:
        nonce = json.load(answer)["nonce"]
    mac = hmac.new(server.shared_secret.encode(), digestmod=hashlib.sha1)
    role = b"admin" if admin else b"notadmin"
    mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), role]))
    body = {
        "nonce": nonce,
        "username": localpart,
        "password": password,
        "admin": admin,
        "mac": mac.hexdigest(),
    }
    request = urllib.request.Request(
        endpoint,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        registered = json.load(answer)
    return Account(
        user_id=registered["user_id"],
        password=password,
        access_token=registered["access_token"],
        device_id=registered["device_id"],
    )


def limit_messages(server: Synapse, admin: Account, user_id: str, per_second: float) -> None:
    """Synapse's per-user rate limit override (admin API): makes 429s easy to provoke."""
    request = urllib.request.Request(
        f"{server.url}/_synapse/admin/v1/users/{urllib.parse.quote(user_id)}/override_ratelimit",
        data=json.dumps({"messages_per_second": per_second, "burst_count": 1}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {admin.access_token}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
