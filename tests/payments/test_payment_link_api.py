"""The payment-link surfaces integrators and staff use: JSON API, invoice page panel, gateways page, CLI."""
import re

from portal.extensions import db
from portal.models import AuditEvent, GatewaySetting, PaymentLink, RoutingRule
from tests.conftest import gateway_objects

USD = [{"description": "Consulting", "quantity": 1, "unit_price": "120.00"}]


def test_api_creates_then_reuses_a_link(pay_app, api, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    first = api.post(f"/invoices/{invoice.id}/payment-link")
    assert first.status_code == 200
    body = first.get_json()
    assert body["gateway"] == "razorpay" and body["cached"] is False
    assert body["url"].startswith(pay_app.config["RAZORPAY_API_BASE"])
    assert body["attempts"] == [{"gateway": "razorpay", "operation": "create", "attempt": 1, "outcome": "success",
                                 "error_code": None, "duration_ms": body["attempts"][0]["duration_ms"]}]
    assert body["expires_at"] and body["link_id"]
    second = api.post(f"/invoices/{invoice.id}/payment-link", json={}).get_json()
    assert second["cached"] is True and second["url"] == body["url"] and second["attempts"] == []
    shown = api.get(f"/invoices/{invoice.id}").get_json()
    assert [(l["gateway"], l["status"]) for l in shown["links"]] == [("razorpay", "created")]


def test_api_honours_an_explicit_gateway_and_refuses_impossible_ones(pay_app, api, make_invoice):
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    assert api.post(f"/invoices/{invoice.id}/payment-link", json={"gateway": "paypal"}).get_json()["gateway"] == "paypal"
    inr = make_invoice(currency="INR", open_it=True)
    refused = api.post(f"/invoices/{inr.id}/payment-link", json={"gateway": "paypal"})
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "gateway_unavailable"
    unknown = api.post(f"/invoices/{inr.id}/payment-link", json={"gateway": "bitcoin"})
    assert unknown.status_code == 422
    assert db.session.scalar(db.select(db.func.count(PaymentLink.id)).where(PaymentLink.invoice_id == inr.id)) == 0


def test_api_409_for_void_and_503_when_every_gateway_is_down(pay_app, api, make_invoice, control):
    void = make_invoice(currency="INR")
    api.post(f"/invoices/{void.id}/void")
    response = api.post(f"/invoices/{void.id}/payment-link")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "invoice_not_payable"
    for gateway in ("razorpay", "stripe", "paypal"):
        control.post("/_sandbox/faults", {"gateway": gateway, "mode": "down"})
    invoice = make_invoice(currency="INR", open_it=True)
    down = api.post(f"/invoices/{invoice.id}/payment-link")
    assert down.status_code == 503
    error = down.get_json()["error"]
    assert error["code"] == "no_gateway_available" and error["attempts"]
    assert {a["error_code"] for a in error["attempts"]} and down.headers["Retry-After"]


def test_api_rejects_a_malformed_body(pay_app, api, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    bad = api.post(f"/invoices/{invoice.id}/payment-link", data="[1,2]", content_type="application/json")
    assert bad.status_code == 400
    wrong = api.post(f"/invoices/{invoice.id}/payment-link", json={"gateway": 7})
    assert wrong.status_code == 422
    assert api.post("/invoices/999999/payment-link").status_code == 404


def test_gateways_and_statistics_endpoints(pay_app, api, make_invoice, control):
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "down"})
    invoice = make_invoice(currency="INR", open_it=True)
    api.post(f"/invoices/{invoice.id}/payment-link")
    api.post(f"/invoices/{invoice.id}/payment-link")
    gateways = {g["name"]: g for g in api.get("/gateways").get_json()}
    assert set(gateways) == {"razorpay", "stripe", "paypal"}
    for g in gateways.values():
        assert {"name", "configured", "enabled", "test_mode", "breaker", "success_rate", "latency_ms",
                "last_error", "last_webhook_at"} <= set(g)
        assert g["configured"] and g["test_mode"] is True
    assert gateways["razorpay"]["success_rate"] == 0.0 and gateways["razorpay"]["last_error"]["kind"] == "unreachable"
    assert gateways["stripe"]["success_rate"] == 1.0 and gateways["stripe"]["latency_ms"]["p50"] >= 0
    stats = api.get("/payments/statistics").get_json()
    assert {"total_gateways", "enabled_gateways", "links_created", "links_paid", "cache_hits", "cache_misses",
            "cache_hit_rate", "retries", "retry_successes", "retry_success_rate", "fallbacks", "by_gateway",
            "collected"} <= set(stats)
    assert (stats["total_gateways"], stats["enabled_gateways"]) == (3, 3)
    assert (stats["links_created"], stats["cache_hits"], stats["cache_misses"], stats["fallbacks"]) == (1, 1, 1, 1)
    assert stats["cache_hit_rate"] == 0.5
    assert stats["retries"] == 0 and stats["retry_successes"] == 0  # a refused Razorpay is not retried: Stripe next


