"""The Statistics page's chart geometry: lines break where a gateway had no calls, bars scale to the slowest
gateway, date labels thin out over long periods."""
from datetime import date, timedelta

from portal.home.chart import label_every
from portal.statistics.charts import latency_chart, success_chart

LABELS = {"razorpay": "Razorpay", "stripe": "Stripe"}


def test_a_day_without_calls_breaks_the_line_and_100_percent_is_the_top():
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(4)]
    chart = success_chart(days, {"razorpay": [1.0, None, 0.5, 0.0], "stripe": [None] * 4}, LABELS)
    razorpay, stripe = chart.lines
    assert len(razorpay.segments) == 2 and stripe.segments == []
    assert razorpay.dots[0][1] == chart.y_ticks[-1].at            # 100 % on the top grid line
    assert razorpay.dots[-1][1] == chart.plot_bottom               # 0 % on the baseline
    assert razorpay.dots[1][2] == "Razorpay, 3 Nov: 50.0%"
    assert razorpay.dash != stripe.dash                            # told apart without colour
    assert [t.label for t in chart.x_ticks] == ["4 Nov", "3 Nov", "2 Nov", "1 Nov"]


def test_latency_bars_scale_to_the_slowest_and_skip_gateways_without_calls():
    chart = latency_chart({"razorpay": {"p50": 500, "p95": 1000}, "stripe": {"p50": None, "p95": None}}, LABELS)
    assert [g.label for g in chart.groups] == ["Razorpay"]
    p50, p95 = chart.groups[0].bars
    assert p95.width == 2 * p50.width and p95.label == "1000 ms"
    assert [t.label for t in chart.x_ticks] == ["0 ms", "500 ms", "1 s", "1.5 s", "2 s"]  # 4 round steps
    assert latency_chart({"stripe": {"p50": None, "p95": None}}, LABELS) is None


def test_date_labels_every_day_for_a_week_every_7_for_a_month_five_for_a_year():
    assert (label_every(1), label_every(7), label_every(30), label_every(90), label_every(365)) == (1, 1, 7, 18, 73)
