"""The Statistics page, its CSV and GET /api/v1/payments/statistics show the same numbers, for a scripted
history driven through the real engine against the sandbox: a reuse, a gateway down (refused at once, fallback, its
breaker opening, then skipped), a retry that succeeds, a click no gateway could serve, a customer who cancelled, and two
payments found by reconciliation. The expected numbers are counted by hand from that script."""
from __future__ import annotations

import csv
import io
import random
import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.merchant import merchant_settings
from portal.models import (GatewayAttempt, Invoice, LinkClick, Payment, PaymentLink, StatisticsDaily,
                           StatisticsRollup)
from portal.payments import engine
from portal.payments.reconcile import reconcile
from portal.statistics.numbers import roll_up

USD = [{"description": "Consulting", "quantity": 1, "unit_price": "120.00"}]
FIGURE = re.compile(r'data-figure="([^"]+)">([^<]*)<')


def fault(control, gateway, mode, **extra):
    control.post("/_sandbox/faults", {"gateway": gateway, "mode": mode, **extra})


def first_fails_then_ok_seed(rate: float = 0.5) -> int:
    """A seed whose first roll is an error and whose second is not (sandbox faults roll random.Random(seed))."""
    return next(s for s in range(1000)
                if (lambda r: r.random() < rate and r.random() >= rate)(random.Random(s)))


@pytest.fixture
def history(pay_app, make_invoice, control, client):
    a = make_invoice(currency="INR", open_it=True)                       # 2,469.00 INR
    assert engine.generate_link(a).link.gateway == "razorpay"             # razorpay: attempt 1, success
    assert engine.generate_link(a).cached                                 # reused: a cache hit
    fault(control, "razorpay", "down")
    b = make_invoice(currency="INR", open_it=True)
    assert engine.generate_link(b).link.gateway == "stripe"               # razorpay refuses once: straight to stripe
    c = [make_invoice(currency="INR", open_it=True) for _ in range(4)]
    for invoice in c[:3]:                                                 # 3 more refusals: 4 of 5 calls failed,
        assert engine.generate_link(invoice).fallback                     # which opens it (tests/conftest.py)
    assert engine.breaker().state("razorpay") == "open"
    skipped = engine.generate_link(c[3])                                  # razorpay skipped: not a fallback
    assert skipped.link.gateway == "stripe" and not skipped.fallback
    fault(control, "stripe", "error", error_rate=0.5, status=503, seed=first_fails_then_ok_seed())
    d = make_invoice(currency="USD", items=USD, open_it=True)
    result = engine.generate_link(d)                                      # stripe fails once, the retry succeeds
    assert result.link.gateway == "stripe" and [x.attempt for x in result.attempts] == [1, 2]
    fault(control, "stripe", "down")
    fault(control, "paypal", "down")
    e = make_invoice(currency="USD", items=USD, open_it=True)
    with pytest.raises(engine.NoGatewayAvailable):                        # stripe refuses once (paypal is left),
        engine.generate_link(e)                                           # paypal 3, then stripe 3 more; razorpay
                                                                          # skipped (open)
    for name in ("razorpay", "stripe", "paypal"):
        fault(control, name, "ok")
        engine.breaker().reset(name)
    # The customer of B leaves Stripe's page without paying; A and D are paid, found by reconciliation.
    assert client.get(f"/pay/{b.pay_token}/cancelled/stripe").status_code in (302, 303)
    for invoice in (a, d):
        link = db.session.scalars(db.select(PaymentLink).where(PaymentLink.invoice_id == invoice.id,
                                                              PaymentLink.status == "created")).one()
        control.post("/_sandbox/pay", {"gateway": link.gateway, "id": link.link_id})
    reconcile()
    assert {i.number: i.status for i in db.session.scalars(db.select(Invoice))}[a.number] == "paid"
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def figures(html: str) -> dict[str, str]:
    return {k: v.strip() for k, v in FIGURE.findall(html)}


