"""Money back on the Statistics page, its CSV and GET /api/v1/payments/statistics (issue 12): refunds that went
through and disputes lost are counted apart from money collected, on the day they became final, and net is
collected less both. On top of the scripted history of test_statistics.py (2,469.00 INR paid through Razorpay,
120.00 USD through Stripe), refunds and disputes are written as the gateways report them
(portal/payments/refunds.py apply_refund / apply_dispute). A rolled-up day says what a live one says."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import jsonschema
import pytest

from portal.api.openapi import openapi_document
from portal.extensions import db
from portal.merchant import merchant_settings
from portal.models import (Dispute, GatewayAttempt, LinkClick, Payment, PaymentLink, Refund, StatisticsDaily)
from portal.money import Money
from portal.payments import refunds
from portal.payments.base import (DISPUTE_LOST, DISPUTE_OPEN, REFUND_FAILED, REFUND_PENDING, REFUND_SUCCEEDED,
                                  GatewayDispute, GatewayRefund)
from portal.statistics.numbers import roll_up

from .test_statistics import figures, history, page_matches_api  # noqa: F401 (history is a fixture)


def _payment(invoice) -> Payment:
    return db.session.scalars(db.select(Payment).where(Payment.invoice_id == invoice.id)).one()


def refund(payment: Payment, refund_id: str, minor: int, status: str = REFUND_SUCCEEDED):
    outcome = refunds.apply_refund(GatewayRefund(payment.gateway, refund_id, payment.payment_id,
                                                 Money(minor, payment.currency), status), "webhook")
    db.session.commit()
    assert outcome[0] == "applied", outcome


def dispute(payment: Payment, dispute_id: str, minor: int, status: str):
    outcome = refunds.apply_dispute(GatewayDispute(payment.gateway, dispute_id, payment.payment_id,
                                                   Money(minor, payment.currency), status, "fraudulent"), "webhook")
    db.session.commit()
    assert outcome[0] == "applied", outcome


@pytest.fixture
def money_back(history):  # noqa: F811
    """500.00 INR refunded (plus 100.00 pending and 200.00 failed, which count for nothing); the 120.00 USD
    payment disputed and the dispute lost."""
    inr, usd = _payment(history["a"]), _payment(history["d"])
    assert (inr.gateway, inr.amount_minor, usd.gateway, usd.amount_minor) == ("razorpay", 246900, "stripe", 12000)
    refund(inr, "rfnd_stats_1", 50000)
    refund(inr, "rfnd_stats_2", 10000, REFUND_PENDING)
    refund(inr, "rfnd_stats_3", 20000, REFUND_FAILED)
    dispute(usd, "dp_stats_1", 12000, DISPUTE_OPEN)
    dispute(usd, "dp_stats_1", 12000, DISPUTE_LOST)
    return history


def expected_money(stats):
    # Collected is unchanged: every payment is money that arrived.
    assert stats["collected"] == {"INR": "2469.00", "USD": "120.00"}
    assert stats["refunded"] == {"INR": "500.00", "USD": "0.00"}
    assert stats["refunded_minor"] == {"INR": 50000, "USD": 0}
    assert stats["charged_back"] == {"INR": "0.00", "USD": "120.00"}
    assert stats["net"] == {"INR": "1969.00", "USD": "0.00"}
    assert stats["net_minor"] == {"INR": 196900, "USD": 0}
    assert (stats["refunds"], stats["chargebacks"], stats["payments"]) == (1, 1, 2)
    rzp, st, pp = (stats["by_gateway"][n] for n in ("razorpay", "stripe", "paypal"))
    assert (rzp["collected"], rzp["refunded"], rzp["net"], rzp["refunds"]) == (
        {"INR": "2469.00"}, {"INR": "500.00"}, {"INR": "1969.00"}, 1)
    assert (st["collected"], st["refunded"], st["charged_back"], st["net"]) == (
        {"USD": "120.00"}, {"USD": "0.00"}, {"USD": "120.00"}, {"USD": "0.00"})
    assert (pp["refunded"], pp["net"], pp["refunds"]) == ({}, {}, 0)


def money_on_page(page: str, stats: dict) -> None:
    """The summary and the per-gateway table show the API's money back, formatted for people."""
    shown = figures(page)
    listed = lambda minor: ", ".join(Money(m, c).format() for c, m in minor.items())  # noqa: E731
    assert shown["refunded"] == listed(stats["refunded_minor"])
    assert shown["net"] == listed(stats["net_minor"])
    assert shown["refunds"] == str(stats["refunds"])
    if stats["chargebacks"]:
        assert shown["charged_back"] == listed(stats["charged_back_minor"])
    for name, g in stats["by_gateway"].items():
        for key in ("refunded", "net"):
            expected = ", ".join(Money.parse(v, c, allow_negative=True).format() for c, v in g[key].items()) or "—"
            assert shown[f"{name}.{key}"] == expected, (name, key)


