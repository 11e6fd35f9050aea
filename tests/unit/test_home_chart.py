"""The Home chart's geometry: round axis steps, one bar per day with money, labels formatted by Babel."""
from datetime import date, timedelta

from portal.home.chart import HEIGHT, build_chart, nice_step
from portal.money import Money


def test_nice_steps_are_one_two_or_five_times_a_power_of_ten():
    assert nice_step(38_000_00) == 10_000_00       # ₹38,000 over four steps: ₹10,000 each
    assert nice_step(1_440_00) == 500_00
    assert nice_step(1) == 1 and nice_step(0) == 1
    assert nice_step(4_000_00) == 1_000_00           # exactly four steps, no empty fifth


def test_bars_only_for_days_with_money_and_labels_formatted():
    days = [date(2026, 11, 3) + timedelta(days=i) for i in range(30)]
    daily = [Money(0, "INR")] * 30
    daily[0], daily[29] = Money(38_000_00, "INR"), Money(9_000_00, "INR")
    chart = build_chart("INR", days, daily)
    assert len(chart.bars) == 2
    assert chart.bars[0].title == "3 Nov: ₹38,000.00" and chart.bars[1].title == "2 Dec: ₹9,000.00"
    assert chart.bars[0].height > chart.bars[1].height > 0
    assert all(bar.y + bar.height <= HEIGHT for bar in chart.bars)
    assert [t.label for t in chart.y_ticks] == ["₹0", "₹10K", "₹20K", "₹30K", "₹40K"]
    assert [t.label for t in chart.x_ticks][0] == "2 Dec"
    assert chart.rows[0] == (date(2026, 11, 3), "₹38,000.00") and chart.rows[1][1] == "₹0.00"


def test_zero_decimal_currency_labels():
    days = [date(2026, 11, 3) + timedelta(days=i) for i in range(30)]
    chart = build_chart("JPY", days, [Money(14_400, "JPY")] + [Money(0, "JPY")] * 29)
    assert chart.bars[0].title == "3 Nov: ¥14,400"
    assert chart.y_ticks[-1].label == "¥20K"
