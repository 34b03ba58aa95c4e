"""A real Prometheus (Debian's) scrapes `/metrics` of `incident-bot run` on loopback; its
query API then shows what a scripted incident did."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

PROMETHEUS = shutil.which("prometheus")
COMMAND = Path(sys.executable).parent / "incident-bot"

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="Prometheus is not installed (`make test` installs Debian's prometheus as root)",
)

SCRIPT = """\
[2025-03-04 14:02] maria: /incident start Checkout returns 502
[14:03] maria: /incident severity 2
[14:05] li: Load balancer logs show certificate errors
[14:05] li: +:pushpin:
[14:06] maria: /incident note rolling back the bundle
[14:07] #general bob: /incident start Search is slow
[14:08] bob: /incident severity 3
[14:09] bob: /incident close
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _query(prometheus: str, expression: str) -> list[dict[str, object]]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.load(answer)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _value(prometheus: str, expression: str, deadline: float) -> float:
    """The query's single value once Prometheus has it (it scrapes every second)."""
    while True:
        try:
            result = _query(prometheus, expression)
        except OSError:  # Prometheus still starting
            result = []
        if result:
            return float(result[0]["value"][1])  # type: ignore[index]
        assert time.monotonic() < deadline, f"no value for {expression}"
        time.sleep(0.5)


def test_prometheus_sees_events_and_incidents(tmp_path: Path) -> None:
    bot_port, prometheus_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_BOT_")}
    env.update(
        INCIDENT_BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'metrics.db'}",
        INCIDENT_BOT_HTTP_PORT=str(bot_port),
    )
    bot = subprocess.Popen(
        [str(COMMAND), "run"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, cwd=tmp_path, env=env, text=True,
    )  # fmt: skip
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: incident-bot\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{bot_port}']}}]\n"
    )
    prometheus = subprocess.Popen(
        [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert bot.stdin is not None
    try:
        bot.stdin.write(SCRIPT)
        bot.stdin.flush()
        api = f"http://127.0.0.1:{prometheus_port}"
        deadline = time.monotonic() + 60
        events = 'sum(incident_bot_events_handled_total{platform="console"})'
        # Six commands and one 📌; plain chat is no event for the bot.
        while _value(api, events, deadline) < 7:
            assert time.monotonic() < deadline, _query(api, "incident_bot_events_handled_total")
            time.sleep(0.5)
        assert _value(api, events, deadline) == 7
        tagged = 'incident_bot_events_handled_total{platform="console",kind="tagged"}'
        assert _value(api, tagged, deadline) == 1
        assert _value(api, 'incident_bot_events_handled_total{kind="command:start"}', deadline) == 2
        assert _value(api, 'incident_bot_incidents_declared_total{severity="SEV2"}', deadline) == 1
        assert _value(api, 'incident_bot_incidents_open{severity="SEV2"}', deadline) == 1
        assert _value(api, 'incident_bot_incidents_open{severity="SEV3"}', deadline) == 0
        assert _value(api, "sum(incident_bot_incidents_declared_total)", deadline) == 2
        assert _value(api, 'up{job="incident-bot"}', deadline) == 1
    finally:
        bot.stdin.close()
        prometheus.terminate()
        prometheus.wait(timeout=20)
        try:
            bot.wait(timeout=20)
        except subprocess.TimeoutExpired:
            bot.kill()
