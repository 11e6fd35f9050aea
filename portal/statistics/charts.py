"""The Statistics page's charts as geometry for inline SVG, drawn like Home's (portal/home/chart.py, whose
sizes, ticks and date labels they share): success rate per gateway per day as lines, latency per gateway as
bars. Each chart's numbers are also in a table beside it (templates/statistics/index.html)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..home.chart import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Tick, label_every, nice_step, x_ticks_for

# Lines differ by dash as well as colour, so the legend reads without colour vision.
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass(frozen=True)
class Line:
    name: str
    label: str
    index: int
    dash: str
    segments: list[str]                  # SVG polyline points; a day without attempts breaks the line
    dots: list[tuple[float, float, str]]  # x, y, title


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]


def success_chart(days: list[date], rates: dict[str, list[float | None]], labels: dict[str, str]) -> LineChart:
    """rates: gateway -> success rate (0..1) for each of `days`, None where it had no attempts."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(days)
    lines = []
    for index, (name, values) in enumerate(rates.items()):
        segments, current, dots = [], [], []
        for i, rate in enumerate(values):
            if rate is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            x, y = round(LEFT + i * slot + slot / 2, 2), round(TOP + plot_h * (1 - rate), 2)
            current.append(f"{x},{y}")
            dots.append((x, y, f"{labels[name]}, {days[i].day} {days[i]:%b}: {rate * 100:.1f}%"))
        if current:
            segments.append(" ".join(current))
        lines.append(Line(name, labels[name], index, DASHES[index % len(DASHES)], segments, dots))
    y_ticks = [Tick(round(TOP + plot_h - plot_h * k / 4, 2), f"{25 * k}%") for k in range(5)]
    return LineChart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, TOP + plot_h, lines, y_ticks,
                     x_ticks_for(days, LEFT, slot, label_every(len(days))))


@dataclass(frozen=True)
class LatencyBar:
    y: float
    width: float
    height: float
    label: str       # "p50 34 ms"
    title: str
    kind: str        # p50, p95


@dataclass(frozen=True)
class LatencyGroup:
    label: str
    label_y: float
    bars: list[LatencyBar]


@dataclass(frozen=True)
class LatencyChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    groups: list[LatencyGroup]
    x_ticks: list[Tick]


BAR_H, GAP, LABEL_W = 12, 4, 70


def latency_chart(latency: dict[str, dict], labels: dict[str, str]) -> LatencyChart | None:
    """latency: gateway -> {"p50": ms, "p95": ms}; gateways without a measurement are left out."""
    measured = {n: v for n, v in latency.items() if v["p50"] is not None}
    if not measured:
        return None
    top = nice_step(max(v["p95"] or v["p50"] for v in measured.values()) or 1, 4) * 4
    plot_left, plot_right = LABEL_W, WIDTH - RIGHT - 40   # room for the value after the bar
    plot_w = plot_right - plot_left
    groups, y = [], TOP
    for name, values in measured.items():
        bars = []
        for i, kind in enumerate(("p50", "p95")):
            ms = values[kind]
            if ms is None:
                continue
            bars.append(LatencyBar(y + i * (BAR_H + 2), round(max(1.0, plot_w * ms / top), 2), BAR_H,
                                   f"{ms} ms", f"{labels[name]} {kind}: {ms} ms", kind))
        groups.append(LatencyGroup(labels[name], y + BAR_H + 1, bars))
        y += 2 * BAR_H + 2 + 3 * GAP
    height = int(y + 14)
    x_ticks = [Tick(round(plot_left + plot_w * k / 4, 2), _ms_label(top * k // 4)) for k in range(5)]
    return LatencyChart(WIDTH, height, plot_left, plot_right, groups, x_ticks)


def _ms_label(ms: int) -> str:
    """'250 ms', '1 s', '1.5 s': short enough that five fit under a phone-wide chart."""
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:g} s"
