"""compose.yaml (PostgreSQL and two replicas) read the way the bot reads its settings.
No Docker engine runs here, so the file is parsed and checked, not started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from adapters.config import load_settings
from adapters.matrix.settings import matrix_settings
from adapters.slack.settings import slack_settings
from storage.database import normalise_url

REPO = Path(__file__).resolve().parent.parent
REPLICAS = ("bot-1", "bot-2")


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "compose.yaml").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def environment_of(service: dict[str, Any], secrets_dir: Path) -> dict[str, str]:
    """The service's environment as the container sees it: each /run/secrets/NAME file
    holds what the compose file's `secrets` section says (sample values here)."""
    samples = {
        "database-url": "postgresql://incident:change-me@postgres:5432/incident_bot",
        "slack-bot-token": "xoxb-1-sample",
        "slack-signing-secret": "sample-signing-secret",
        "matrix-password": "sample-matrix-password",
    }
    # What `docker compose` puts for ${NAME:-}: here, as if the operator had set it.
    variables = {
        "${MATRIX_HOMESERVER:-}": "https://matrix.example.org",
        "${MATRIX_USER_ID:-}": "@incident-bot:example.org",
    }
    environ = {}
    for key, value in service["environment"].items():
        text = variables.get(str(value), str(value))
        if text.startswith("/run/secrets/"):
            name = text.removeprefix("/run/secrets/")
            assert name in service["secrets"], f"{key} names a secret the service lacks"
            path = secrets_dir / name
            path.write_text(samples[name])
            text = str(path)
        environ[key] = text
    return environ


def test_two_replicas_share_one_postgresql_and_read_every_setting(tmp_path: Path) -> None:
    data = compose()
    services = data["services"]
    assert {"postgres", *REPLICAS} <= set(services)
    environments = [environment_of(services[name], tmp_path) for name in REPLICAS]
    assert environments[0] == environments[1], "the replicas must run alike"
    environ = environments[0]
    # Every variable is one the bot reads: unknown ones would be silently ignored.
    settings = load_settings(environ)
    slack = slack_settings(environ)
    assert slack is not None and slack.mode == "http"
    known = {f"INCIDENT_BOT_{name.upper()}" for name in settings.__dataclass_fields__} | {
        "INCIDENT_BOT_SLACK_PORT", "INCIDENT_BOT_SLACK_HOST", "INCIDENT_BOT_SLACK_API_URL",
        "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN",
        "MATRIX_HOMESERVER", "MATRIX_USER_ID", "MATRIX_PASSWORD", "INCIDENT_BOT_MATRIX_STORE",
        "INCIDENT_BOT_MATRIX_LEASE",
    }
    for key in environ:
        assert key.removesuffix("_FILE") in known, f"{key} is not a setting incident-bot reads"
    # One PostgreSQL, the compose file's own service, for both.
    url = normalise_url(settings.database_url)
    assert url.get_backend_name() == "postgresql"
    assert url.host == "postgres" and url.database == services["postgres"]["environment"][
        "POSTGRES_DB"
    ]
    assert url.username == services["postgres"]["environment"]["POSTGRES_USER"]
    # The replicas listen where the front sends requests, each with its own /data.
    front = " ".join(services["front"]["command"])
    for name in REPLICAS:
        assert f"--to {name}:{slack.port}" in front
        assert str(slack.port) in services[name]["expose"]
        assert any(v.endswith(":/data") for v in services[name]["volumes"])
    assert services[REPLICAS[0]]["volumes"] != services[REPLICAS[1]]["volumes"]
    assert settings.inbox_retry_after.total_seconds() > 0
    for name in ("database-url", "slack-bot-token", "slack-signing-secret", "matrix-password"):
        assert name in data["secrets"]


def test_matrix_replicas_share_one_store_and_lease_it(tmp_path: Path) -> None:
    """One device and one set of keys for both replicas (only the lease holder opens
    them): the store directory is one volume mounted in each."""
    services = compose()["services"]
    environ = environment_of(services[REPLICAS[0]], tmp_path)
    matrix = matrix_settings(environ)
    assert matrix is not None
    assert matrix.password == "sample-matrix-password"
    assert 3 <= matrix.lease_seconds <= 20, "a standby must take over within 30 s"
    mounts = [
        {volume for volume in services[name]["volumes"] if volume.endswith(f":{matrix.store}")}
        for name in REPLICAS
    ]
    assert len(mounts[0]) == 1 and mounts[0] == mounts[1], mounts
    # Without MATRIX_HOMESERVER set (compose puts ""), the replicas run Slack alone.
    assert services[REPLICAS[0]]["environment"]["MATRIX_HOMESERVER"] == "${MATRIX_HOMESERVER:-}"
    assert matrix_settings({**environ, "MATRIX_HOMESERVER": ""}) is None
