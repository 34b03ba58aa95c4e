"""Charts for the insights page as numbers for an inline SVG: stacked bars of incidents
per period by severity, and bars of duration medians. No script, no external file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.insights import SEVERITY_NAMES, DurationStats, Period

CHART_WIDTH = 720.0
CHART_HEIGHT = 220.0
PLOT_LEFT = 40.0
PLOT_BOTTOM = 190.0
PLOT_TOP = 16.0


@dataclass(frozen=True)
class Block:
    x: float
    y: float
    width: float
    height: float
    severity: str
    label: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class StackedBars:
    width: float
    height: float
    blocks: tuple[Block, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    severities: tuple[str, ...]


def stacked_bars(periods: list[Period]) -> StackedBars:
    highest = max((period.total for period in periods), default=0) or 1
    usable = CHART_WIDTH - PLOT_LEFT - 10
    slot = usable / max(len(periods), 1)
    bar = max(min(slot * 0.7, 40.0), 2.0)
    scale = (PLOT_BOTTOM - PLOT_TOP) / highest
    blocks: list[Block] = []
    x_ticks: list[Tick] = []
    every = max(1, len(periods) // 12)  # at most about a dozen labels under the bars
    for index, period in enumerate(periods):
        x = round(PLOT_LEFT + slot * index + (slot - bar) / 2, 1)
        y = PLOT_BOTTOM
        for severity in SEVERITY_NAMES:
            count = period.counts.get(severity, 0)
            if not count:
                continue
            height = round(count * scale, 1)
            y = round(y - height, 1)
            blocks.append(
                Block(x, y, round(bar, 1), height, severity, f"{period.label}: {count} {severity}")
            )
        if index % every == 0:
            x_ticks.append(Tick(round(x + bar / 2, 1), PLOT_BOTTOM + 16, period.label))
    steps = min(highest, 4)
    y_ticks = tuple(
        Tick(PLOT_LEFT - 6, round(PLOT_BOTTOM - value * scale, 1), str(value))
        for value in sorted({round(highest * step / steps) for step in range(steps + 1)})
    )
    return StackedBars(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        blocks=tuple(blocks),
        x_ticks=tuple(x_ticks),
        y_ticks=y_ticks,
        severities=SEVERITY_NAMES,
    )


@dataclass(frozen=True)
class DurationBar:
    y: float
    median_width: float
    p90_width: float
    label: str
    values: str


@dataclass(frozen=True)
class DurationBars:
    width: float
    height: float
    bars: tuple[DurationBar, ...]


def duration_bars(stats: list[DurationStats], describe: Callable[[float], str]) -> DurationBars:
    """One row per severity with data: a bar to the median and a paler one to p90."""
    shown = [row for row in stats if row.count]
    longest = max((row.p90 or 0.0 for row in shown), default=0.0) or 1.0
    usable = CHART_WIDTH - 200
    bars = []
    for index, row in enumerate(shown):
        assert row.median is not None and row.p90 is not None
        bars.append(
            DurationBar(
                y=10.0 + 26.0 * index,
                median_width=round(usable * row.median / longest, 1),
                p90_width=round(usable * row.p90 / longest, 1),
                label=row.severity,
                values=f"median {describe(row.median)}, p90 {describe(row.p90)} ({row.count})",
            )
        )
    return DurationBars(width=CHART_WIDTH, height=20.0 + 26.0 * len(bars), bars=tuple(bars))
