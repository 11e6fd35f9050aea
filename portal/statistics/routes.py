"""The Statistics page and its CSV: both render numbers.payment_statistics(), as the API does."""
from __future__ import annotations

import csv
import io
from datetime import date

from flask import make_response, render_template, request, url_for
from flask_login import login_required

from ..home.chart import build_chart, label_every
from ..merchant import merchant_settings, offered_currencies
from ..money import Money
from ..spreadsheets import safe_cell
from . import bp
from .charts import latency_chart, success_chart
from .numbers import PeriodError, payment_statistics
from .params import PAGE_CHOICES, api_query, page_selection

def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def duration(seconds: int | None) -> str:
    """'45 s', '12 min', '3 h 20 min', '2 d 4 h': how long customers took to pay, in words."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _view(stats: dict) -> dict:
    """Charts and formatted amounts for the template; every figure comes from `stats`."""
    days = [date.fromisoformat(d["date"]) for d in stats["daily"]]
    labels = {name: g["display_name"] for name, g in stats["by_gateway"].items()}
    every = label_every(len(days))
    collected_charts = []
    for currency in stats["collected"]:
        per_day = {key: [Money.parse(d[key][currency], currency, allow_negative=True) for d in stats["daily"]]
                   for key in ("collected", "refunded", "charged_back", "net")}
        daily = per_day["collected"]
        # The chart draws money that arrived; its table adds what went back and the net, day by day.
        table = [(day, *(per_day[key][i].format() for key in ("collected", "refunded", "charged_back", "net")))
                 for i, day in enumerate(days)]
        collected_charts.append((currency, build_chart(currency, days, daily, every), daily, table))
    active = [n for n, g in stats["by_gateway"].items() if g["attempts"]]
    rates = {n: [d["by_gateway"][n]["success_rate"] for d in stats["daily"]] for n in active}
    return {
        "days": days,
        "labels": labels,
        "collected_shown": {c: Money(m, c).format() for c, m in stats["collected_minor"].items()},
        "refunded_shown": _listed(stats["refunded_minor"]),
        "charged_back_shown": _listed(stats["charged_back_minor"]),
        "net_shown": _listed(stats["net_minor"]),
        "gateway_collected": {n: ", ".join(Money.parse(v, c).format() for c, v in g["collected"].items())
                              for n, g in stats["by_gateway"].items()},
        "gateway_money": {n: {key: _listed({c: Money.parse(v, c, allow_negative=True).minor  # net can be < 0
                                            for c, v in g[key].items()})
                              for key in ("refunded", "charged_back", "net")}
                          for n, g in stats["by_gateway"].items()},
        "collected_charts": collected_charts,
        "success_chart": success_chart(days, rates, labels) if active else None,
        "active": active,
        "latency_chart": latency_chart({n: stats["by_gateway"][n]["latency_ms"] for n in active}, labels),
    }


def _listed(minor: dict[str, int]) -> str:
    """'₹1,200.00, $0.00' in the order of the currencies; '' when there are none."""
    return ", ".join(Money(m, c).format() for c, m in minor.items())


@bp.get("/statistics")
@login_required
def index():
    profile = merchant_settings()
    currencies = offered_currencies()
    context = {"choices": PAGE_CHOICES, "currencies": currencies, "profile": profile, "percent": percent,
               "duration": duration, "args": request.args, "error": None, "stats": None}
    try:
        selection = page_selection(profile.today())
    except PeriodError as exc:
        context["error"] = str(exc)
        context["choice"] = request.args.get("period", "custom")
        return render_template("statistics/index.html", **context), 422
    stats = payment_statistics(selection.period, selection.currency)
    query = api_query(selection)
    context.update(stats=stats, choice=selection.choice, selection=selection, **_view(stats),
                   csv_url=url_for("statistics.export", period=selection.choice, **_page_dates(selection),
                                   **({"currency": selection.currency} if selection.currency else {})),
                   api_url=url_for("api.payment_statistics", **query))
    response = make_response(render_template("statistics/index.html", **context))
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_dates(selection) -> dict:
    if selection.choice != "custom":
        return {}
    return {"from": selection.period.first.isoformat(), "to": selection.period.last.isoformat()}


def csv_rows(stats: dict):
    """section, gateway, date, metric, value: every number the page shows, under the API's names."""
    period = stats["period"]
    yield ("period", "", "", "from", period["from"])
    yield ("period", "", "", "to", period["to"])
    yield ("period", "", "", "time_zone", period["time_zone"])
    yield ("period", "", "", "currency", stats["currency"] or "all")
    for key in ("links_created", "links_failed", "links_paid", "conversion_rate", "payments",
                "average_seconds_to_pay", "cache_hits", "cache_misses", "cache_hit_rate", "attempts", "retries",
                "retry_successes", "retry_success_rate", "fallbacks", "fallbacks_given", "breaker_openings",
                "refunds", "chargebacks"):
        yield ("summary", "", "", key, stats[key])
    for key in ("collected", "refunded", "charged_back", "net"):
        for currency, amount in stats[key].items():
            yield ("summary", "", "", f"{key}_{currency}", amount)
    for name, g in stats["by_gateway"].items():
        for key in ("attempts", "successes", "failures", "success_rate", "retries", "retry_successes",
                    "retry_success_rate", "links_created", "cache_hits", "fallbacks_received", "fallbacks_given",
                    "breaker_openings", "refunds"):
            yield ("gateway", name, "", key, g[key])
        yield ("gateway", name, "", "latency_p50_ms", g["latency_ms"]["p50"])
        yield ("gateway", name, "", "latency_p95_ms", g["latency_ms"]["p95"])
        for key in ("collected", "refunded", "charged_back", "net"):
            for currency, amount in g[key].items():
                yield ("gateway", name, "", f"{key}_{currency}", amount)
    for day in stats["daily"]:
        yield ("day", "", day["date"], "links_created", day["links_created"])
        yield ("day", "", day["date"], "links_paid", day["links_paid"])
        for key in ("collected", "refunded", "charged_back", "net"):
            for currency, amount in day[key].items():
                yield ("day", "", day["date"], f"{key}_{currency}", amount)
        for name, g in day["by_gateway"].items():
            if g["attempts"]:
                yield ("day", name, day["date"], "attempts", g["attempts"])
                yield ("day", name, day["date"], "successes", g["successes"])
                yield ("day", name, day["date"], "success_rate", g["success_rate"])
    for reason in stats["reasons"]:
        yield ("reason", reason["gateway"], "", reason["words"], reason["count"])


@bp.get("/statistics.csv")
@login_required
def export():
    profile = merchant_settings()
    try:
        selection = page_selection(profile.today())
    except PeriodError as exc:
        return make_response(str(exc) + "\n", 422, {"Content-Type": "text/plain; charset=utf-8"})
    stats = payment_statistics(selection.period, selection.currency)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("section", "gateway", "date", "metric", "value"))
    for row in csv_rows(stats):
        writer.writerow([safe_cell(cell) for cell in row])
    name = f"hisabpro-statistics-{stats['period']['from']}-to-{stats['period']['to']}"
    if selection.currency:
        name += f"-{selection.currency}"
    response = make_response(out.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
