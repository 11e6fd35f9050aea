"""The Statistics page, CSV and API: who may see them, bad periods, breaker openings read from the attempt
log, latency percentiles, the rollup. Rows are written directly here where the engine cannot produce the
case on demand (yesterday's calls, exact durations); tests/payments/test_statistics.py drives the engine."""
from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta, timezone

import pytest

from portal.extensions import db
from portal.merchant import merchant_settings
from portal.models import GatewayAttempt, MerchantSetting, StatisticsDaily, StatisticsRollup
from portal.statistics.numbers import SETTLE, Period, payment_statistics, percentile, roll_up
from portal.statistics.routes import csv_rows, duration, safe_cell


def attempt(invoice, gateway, at, outcome="success", kind=None, code=None, ms=40, number=1, operation="create"):
    row = GatewayAttempt(created_at=at, invoice_id=invoice.id, gateway=gateway, operation=operation, attempt=number,
                         outcome=outcome, error_kind=kind, error_code=code, duration_ms=ms, message="")
    db.session.add(row)
    return row


def noon(days_ago: int = 0) -> datetime:
    """Midday of a merchant day, as a UTC instant."""
    profile = merchant_settings()
    return profile.start_of(profile.today() - timedelta(days=days_ago)) + timedelta(hours=12)


def today_only():
    today = merchant_settings().today()
    return Period(today, today)


# ---- who may look --------------------------------------------------------------------------------

def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/statistics", "/statistics.csv", "/statistics?period=90"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/api/v1/payments/statistics").status_code == 401


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admins_see_the_page_in_the_navigation(browser, make_user, role):
    user = make_user(f"{role}@example.com", role)
    browser.login(user.email)
    page = browser.get("/statistics").get_data(as_text=True)
    assert '<a href="/statistics" aria-current="page">Statistics</a>' in page
    assert "Last 30 days" in page and "Links created" in page
    assert browser.get("/statistics.csv").status_code == 200


# ---- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("query, status, code", [
    ("from=2026-13-01", 400, "invalid_parameter"),
    ("to=yesterday", 400, "invalid_parameter"),
    ("from=2026-03-02&to=2026-03-01", 422, "invalid_period"),
    ("from=2000-01-01&to=2026-01-01", 422, "invalid_period"),
    ("to=2999-01-01", 422, "invalid_period"),
    ("currency=XYZ", 422, "invalid_period"),
    ("currency=%3Dcmd", 422, "invalid_period"),
])
def test_the_api_refuses_a_bad_period_or_currency_clearly_and_changes_nothing(api, query, status, code):
    response = api.get(f"/payments/statistics?{query}")
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert db.session.get(StatisticsRollup, 1) is None
    assert db.session.scalar(db.select(db.func.count()).select_from(StatisticsDaily)) == 0


def test_the_page_explains_a_bad_period(signed_in_staff):
    response = signed_in_staff.get("/statistics?period=custom&from=2026-03-02&to=2026-03-01")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "is after" in page and 'class="error-summary"' in page
    assert signed_in_staff.get("/statistics?period=custom").status_code == 422
    assert signed_in_staff.get("/statistics?period=12").status_code == 400
    assert signed_in_staff.get("/statistics?currency=ZZZ").status_code == 422


def test_without_parameters_the_api_covers_all_time_and_the_page_30_days(api, signed_in_staff, make_invoice):
    invoice = make_invoice()
    attempt(invoice, "stripe", noon(100))
    attempt(invoice, "stripe", noon(0))
    db.session.commit()
    everything = api.get("/payments/statistics").get_json()
    assert everything["period"]["all_time"] and everything["period"]["days"] == 101
    assert everything["by_gateway"]["stripe"]["attempts"] == 2
    page = signed_in_staff.get("/statistics").get_data(as_text=True)
    assert 'data-figure="stripe.attempts">1<' in page and "(30 days," in page


# ---- breaker openings, latency --------------------------------------------------------------------