def expected_all_currencies(stats):
    assert (stats["links_created"], stats["links_failed"], stats["links_paid"]) == (7, 1, 2)
    assert (stats["cache_hits"], stats["cache_misses"], stats["cache_hit_rate"]) == (1, 8, 0.1111)
    assert stats["conversion_rate"] == 0.2857
    assert stats["collected"] == {"INR": "2469.00", "USD": "120.00"}
    assert stats["collected_minor"] == {"INR": 246900, "USD": 12000}
    # Retries: stripe's second call for D; for E paypal's calls 2 and 3 and stripe's second pass, calls 2 and 3.
    assert (stats["retries"], stats["retry_successes"], stats["retry_success_rate"]) == (5, 1, 0.2)
    assert (stats["fallbacks"], stats["fallbacks_given"], stats["breaker_openings"]) == (4, 4, 1)
    rzp, st, pp = (stats["by_gateway"][n] for n in ("razorpay", "stripe", "paypal"))
    assert (rzp["attempts"], rzp["successes"], rzp["retries"], rzp["retry_successes"]) == (5, 1, 0, 0)
    assert (rzp["fallbacks_given"], rzp["fallbacks_received"], rzp["breaker_openings"]) == (4, 0, 1)
    assert rzp["success_rate"] == 0.2 and rzp["cache_hits"] == 1 and rzp["collected"] == {"INR": "2469.00"}
    # B and the four C (the last skipped razorpay): 5 successes; D: a 503 then a success; E: 1 refusal, then 3 more after paypal's.
    assert (st["attempts"], st["successes"], st["retries"], st["retry_successes"]) == (11, 6, 3, 1)
    assert (st["fallbacks_received"], st["fallbacks_given"], st["breaker_openings"]) == (4, 0, 0)
    assert st["success_rate"] == 0.5455 and st["collected"] == {"USD": "120.00"}
    assert (pp["attempts"], pp["successes"], pp["retries"], pp["success_rate"]) == (3, 0, 2, 0.0)
    assert pp["latency_ms"] == {"p50": None, "p95": None}
    assert rzp["latency_ms"]["p50"] is not None and st["latency_ms"]["p95"] >= st["latency_ms"]["p50"]
    reasons = {(r["gateway"], r["kind"]): r["count"] for r in stats["reasons"]}
    assert reasons == {("razorpay", "unreachable"): 4, ("stripe", "unreachable"): 4, ("stripe", "server"): 1,
                       ("paypal", "unreachable"): 3, ("stripe", "cancelled"): 1}
    words = [r["words"] for r in stats["reasons"]]
    assert words[0].startswith("Razorpay could not be reached")
    assert "Stripe saw the customer cancel and come back" in words


def page_matches_api(page: str, stats: dict) -> None:
    """Every figure the page marks equals the API's number, formatted as the page formats it."""
    shown = figures(page)
    pct = lambda r: "—" if r is None else f"{r * 100:.1f}%"  # noqa: E731
    for key in ("links_created", "links_paid", "links_failed", "cache_hits", "retries", "retry_successes",
                "fallbacks"):
        assert shown[key] == str(stats[key]), key
    assert shown["conversion_rate"] == pct(stats["conversion_rate"])
    assert shown["cache_hit_rate"] == pct(stats["cache_hit_rate"])
    for name, g in stats["by_gateway"].items():
        assert shown[f"{name}.attempts"] == str(g["attempts"])
        assert shown[f"{name}.success_rate"] == pct(g["success_rate"])
        assert shown[f"{name}.retries"] == f"{g['retries']} ({g['retry_successes']})"
        assert shown[f"{name}.fallbacks_received"] == str(g["fallbacks_received"])
        assert shown[f"{name}.fallbacks_given"] == str(g["fallbacks_given"])
        assert shown[f"{name}.breaker_openings"] == str(g["breaker_openings"])
        assert shown[f"{name}.cache_hits"] == str(g["cache_hits"])
        for p in ("p50", "p95"):
            value = g["latency_ms"][p]
            assert shown[f"{name}.{p}"] == ("—" if value is None else f"{value} ms")
    for r in stats["reasons"]:
        assert shown[f"reason.{r['gateway']}.{r['kind']}.{r['code'] or ''}"] == str(r["count"])
        assert r["words"] in page


