"""Prometheus metrics: the core's telemetry port, plus figures read from the database
when Prometheus scrapes (incidents open, durations), so every replica reports the same
totals and nothing has to be kept in step by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from bot import insights
from bot.service import IncidentBot

# Seconds: from a fast ack to a slow export.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds: from minutes to days, as incidents last.
DURATION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)


class PrometheusTelemetry:
    """The core's `Telemetry`, kept in a registry of its own (not the process-global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._events = Counter(
            "incident_bot_events_handled",
            "Inbound chat events handled, by platform and kind.",
            ["platform", "kind"],
            registry=self.registry,
        )
        self._event_seconds = Histogram(
            "incident_bot_event_handling_seconds",
            "Time to handle one inbound event, database included.",
            ["platform"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._reminders = Counter(
            "incident_bot_reminders",
            "Reminders posted (outcome=sent) or refused by the platform (outcome=failed).",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self._slack_ack = Histogram(
            "incident_bot_slack_ack_seconds",
            "Time from a Slack request's arrival to its acknowledgement.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._matrix_lag = Histogram(
            "incident_bot_matrix_sync_lag_seconds",
            "Age of the newest event from others in a Matrix sync once the whole sync "
            "was handled (by the homeserver's origin_server_ts).",
            buckets=(*_LATENCY_BUCKETS, 30.0, 60.0, 300.0),
            registry=self.registry,
        )

    def event_handled(self, *, platform: str, kind: str, seconds: float) -> None:
        self._events.labels(platform=platform, kind=kind).inc()
        self._event_seconds.labels(platform=platform).observe(seconds)

    def reminder_sent(self, *, platform: str, delivered: bool) -> None:
        outcome = "sent" if delivered else "failed"
        self._reminders.labels(platform=platform, outcome=outcome).inc()

    def slack_acked(self, *, seconds: float) -> None:
        self._slack_ack.observe(seconds)

    def matrix_synced(self, *, lag_seconds: float) -> None:
        self._matrix_lag.observe(max(lag_seconds, 0.0))

    def watch(self, bot: IncidentBot) -> None:
        """Adds the figures read from the database at each scrape."""
        self.registry.register(_RecordCollector(bot))

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _RecordCollector(Collector):
    def __init__(self, bot: IncidentBot) -> None:
        self._bot = bot

    def describe(self) -> Iterable[Metric]:
        # Nothing to say before a scrape: registering must not query the database.
        return []

    def collect(self) -> Iterable[Metric]:
        summary = insights.record_summary(self._bot.incident_summaries(), datetime.now(UTC))
        declared = CounterMetricFamily(
            "incident_bot_incidents_declared",
            "Incidents declared, by severity.",
            labels=["severity"],
        )
        open_now = GaugeMetricFamily(
            "incident_bot_incidents_open",
            "Incidents not yet closed, by severity.",
            labels=["severity"],
        )
        for severity, count in sorted(summary.declared_by_severity.items()):
            declared.add_metric([severity], count)
        for severity, count in sorted(summary.open_by_severity.items()):
            open_now.add_metric([severity], count)
        yield declared
        yield open_now
        for name, helptext, values in (
            (
                "incident_bot_time_to_detect_seconds",
                "Impact start to detection, closed incidents.",
                summary.time_to_detect,
            ),
            (
                "incident_bot_time_to_mitigate_seconds",
                "Impact start to mitigation, closed incidents.",
                summary.time_to_mitigate,
            ),
            (
                "incident_bot_impact_duration_seconds",
                "Impact start to mitigation (else resolution), closed incidents.",
                summary.impact_duration,
            ),
        ):
            yield _histogram(name, helptext, values)


def _histogram(name: str, helptext: str, values: list[float]) -> HistogramMetricFamily:
    buckets: list[tuple[str, float]] = []
    for bound in DURATION_BUCKETS:
        buckets.append((str(float(bound)), float(sum(1 for value in values if value <= bound))))
    buckets.append(("+Inf", float(len(values))))
    family = HistogramMetricFamily(name, helptext)
    family.add_metric([], buckets, sum_value=float(sum(values)))
    return family