def test_refunds_and_lost_disputes_are_counted_apart_and_the_page_api_and_csv_agree(money_back, api,
                                                                                     signed_in_staff):
    today = merchant_settings().today().isoformat()
    stats = api.get(f"/payments/statistics?from={today}&to={today}").get_json()
    expected_money(stats)
    expected_money(api.get("/payments/statistics").get_json())  # all time: the same
    [day] = stats["daily"]
    assert (day["collected"], day["refunded"], day["charged_back"], day["net"]) == (
        {"INR": "2469.00", "USD": "120.00"}, {"INR": "500.00", "USD": "0.00"}, {"INR": "0.00", "USD": "120.00"},
        {"INR": "1969.00", "USD": "0.00"})

    page = signed_in_staff.get("/statistics?period=today").get_data(as_text=True)
    page_matches_api(page, stats)
    money_on_page(page, stats)
    assert figures(page)["refunded"] == "₹500.00, $0.00" and figures(page)["net"] == "₹1,969.00, $0.00"
    assert figures(page)["razorpay.net"] == "₹1,969.00" and figures(page)["stripe.charged_back"] == "$120.00"
    assert "<svg" in page  # the collected chart is still drawn

    exported = signed_in_staff.get("/statistics.csv?period=today").get_data(as_text=True)
    rows = {(r["section"], r["gateway"], r["date"], r["metric"]): r["value"]
            for r in csv.DictReader(io.StringIO(exported))}
    assert rows[("summary", "", "", "refunded_INR")] == "500.00"
    assert rows[("summary", "", "", "net_INR")] == "1969.00"
    assert rows[("summary", "", "", "charged_back_USD")] == "120.00"
    assert rows[("summary", "", "", "refunds")] == "1"
    assert rows[("gateway", "razorpay", "", "refunded_INR")] == "500.00"
    assert rows[("day", "", today, "refunded_INR")] == "500.00"
    assert rows[("day", "", today, "net_USD")] == "0.00"


def test_one_currency_shows_its_own_money_back(money_back, api, signed_in_staff):
    today = merchant_settings().today().isoformat()
    stats = api.get(f"/payments/statistics?from={today}&to={today}&currency=USD").get_json()
    assert (stats["collected"], stats["refunded"], stats["charged_back"], stats["net"]) == (
        {"USD": "120.00"}, {"USD": "0.00"}, {"USD": "120.00"}, {"USD": "0.00"})
    assert (stats["refunds"], stats["chargebacks"]) == (0, 1)
    page = signed_in_staff.get(f"/statistics?period=custom&from={today}&to={today}&currency=USD").get_data(as_text=True)
    money_on_page(page, stats)
    assert "₹" not in page.split('data-figure="net">')[1].split("<")[0]


