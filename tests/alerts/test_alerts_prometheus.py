"""Real Prometheus and Alertmanager (Debian's) notify `incident-bot run` on the console
platform over loopback: a rule that fires declares an incident with the alert at its
start; a second rule of the same group adds an entry; a rule changed to stop firing
resolves; a rule without the matching label declares nothing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pytest

from adapters.bootstrap import build_bot
from adapters.config import load_settings
from bot.clock import SystemClock
from bot.domain import Incident, MilestoneKind

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
COMMAND = Path(sys.executable).parent / "incident-bot"
TOKEN = "e2e-alertmanager-token-4321"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        PROMETHEUS is None or ALERTMANAGER is None,
        reason="Prometheus or Alertmanager is not installed (`make test` installs Debian's "
        "prometheus and prometheus-alertmanager as root)",
    ),
]

ROUTES = """\
[[alerts.routes]]
name = "critical"
match = ['severity="critical"']
platform = "console"
"""

CHECKOUT_FIRING = """\
      - alert: CheckoutDown
        expr: vector(1) > 0
        labels: {severity: critical, service: checkout}
        annotations:
          summary: Checkout is down
          runbook_url: https://runbooks.example.org/checkout
"""
CHECKOUT_STOPPED = CHECKOUT_FIRING.replace("vector(1) > 0", "vector(1) < 0")
PAYMENTS_FIRING = """\
      - alert: PaymentsDown
        expr: vector(2) > 0
        labels: {severity: critical, service: payments}
        annotations: {summary: Payments are down}
"""
DISK_WARNING = """\
      - alert: DiskFilling
        expr: vector(3) > 0
        labels: {severity: warning}
        annotations: {summary: Disk is filling}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@dataclass
class Stack:
    tmp: Path
    database_url: str
    rules: Path
    prometheus_url: str
    alertmanager_url: str
    bot_out: Path

    def write_rules(self, *rules: str) -> None:
        self.rules.write_text("groups:\n  - name: e2e\n    rules:\n" + "".join(rules))

    def reload_prometheus(self) -> None:
        request = urllib.request.Request(f"{self.prometheus_url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200

    def incidents(self) -> list[Incident]:
        settings = load_settings({"INCIDENT_BOT_DATABASE_URL": self.database_url})
        return build_bot(settings, clock=SystemClock()).list_incidents()

    def alert_entries(self, number: int = 1) -> list[tuple[datetime, str]]:
        incident = next(i for i in self.incidents() if i.number == number)
        return [
            (entry.occurred_at, entry.text)
            for entry in incident.visible_timeline()
            if (entry.source_ref or "").startswith("alert:")
        ]

    def alertmanager_alert(self, name: str) -> dict[str, Any] | None:
        for found in get_json(f"{self.alertmanager_url}/api/v2/alerts"):
            if found["labels"].get("alertname") == name:
                return dict(found)
        return None

    def webhook_notifications(self) -> float:
        """How many notifications Alertmanager delivered to the bot."""
        with urllib.request.urlopen(f"{self.alertmanager_url}/metrics", timeout=5) as answer:
            for line in answer.read().decode().splitlines():
                if line.startswith('alertmanager_notifications_total{integration="webhook"}'):
                    return float(line.split()[-1])
        return 0.0


def start(command: list[str], log: IO[str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, **kwargs)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    bot_port, prometheus_port, alertmanager_port = free_port(), free_port(), free_port()
    database_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    (tmp_path / "settings.toml").write_text(ROUTES)
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "alertmanager.yml").write_text(
        "route:\n"
        "  receiver: incident-bot\n"
        "  group_by: [severity]\n"
        "  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: incident-bot\n"
        "    webhook_configs:\n"
        f"      - url: http://127.0.0.1:{bot_port}/hooks/alertmanager\n"
        "        send_resolved: true\n"
        "        http_config:\n"
        "          authorization:\n"
        "            type: Bearer\n"
        f"            credentials_file: {tmp_path / 'token'}\n"
    )
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [rules.yml]\n"
        "alerting:\n"
        f"  alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{alertmanager_port}']}}]}}]\n"
    )
    stack = Stack(
        tmp=tmp_path,
        database_url=database_url,
        rules=tmp_path / "rules.yml",
        prometheus_url=f"http://127.0.0.1:{prometheus_port}",
        alertmanager_url=f"http://127.0.0.1:{alertmanager_port}",
        bot_out=tmp_path / "bot.out",
    )
    stack.write_rules(CHECKOUT_FIRING, DISK_WARNING)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_BOT_")}
    env.update(
        INCIDENT_BOT_DATABASE_URL=database_url,
        INCIDENT_BOT_HTTP_PORT=str(bot_port),
        INCIDENT_BOT_CONFIG=str(tmp_path / "settings.toml"),
        INCIDENT_BOT_ALERTMANAGER_TOKEN_FILE=str(tmp_path / "token"),
    )
    logs = [open(tmp_path / name, "w") for name in ("bot.out", "am.log", "prom.log")]  # noqa: SIM115
    bot = subprocess.Popen(
        [str(COMMAND), "run"], stdin=subprocess.PIPE, stdout=logs[0], stderr=subprocess.STDOUT,
        cwd=tmp_path, env=env, text=True,
    )  # fmt: skip
    wait_for("the bot's HTTP server", lambda: _answers(f"http://127.0.0.1:{bot_port}/healthz"))
    alertmanager = start(
        [str(ALERTMANAGER), f"--config.file={tmp_path / 'alertmanager.yml'}",
         f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{alertmanager_port}",
         "--cluster.listen-address="],
        logs[1],
    )  # fmt: skip
    prometheus = start(
        [str(PROMETHEUS), f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}", "--web.enable-lifecycle",
         "--rules.alert.resend-delay=1s"],
        logs[2],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        yield stack
    finally:
        for process in (prometheus, alertmanager):
            process.terminate()
            process.wait(timeout=20)
        assert bot.stdin is not None
        bot.stdin.close()  # the console's input ends: the bot stops
        try:
            bot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bot.kill()
        for log in logs:
            log.close()