def test_breaker_openings_are_replayed_from_the_attempt_log(app, make_invoice):
    """The breaker's rule as the tests configure it (tests/conftest.py): half or more of at least 5 calls in
    30 s failed opens it; 30 s later the first answer is the probe's. A refusal (4xx) and a background job's
    lookups are not calls; an outage that began yesterday opens it today."""
    invoice = make_invoice()
    profile = merchant_settings()
    midnight = profile.start_of(profile.today())
    at = lambda seconds: midnight + timedelta(seconds=seconds)  # noqa: E731
    for s in (-10, -9, -8):
        attempt(invoice, "razorpay", at(s), "failure", "unreachable", "connection_failed")
    attempt(invoice, "razorpay", at(1), "failure", "server", "http_503")
    attempt(invoice, "razorpay", at(2), "failure", "timeout", "read_timeout")         # 5 of 5 failed: opens
    attempt(invoice, "razorpay", at(5), "success")                 # a call sent before it opened: no change
    attempt(invoice, "razorpay", at(40), "failure", "unreachable", "connection_failed")  # the probe fails: again
    attempt(invoice, "razorpay", at(80), "success", operation="find")                  # the next probe closes it
    for i in range(30):  # a third of the calls failing at random keeps it closed
        if i % 3 == 0:
            attempt(invoice, "razorpay", at(100 + i), "failure", "server", "http_503")
        else:
            attempt(invoice, "razorpay", at(100 + i), "success")
    for i in range(4):
        attempt(invoice, "razorpay", at(300 + i), "failure", "server", "http_503")
    for i in range(6):  # not calls: refusals, and a background job's failed lookups
        attempt(invoice, "razorpay", at(304) + timedelta(milliseconds=100 * i), "failure", "rejected", "bad_request")
        attempt(invoice, "razorpay", at(304) + timedelta(milliseconds=100 * i + 50), "failure", "unreachable",
                "connection_failed", operation="find")
    attempt(invoice, "stripe", at(310), "failure", "auth", "invalid_key")
    db.session.commit()
    stats = payment_statistics(today_only())
    assert stats["by_gateway"]["razorpay"]["breaker_openings"] == 2
    assert stats["by_gateway"]["stripe"]["breaker_openings"] == 0
    # 4 failed calls within 30 s are not enough calls yet: one more is.
    attempt(invoice, "razorpay", at(305), "failure", "server", "http_503")
    db.session.commit()
    assert payment_statistics(today_only())["breaker_openings"] == 3
    words = {r["words"]: r["count"] for r in payment_statistics(today_only())["reasons"]}
    assert words["Razorpay had an internal error (http_503)"] == 1 + 10 + 4 + 1
    assert words["Stripe refused our credentials (invalid_key)"] == 1


def test_latency_percentiles_from_exact_durations(app, make_invoice):
    invoice = make_invoice()
    for i, ms in enumerate([12, 15, 15, 20, 30, 45, 60, 80, 95, 1234]):
        attempt(invoice, "paypal", noon(0) + timedelta(seconds=i), ms=ms)
    attempt(invoice, "paypal", noon(0), "failure", "timeout", "read_timeout", ms=9000)  # failures are not latency
    db.session.commit()
    paypal = payment_statistics(today_only())["by_gateway"]["paypal"]
    # Nearest rank over 10 values: p50 at index round(4.5) = 4, 30 ms; p95 at index round(8.55) = 9, the
    # largest, 1234 ms, shown as its bucket (to 100 ms between 1 s and 10 s): 1200.
    assert paypal["latency_ms"] == {"p50": 30, "p95": 1200}
    assert (paypal["attempts"], paypal["successes"], paypal["success_rate"]) == (11, 10, 0.9091)


def test_percentile_of_a_histogram():
    assert percentile({}, 0.5) is None
    assert percentile({7: 1}, 0.95) == 7
    assert percentile({10: 50, 20: 49, 900: 1}, 0.5) == 20  # index round(49.5) = 50: the first 20
    assert percentile({10: 50, 20: 49, 900: 1}, 0.95) == 20
    assert percentile({10: 1, 20: 1, 30: 1, 40: 1}, 0.5) == 30  # index round(1.5) = 2, as stats._percentile


# ---- the rollup ------------------------------------------------------------------------------------

