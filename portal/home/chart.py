"""A bar chart of money per day, as geometry for an inline SVG (templates/home/_chart.html).

Drawn on the server: no chart library, nothing for the browser to run, and the numbers beside it in a
table for screen readers. Amounts stay integers; only the bar heights are fractions of the drawing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from babel.numbers import format_compact_currency

from ..money import Money

WIDTH, HEIGHT = 320, 160
LEFT, RIGHT, TOP, BOTTOM = 44, 14, 8, 20     # room for the axis labels
Y_TICKS = 4
X_LABEL_EVERY = 7                           # a date under every 7th bar, counted back from today


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    currency: str
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    rows: list[tuple[date, str]]            # the text alternative: each day and its formatted amount


@lru_cache(maxsize=4096)
def formatted(amount: Money) -> str:
    """Money.format, remembered: a chart repeats amounts (zeros above all) and Babel is slow to format."""
    return amount.format()


def _locale(currency: str) -> str:
    return "en_IN" if currency == "INR" else "en_US"  # as Money.format chooses


def nice_step(largest_minor: int, ticks: int = Y_TICKS) -> int:
    """A round step (1, 2 or 5 times a power of ten, in minor units) so `ticks` steps cover the largest bar."""
    needed = max(1, -(-largest_minor // ticks))
    power = 10 ** (len(str(needed)) - 1)
    return next(m * power for m in (1, 2, 5, 10) if m * power >= needed)


def short_date(day: date) -> str:
    return f"{day.day} {day:%b}"


def label_every(days: int, labels: int = 5) -> int:
    """How many bars apart the date labels stand so about `labels` fit: 7 for a month, 1 for a week."""
    if days <= 8:
        return 1
    return X_LABEL_EVERY if days <= 35 else -(-days // labels)


def x_ticks_for(days: list[date], left: float, slot: float, every: int) -> list[Tick]:
    """A date under every `every`-th slot, counted back from the last day (today on Home)."""
    return [Tick(round(left + i * slot + slot / 2, 2), short_date(days[i]))
            for i in range(len(days) - 1, -1, -every)]


def build_chart(currency: str, days: list[date], daily: list[Money], every: int = X_LABEL_EVERY) -> Chart:
    step = nice_step(max((m.minor for m in daily), default=0))
    top_value = step * Y_TICKS
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(days)
    bars = []
    for i, (day, amount) in enumerate(zip(days, daily)):
        if amount.minor <= 0:
            continue
        height = max(1.0, plot_h * amount.minor / top_value)
        bars.append(Bar(round(LEFT + i * slot + slot * 0.15, 2), round(TOP + plot_h - height, 2),
                        round(slot * 0.7, 2), round(height, 2), f"{short_date(day)}: {formatted(amount)}"))
    y_ticks = []
    for k in range(Y_TICKS + 1):
        value = Money(step * k, currency)
        # "₹20K", "$1.5K"; below one unit the cents matter ("$0.25")
        digits = 1 if value.as_decimal() >= 1 else value.exponent
        label = format_compact_currency(value.as_decimal(), currency, locale=_locale(currency), fraction_digits=digits)
        y_ticks.append(Tick(round(TOP + plot_h - plot_h * k / Y_TICKS, 2), label))
    x_ticks = x_ticks_for(days, LEFT, slot, every)
    rows = [(day, formatted(amount)) for day, amount in zip(days, daily)]
    return Chart(currency, WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, TOP + plot_h, bars, y_ticks, x_ticks, rows)