def _answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as answer:
        return bool(answer.status == 200)


def test_prometheus_alerts_declare_resolve_and_join_one_incident(stack: Stack) -> None:
    # The critical rule fires: an incident, with the alert at its startsAt.
    [incident] = wait_for("an incident", stack.incidents)
    [(at, text)] = wait_for("the alert's entry", stack.alert_entries)
    fired = wait_for("the alert in Alertmanager", lambda: stack.alertmanager_alert("CheckoutDown"))
    starts_at = datetime.fromisoformat(fired["startsAt"].replace("Z", "+00:00"))
    assert abs((at - starts_at).total_seconds()) < 0.001  # the API shows milliseconds
    assert "Alert firing (alertmanager): CheckoutDown" in text
    assert "Runbook: https://runbooks.example.org/checkout" in text
    assert "Source: http" in text and "/graph?g0.expr=" in text  # Prometheus' own link
    assert incident.title == "CheckoutDown: Checkout is down"
    assert incident.severity == 1
    assert incident.milestone(MilestoneKind.STARTED) == at
    out = wait_for(
        "the console's announcement",
        lambda: (text := stack.bot_out.read_text()) and "declared by alertmanager" in text and text,
    )
    assert "#general bot: Incident 1 declared by alertmanager alerts: CheckoutDown" in out

    # The warning rule fired as well, in a group of its own: delivered, and ignored.
    wait_for("the warning in Alertmanager", lambda: stack.alertmanager_alert("DiskFilling"))
    wait_for("both groups delivered", lambda: stack.webhook_notifications() >= 2)

    # A second critical rule joins the group: one entry more, no new incident.
    stack.write_rules(CHECKOUT_FIRING, PAYMENTS_FIRING, DISK_WARNING)
    stack.reload_prometheus()
    wait_for(
        "PaymentsDown's entry",
        lambda: any("PaymentsDown" in text for _, text in stack.alert_entries()),
    )
    # The rule is changed to stop firing: its resolved entry arrives.
    stack.write_rules(CHECKOUT_STOPPED, PAYMENTS_FIRING, DISK_WARNING)
    stack.reload_prometheus()
    resolved = wait_for(
        "CheckoutDown's resolved entry",
        lambda: [
            (at, text) for at, text in stack.alert_entries()
            if text.startswith("Alert resolved (alertmanager): CheckoutDown")
        ],
    )  # fmt: skip
    [(ended_at, _)] = resolved
    assert ended_at > at
    entries = stack.alert_entries()
    assert sum(text.startswith("Alert firing") for _, text in entries) == 2
    assert [i.number for i in stack.incidents()] == [1]  # the warning declared nothing
    assert not any("DiskFilling" in text for _, text in entries)