def test_the_rollup_keeps_finished_days_and_answers_the_same(app, make_invoice):
    invoice = make_invoice()
    for days_ago in (3, 2, 1, 0):
        attempt(invoice, "stripe", noon(days_ago), ms=10 + days_ago)
        attempt(invoice, "stripe", noon(days_ago) + timedelta(minutes=1), "failure", "server", "http_500", number=2)
    db.session.commit()
    today = merchant_settings().today()
    period = Period(today - timedelta(days=3), today)
    live = payment_statistics(period)
    just_after_midnight = merchant_settings().start_of(today) + timedelta(minutes=5)
    assert roll_up(now=just_after_midnight) == 2            # yesterday is not finished until SETTLE has passed
    settled = just_after_midnight + SETTLE
    assert roll_up(now=settled) == 1                        # three finished days in all; today is never stored
    assert db.session.get(StatisticsRollup, 1).rolled_through == today - timedelta(days=1)
    assert roll_up(now=settled) == 0                        # nothing new to add
    rolled = payment_statistics(period)
    assert rolled == live
    stripe = rolled["by_gateway"]["stripe"]
    assert (stripe["attempts"], stripe["successes"], stripe["retries"], stripe["latency_ms"]["p50"]) == (8, 4, 4, 12)
    assert [d["by_gateway"]["stripe"]["attempts"] for d in rolled["daily"]] == [2, 2, 2, 2]


def test_a_new_time_zone_counts_the_days_again(app, make_invoice):
    invoice = make_invoice()
    profile = merchant_settings()
    yesterday = profile.today() - timedelta(days=2)
    # 02:00 in Kolkata two days ago is 10:30 the day before in Honolulu (UTC-10).
    late = datetime.combine(yesterday, time(2, 0), tzinfo=profile.zone).astimezone(timezone.utc)
    attempt(invoice, "stripe", late)
    db.session.commit()
    roll_up()
    assert payment_statistics(Period(yesterday, yesterday))["attempts"] == 1
    db.session.add(MerchantSetting(id=1, business_name="Shop", default_currency="INR", time_zone="Pacific/Honolulu",
                                   payment_terms_days=14))
    db.session.commit()
    from portal.merchant.profile import forget_cached
    forget_cached()
    # The stored days were Kolkata's: they are ignored until the job counts Honolulu's days.
    assert payment_statistics(Period(yesterday, yesterday))["attempts"] == 0
    roll_up()
    assert db.session.get(StatisticsRollup, 1).time_zone == "Pacific/Honolulu"
    assert payment_statistics(Period(yesterday - timedelta(days=1), yesterday - timedelta(days=1)))["attempts"] == 1


# ---- CSV -----------------------------------------------------------------------------------------

def test_csv_download_names_the_period_and_holds_every_number(signed_in_staff, make_invoice):
    invoice = make_invoice()
    attempt(invoice, "stripe", noon(0), ms=33)
    db.session.commit()
    today = merchant_settings().today().isoformat()
    response = signed_in_staff.get("/statistics.csv?period=today&currency=INR")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="hisabpro-statistics-{today}-to-{today}-INR.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["section", "gateway", "date", "metric", "value"]
    assert all(len(r) == 5 for r in rows)
    assert ["gateway", "stripe", "", "latency_p50_ms", "33"] in rows
    assert ["period", "", "", "currency", "INR"] in rows


def test_csv_cells_cannot_become_formulas():
    assert [safe_cell(v) for v in ("=1+2", "+1", "-2", "@SUM(A1)", "\tx", "Stripe", 5, 0.25, None)] == \
        ["'=1+2", "'+1", "'-2", "'@SUM(A1)", "'\tx", "Stripe", 5, 0.25, ""]
    stats = {"period": {"from": "2026-01-01", "to": "2026-01-01", "time_zone": "=X"}, "currency": None,
             "collected": {}, "refunded": {}, "charged_back": {}, "net": {}, "by_gateway": {}, "daily": [],
             "reasons": [{"gateway": "stripe", "words": '=HYPERLINK("http://evil.example")', "count": 1}],
             **{k: 0 for k in ("links_created", "links_failed", "links_paid", "conversion_rate", "payments",
                               "average_seconds_to_pay", "cache_hits", "cache_misses", "cache_hit_rate", "attempts",
                               "retries", "retry_successes", "retry_success_rate", "fallbacks", "fallbacks_given",
                               "breaker_openings", "refunds", "chargebacks")}}
    cells = [safe_cell(c) for row in csv_rows(stats) for c in row]
    assert "'=X" in cells and "'=HYPERLINK(\"http://evil.example\")" in cells
    assert not any(isinstance(c, str) and c.startswith(("=", "+", "-", "@")) for c in cells)


def test_durations_read_as_words():
    assert [duration(s) for s in (None, 45, 600, 3600, 7500, 86400, 93600)] == \
        ["—", "45 s", "10 min", "1 h", "2 h 5 min", "1 d", "1 d 2 h"]