def test_page_api_and_csv_agree_on_a_scripted_history(history, api, signed_in_staff):
    today = merchant_settings().today().isoformat()
    everything = api.get("/payments/statistics").get_json()
    expected_all_currencies(everything)
    assert everything["period"]["all_time"] is True and everything["period"]["to"] == today

    stats = api.get(f"/payments/statistics?from={today}&to={today}").get_json()
    expected_all_currencies(stats)
    assert stats["period"] == {"from": today, "to": today, "days": 1, "all_time": False,
                               "time_zone": "Asia/Kolkata"}
    assert stats["daily"][0]["links_created"] == 7 and stats["daily"][0]["collected"] == {"INR": "2469.00",
                                                                                          "USD": "120.00"}
    response = signed_in_staff.get("/statistics?period=today")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    page_matches_api(page, stats)
    assert "₹2,469.00" in page and "$120.00" in page  # money formatted for people
    assert figures(page)["collected"] == "₹2,469.00, $120.00"
    assert "Razorpay could not be reached" in page and "<svg" in page

    exported = signed_in_staff.get("/statistics.csv?period=today")
    assert exported.headers["Content-Disposition"] == f'attachment; filename="hisabpro-statistics-{today}-to-{today}.csv"'
    rows = {(r["section"], r["gateway"], r["date"], r["metric"]): r["value"]
            for r in csv.DictReader(io.StringIO(exported.get_data(as_text=True)))}
    assert rows[("summary", "", "", "links_created")] == "7"
    assert rows[("summary", "", "", "collected_INR")] == "2469.00"
    assert rows[("gateway", "razorpay", "", "breaker_openings")] == "1"
    assert rows[("gateway", "stripe", "", "success_rate")] == str(stats["by_gateway"]["stripe"]["success_rate"])
    assert rows[("day", "stripe", today, "attempts")] == "11"


def test_one_currency(history, api, signed_in_staff):
    today = merchant_settings().today().isoformat()
    stats = api.get(f"/payments/statistics?from={today}&to={today}&currency=inr").get_json()
    assert stats["currency"] == "INR"
    assert (stats["links_created"], stats["links_failed"], stats["links_paid"], stats["cache_hits"]) == (6, 0, 1, 1)
    assert stats["collected"] == {"INR": "2469.00"}
    assert stats["by_gateway"]["stripe"]["attempts"] == 5 and stats["by_gateway"]["paypal"]["attempts"] == 0
    assert stats["breaker_openings"] == 1  # a breaker belongs to the gateway, whatever the currency
    page = signed_in_staff.get(f"/statistics?period=custom&from={today}&to={today}&currency=INR").get_data(as_text=True)
    page_matches_api(page, stats)
    assert "$120.00" not in page


def test_finished_days_come_from_the_rollup_and_say_the_same(history, api, signed_in_staff):
    """Move the history two days back (the engine can only write today), roll it up, ask again."""
    profile = merchant_settings()
    day = (profile.today() - timedelta(days=2)).isoformat()
    shift = timedelta(days=2)
    for model, column in ((GatewayAttempt, "created_at"), (LinkClick, "created_at"), (Payment, "received_at"),
                          (PaymentLink, "created_at")):
        for row in db.session.scalars(db.select(model)):
            setattr(row, column, getattr(row, column) - shift)
    db.session.commit()
    live = api.get(f"/payments/statistics?from={day}&to={day}").get_json()
    expected_all_currencies(live)
    assert roll_up() >= 1
    assert db.session.get(StatisticsRollup, 1).rolled_through >= profile.today() - timedelta(days=2)
    assert db.session.scalar(db.select(db.func.count()).select_from(StatisticsDaily)) > 0
    rolled = api.get(f"/payments/statistics?from={day}&to={day}").get_json()
    assert rolled == live
    assert api.get(f"/payments/statistics?from={day}").get_json()["links_created"] == 7
    page = signed_in_staff.get(f"/statistics?period=custom&from={day}&to={day}").get_data(as_text=True)
    page_matches_api(page, rolled)
    # Nothing happened today: a period of today alone is empty.
    assert api.get("/payments/statistics?from={0}&to={0}".format(profile.today().isoformat())).get_json()["links_created"] == 0
