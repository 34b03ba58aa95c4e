"""The benchmarks run end to end with tiny sizes (no timing is asserted: bench/ measures)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_ingest_bench_runs_on_sqlite() -> None:
    rows = bench("ingest").main(["--sizes", "3,30", "--events", "8", "--warmup", "4",
                                 "--no-postgres"])
    assert [(row.backend, row.entries) for row in rows] == [("SQLite", 3), ("SQLite", 30)]
    assert all(row.service_per_s > 0 and row.plain_per_s > 0 for row in rows)


@pytest.mark.postgres
def test_ingest_bench_runs_on_postgres(postgres_url: str) -> None:
    # postgres_url only makes sure a server answers (else the test is skipped).
    rows = bench("ingest").main(["--sizes", "3", "--events", "8", "--warmup", "4"])
    assert [(row.backend, row.entries) for row in rows] == [("SQLite", 3), ("PostgreSQL", 3)]


def test_export_bench_runs() -> None:
    rows = bench("export").main(["--entries", "40", "--repeat", "1",
                                 "--templates", "standard,report"])
    assert {(row.template, row.format) for row in rows} == {
        (template, fmt) for template in ("standard", "report") for fmt in ("md", "html", "docx")
    }


@pytest.mark.postgres
def test_replicas_burst_bench_applies_each_request_once(postgres_url: str) -> None:
    # postgres_url only makes sure a server answers (else the test is skipped).
    result = bench("replicas_burst").main(["--rate", "20", "--seconds", "1", "--retries", "0.5"])
    assert result.requests == 25  # 20 requests, 5 of the 10 events sent again as retries
    assert result.failures == 0, result


def test_web_reads_bench_runs() -> None:
    rows = bench("web_reads").main(["--incidents", "3", "--entries", "5", "--repeat", "1"])
    assert [row.page for row in rows] == ["/", "/insights", "/metrics", "live poll"]
    assert all(row.whole_ms > 0 and row.summaries_ms > 0 for row in rows)


def test_slack_ack_bench_runs_both_modes_beside_bare_bolt() -> None:
    rows = bench("slack_ack").main(["--commands", "6", "--concurrency", "3", "--runs", "1"])
    assert [(row.mode, row.app) for row in rows] == [
        (mode, app)
        for mode in ("http", "socket")
        for app in ("bare Bolt (ack only)", "incident-bot")
    ]
    assert all(0 < row.median_ms <= row.p99_ms <= row.max_ms for row in rows)


def test_slack_ack_bench_also_runs_a_bare_bolt_asyncio_app() -> None:
    rows = bench("slack_ack").main(
        ["--commands", "6", "--concurrency", "3", "--runs", "1", "--modes", "http",
         "--async-bare"]
    )
    assert [row.app for row in rows] == [
        "bare Bolt (ack only)", "incident-bot", "bare Bolt, asyncio (ack only)"
    ]
    assert all(0 < row.median_ms <= row.p99_ms <= row.max_ms for row in rows)


def test_alert_storm_bench_runs_on_sqlite() -> None:
    [row] = bench("alert_storm").main(["--alerts", "20", "--steps", "2", "--no-postgres"])
    assert (row.backend, row.alerts, row.entries) == ("SQLite", 20, 20)
    assert row.messages >= 1  # the announcement, the welcome, one summary