def test_staff_generate_a_link_from_the_invoice_page_with_htmx(pay_app, signed_in_staff, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Generate payment link" in page
    response = signed_in_staff.post(f"/invoices/{invoice.id}/payment-link", token_page=f"/invoices/{invoice.id}",
                                    headers={"HX-Request": "true"})
    panel = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in panel
    url = re.search(r'id="link-url" class="link-url" readonly value="([^"]+)"', panel).group(1)
    assert url.startswith(pay_app.config["RAZORPAY_API_BASE"])
    assert "Razorpay" in panel and "first choice for INR" in panel
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert url in page and "payment link" in page  # the link and the audit entry stay on the page


def test_the_page_explains_a_failure_in_plain_words(pay_app, signed_in_staff, make_invoice, control):
    for gateway in ("razorpay", "stripe"):
        control.post("/_sandbox/faults", {"gateway": gateway, "mode": "down"})
    invoice = make_invoice(currency="INR", open_it=True)
    response = signed_in_staff.post(f"/invoices/{invoice.id}/payment-link", token_page=f"/invoices/{invoice.id}",
                                    headers={"HX-Request": "true"})
    panel = response.get_data(as_text=True)
    assert "No payment gateway could create a link right now" in panel
    assert "Nothing was charged" in panel and "unreachable" in panel


def test_without_javascript_the_button_still_works(pay_app, signed_in_staff, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    response = signed_in_staff.post(f"/invoices/{invoice.id}/payment-link", token_page=f"/invoices/{invoice.id}",
                                    follow_redirects=True)
    assert "Payment link ready (razorpay)" in response.get_data(as_text=True)


def test_gateways_page_shows_health_and_only_admins_change_it(pay_app, signed_in_staff, make_invoice, admin):
    page = signed_in_staff.get("/gateways/").get_data(as_text=True)
    assert "Razorpay" in page and 'href="/statistics">Statistics</a>' in page and 'hx-trigger="every 5s"' in page
    assert signed_in_staff.post("/gateways/stripe/enabled", {"enabled": "0"}, token_page="/gateways/").status_code == 403
    assert db.session.get(GatewaySetting, "stripe") is None


def test_admin_switches_a_gateway_off_forces_a_breaker_and_reorders_routing(pay_app, signed_in_admin, make_invoice):
    from portal.payments import engine

    assert signed_in_admin.post("/gateways/razorpay/enabled", {"enabled": "0"}, token_page="/gateways/").status_code == 303
    assert engine.generate_link(make_invoice(currency="INR", open_it=True)).link.gateway == "stripe"
    signed_in_admin.post("/gateways/razorpay/enabled", {"enabled": "1"}, token_page="/gateways/")
    signed_in_admin.post("/gateways/razorpay/breaker", {"state": "open"}, token_page="/gateways/")
    assert engine.generate_link(make_invoice(currency="INR", open_it=True)).link.gateway == "stripe"
    signed_in_admin.post("/gateways/razorpay/breaker", {"state": "auto"}, token_page="/gateways/")
    signed_in_admin.post("/gateways/routing", {"currency": "usd", "gateways": "paypal, stripe"}, token_page="/gateways/")
    assert db.session.get(RoutingRule, "USD").order == ["paypal", "stripe"]
    usd = make_invoice(currency="USD", items=USD, open_it=True)
    assert engine.generate_link(usd).link.gateway == "paypal"
    bad = signed_in_admin.post("/gateways/routing", {"currency": "USD", "gateways": "paypal, bitcoin"},
                               token_page="/gateways/", follow_redirects=True)
    assert "List each gateway at most once" in bad.get_data(as_text=True)
    assert db.session.get(RoutingRule, "USD").order == ["paypal", "stripe"]
    actions = [e.action for e in db.session.scalars(db.select(AuditEvent).where(AuditEvent.subject_type == "setting"))]
    assert {"gateway.disabled", "gateway.enabled", "gateway.breaker", "routing.changed"} <= set(actions)


def test_payments_check_reports_each_gateway(pay_app, runner, control):
    result = runner.invoke(args=["payments", "check"])
    assert result.exit_code == 0, result.output
    for name in ("Razorpay", "Stripe", "PayPal"):
        assert re.search(rf"^{name}\s+ok \(test\): credentials accepted; test link created and cancelled", result.output, re.M)
    assert any(s["status"] == "expired" for s in gateway_objects(control, "stripe"))


def test_payments_check_fails_on_refused_keys_and_says_why(pay_app, runner):
    pay_app.config["STRIPE_SECRET_KEY"] = "sk_test_wrong_key_123"
    result = runner.invoke(args=["payments", "check"])
    assert result.exit_code == 1
    assert re.search(r"^Stripe\s+FAILED \(test\): FAIL credentials: auth", result.output, re.M)
    assert "sk_test_wrong_key_123" not in result.output
    assert "Traceback" not in result.output
