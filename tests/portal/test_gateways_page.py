"""The Gateways page: one live partial, what staff and admins may do, routing moved up and down with buttons."""
import re

import pytest

from portal.extensions import db
from portal.models import AuditEvent, GatewaySetting, RoutingRule
from portal.payments import engine, routing

USD = [{"description": "Consulting", "quantity": 1, "unit_price": "120.00"}]


def test_htmx_gets_the_health_fragment_and_vary_says_so(pay_app, signed_in_staff):
    full = signed_in_staff.get("/gateways/")
    part = signed_in_staff.get("/gateways/", headers={"HX-Request": "true"})
    assert full.status_code == part.status_code == 200
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in part.headers["Vary"]
    full_html, fragment = full.get_data(as_text=True), part.get_data(as_text=True)
    assert full_html.count("hx-trigger=") == 1 and 'hx-trigger="every 5s"' in full_html  # one poller
    assert "<html" not in fragment and "<nav" not in fragment and "hx-trigger" not in fragment
    assert re.search(r'id="gw-razorpay-sentence">Working</p>', fragment)
    # The sentence comes before the folded details.
    assert fragment.index('id="gw-razorpay-sentence"') < fragment.index('<details id="gw-razorpay-details">')


def test_staff_see_health_and_routing_but_no_controls(pay_app, signed_in_staff):
    html = signed_in_staff.get("/gateways/").get_data(as_text=True)
    assert "Working" in html and "Routing" in html and "Razorpay" in html
    for control in ("Switch off", "Hold open", "Move up", "Move down", "Give a currency its own order"):
        assert control not in html


ADMIN_POSTS = [
    ("/gateways/stripe/enabled", {"enabled": "0"}),
    ("/gateways/stripe/breaker", {"state": "open"}),
    ("/gateways/routing", {"currency": "USD", "gateways": "paypal,stripe"}),
    ("/gateways/routing/move", {"currency": "USD", "gateway": "paypal", "direction": "up"}),
    ("/gateways/routing/add", {"currency": "EUR"}),
    ("/gateways/routing/reset", {"currency": "USD"}),
]


@pytest.mark.parametrize("path,data", ADMIN_POSTS)
def test_staff_cannot_change_anything(pay_app, signed_in_staff, path, data):
    db.session.add(RoutingRule(currency="USD", gateways="stripe,paypal"))
    db.session.commit()
    response = signed_in_staff.post(path, data, token_page="/gateways/")
    assert response.status_code == 403
    assert db.session.get(GatewaySetting, "stripe") is None
    assert {r.currency: r.gateways for r in db.session.scalars(db.select(RoutingRule))} == {"USD": "stripe,paypal"}
    assert not db.session.scalars(db.select(AuditEvent).where(AuditEvent.subject_type == "setting")).all()


def test_admin_moves_a_gateway_up_and_payments_follow_the_new_order(pay_app, signed_in_admin, make_invoice):
    html = signed_in_admin.get("/gateways/").get_data(as_text=True)
    assert 'action="/gateways/routing/move"' in html and 'name="direction" value="up"' in html  # forms: no JS needed
    assert routing.routes()["USD"] == ["stripe", "paypal", "razorpay"]
    response = signed_in_admin.post("/gateways/routing/move",
                                    {"currency": "USD", "gateway": "paypal", "direction": "up"}, token_page="/gateways/")
    assert response.status_code == 303 and response.headers["Location"].endswith("/gateways/#routing")
    assert db.session.get(RoutingRule, "USD").order == ["paypal", "stripe", "razorpay"]
    assert engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True)).link.gateway == "paypal"
    signed_in_admin.post("/gateways/routing/move", {"currency": "USD", "gateway": "stripe", "direction": "down"},
                         token_page="/gateways/")
    assert db.session.get(RoutingRule, "USD").order == ["paypal", "razorpay", "stripe"]
    page = signed_in_admin.get("/gateways/").get_data(as_text=True)
    assert "set by an admin" in page
    audit = [e.summary for e in db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "routing.changed")
                                                   .order_by(AuditEvent.id))]
    assert audit == ["USD: PayPal moved up; now paypal → stripe → razorpay",
                     "USD: Stripe moved down; now paypal → razorpay → stripe"]


def test_moving_past_the_end_changes_nothing_and_nonsense_is_refused(pay_app, signed_in_admin):
    signed_in_admin.post("/gateways/routing/move", {"currency": "INR", "gateway": "razorpay", "direction": "up"},
                         token_page="/gateways/")
    assert db.session.get(RoutingRule, "INR") is None  # already first
    refused = signed_in_admin.post("/gateways/routing/move", {"currency": "INR", "gateway": "paypal", "direction": "up"},
                                   token_page="/gateways/")
    assert refused.status_code == 400  # PayPal is not in INR's order (it takes no INR)
    sideways = signed_in_admin.post("/gateways/routing/move",
                                    {"currency": "INR", "gateway": "stripe", "direction": "sideways"},
                                    token_page="/gateways/")
    assert sideways.status_code == 400
    bad = signed_in_admin.post("/gateways/routing/move", {"currency": "XX1", "gateway": "stripe", "direction": "up"},
                               token_page="/gateways/", follow_redirects=True)
    assert bad.status_code == 200 and db.session.scalars(db.select(RoutingRule)).all() == []


def test_admin_gives_a_currency_its_own_order_then_sets_it_back(pay_app, signed_in_admin):
    signed_in_admin.post("/gateways/routing/add", {"currency": "eur"}, token_page="/gateways/")
    rule = db.session.get(RoutingRule, "EUR")
    assert rule is not None and rule.order == ["stripe", "paypal", "razorpay"]
    again = signed_in_admin.post("/gateways/routing/add", {"currency": "EUR"}, token_page="/gateways/",
                                 follow_redirects=True)
    assert "already has its own order" in again.get_data(as_text=True)
    signed_in_admin.post("/gateways/routing/reset", {"currency": "EUR"}, token_page="/gateways/")
    assert db.session.get(RoutingRule, "EUR") is None
    details = [e.summary for e in db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "routing.changed"))]
    assert "EUR: back to the default" in details


def test_admin_switch_and_breaker_buttons(pay_app, signed_in_admin):
    html = signed_in_admin.get("/gateways/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="gw-stripe-switch">Switch off</button>' in html
    signed_in_admin.post("/gateways/stripe/breaker", {"state": "open"}, token_page="/gateways/")
    html = signed_in_admin.get("/gateways/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert re.search(r'id="gw-stripe-breaker-open"\s+aria-pressed="true" disabled>Hold open', html)
    assert "(set by an admin)" in html and re.search(r'id="gw-stripe-sentence">Down since', html)
    signed_in_admin.post("/gateways/stripe/breaker", {"state": "auto"}, token_page="/gateways/")
    signed_in_admin.post("/gateways/stripe/enabled", {"enabled": "0"}, token_page="/gateways/")
    html = signed_in_admin.get("/gateways/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="gw-stripe-switch">Switch on</button>' in html
    assert re.search(r'id="gw-stripe-sentence">Switched off by an admin', html)
    # The confirmation names the gateway as people know it and says what follows.
    page = signed_in_admin.get("/gateways/").get_data(as_text=True)
    assert "Stripe is switched off: no new payment goes to it until an admin switches it on." in page