def _json_schema(node, schemas):
    """An OpenAPI 3.0 schema as plain JSON Schema: references inlined, `nullable` as a null type."""
    if isinstance(node, list):
        return [_json_schema(n, schemas) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(schemas[node["$ref"].rsplit("/", 1)[1]], schemas)
    out = {k: _json_schema(v, schemas) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def statistics_schema() -> dict:
    schemas = openapi_document()["components"]["schemas"]
    schema = _json_schema(schemas["Statistics"], schemas)
    for key in ("refunded", "refunded_minor", "charged_back", "net", "net_minor", "refunds", "chargebacks"):
        assert key in schema["properties"], key
    return schema


def test_the_answer_is_what_the_openapi_document_says(money_back, api):
    stats = api.get("/payments/statistics").get_json()
    expected_money(stats)
    jsonschema.validate(stats, statistics_schema())


def _shift(days: int) -> None:
    """Move everything recorded back by `days` (the engine and the ledger can only write now)."""
    shift = timedelta(days=days)
    for model, columns in ((GatewayAttempt, ("created_at",)), (LinkClick, ("created_at",)),
                           (Payment, ("received_at",)), (PaymentLink, ("created_at",)),
                           (Refund, ("created_at", "settled_at", "succeeded_at")), (Dispute, ("opened_at", "closed_at"))):
        for row in db.session.scalars(db.select(model)):
            for column in columns:
                if getattr(row, column) is not None:
                    setattr(row, column, getattr(row, column) - shift)
    db.session.commit()


def test_a_rolled_up_day_shows_the_same_money_back_as_a_live_one(money_back, api, signed_in_staff):
    profile = merchant_settings()
    today = profile.today()
    day = (today - timedelta(days=2)).isoformat()
    _shift(2)
    live = api.get(f"/payments/statistics?from={day}&to={day}").get_json()
    expected_money(live)
    assert roll_up() >= 1
    stored = {row.metric for row in db.session.scalars(db.select(StatisticsDaily))}
    assert {"refunded", "refunds", "charged_back", "chargebacks"} <= stored
    rolled = api.get(f"/payments/statistics?from={day}&to={day}").get_json()
    assert rolled == live

    # Today, live: the INR payment of two days ago is refunded again. A period spanning the rolled-up day and
    # today counts each refund on its own day, and adds them up.
    refund(_payment(money_back["a"]), "rfnd_stats_4", 30000)
    span = api.get(f"/payments/statistics?from={day}&to={today.isoformat()}").get_json()
    assert span["refunded"] == {"INR": "800.00", "USD": "0.00"} and span["refunds"] == 2
    assert span["net"] == {"INR": "1669.00", "USD": "0.00"}
    by_day = {d["date"]: d for d in span["daily"]}
    assert by_day[day]["refunded"]["INR"] == "500.00" and by_day[day]["net"]["USD"] == "0.00"
    assert by_day[today.isoformat()]["refunded"]["INR"] == "300.00"
    assert by_day[today.isoformat()]["collected"]["INR"] == "0.00"
    assert by_day[today.isoformat()]["net"]["INR"] == "-300.00"  # money went back, none arrived
    jsonschema.validate(span, statistics_schema())  # a negative net is documented money too
    page = signed_in_staff.get(f"/statistics?period=custom&from={day}&to={today.isoformat()}").get_data(as_text=True)
    page_matches_api(page, span)
    money_on_page(page, span)
    # Today's refund leaves the rolled-up day as it was.
    assert api.get(f"/payments/statistics?from={day}&to={day}").get_json() == live

    # Today the rolled-up day's refund fails after it had succeeded (Stripe does this, rarely): the money is back
    # today. The rolled-up day still says what it said, and the span nets it out, live or rolled up alike.
    refund(_payment(money_back["a"]), "rfnd_stats_1", 50000, REFUND_FAILED)
    assert api.get(f"/payments/statistics?from={day}&to={day}").get_json() == live
    span = api.get(f"/payments/statistics?from={day}&to={today.isoformat()}").get_json()
    assert span["refunded"] == {"INR": "300.00", "USD": "0.00"} and span["refunds"] == 1
    assert {d["date"]: d for d in span["daily"]}[today.isoformat()]["refunded"]["INR"] == "-200.00"


def _home_card(page: str, currency: str) -> dict[str, str]:
    card = page.split(f'id="total-{currency}"')[1].split("</section>")[0]
    return figures(card)


def test_home_shows_what_went_back_beside_what_was_collected(money_back, signed_in_staff):
    page = signed_in_staff.get("/").get_data(as_text=True)
    inr, usd = _home_card(page, "INR"), _home_card(page, "USD")
    # Collected stays what arrived (the sum of its chart's bars); what went back and the net are beside it.
    assert (inr["collected"], inr["refunded"], inr["net"]) == ("₹2,469.00", "₹500.00", "₹1,969.00")
    assert "charged_back" not in inr
    assert (usd["collected"], usd["charged_back"], usd["net"]) == ("$120.00", "$120.00", "$0.00")
