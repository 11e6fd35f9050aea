"""Every staff and public page, in Chromium at desktop and phone sizes: no sideways scrolling on a phone,
no serious or critical accessibility violations (axe-core, shipped inside axe-playwright-python).

To cover a new page, add its path to STAFF_PAGES or PUBLIC_PAGES. `{draft}`, `{paid}`, `{part}` are
invoice ids and `{token}` / `{paid_token}` pay tokens from the `site` fixture; add a key there if a
page needs another seeded row. Set LOOK_SHOTS=/some/dir to keep a full-page screenshot of each visit.
"""
from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.extensions import db
import json

import requests

from portal.mail.unsubscribe import stop_url
from portal.models import AuditEvent, OutboxMessage, PaymentLink, PaymentMismatch, WebhookDelivery
from portal.money import Money
from portal.payments import ledger, refunds
from portal.payments.base import (DISPUTE_OPEN, REFUND_FAILED, REFUND_PENDING, REFUND_SUCCEEDED, GatewayDispute,
                                  GatewayPayment, GatewayRefund)
from tests.conftest import PASSWORD

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}

# Signed in as an admin: admins see every control staff see, and more.
STAFF_PAGES = [
    "/",
    "/invoices/",
    "/invoices/?sort=amount&dir=desc",
    "/invoices/{draft}",
    "/invoices/{part}",
    "/invoices/{paid}",
    "/invoices/{money_back}",
    "/invoices/{overpaid}",
    "/invoices/new",
    "/invoices/{draft}/edit",
    "/users/",
    "/users/new",
    "/gateways/",
    "/deliveries/",
    "/deliveries/{delivery}",
    "/deliveries/{rejected}",
    "/outbox/",
    "/outbox/{message}",
    "/attention/",
    "/statistics",
    "/statistics?period=custom&from=2026-01-01&currency=INR",
    "/account",
    "/customers/",
    "/customers/{customer}",
    "/customers/{customer}/edit",
    "/settings/",
    "/settings/tax-rates",
    "/invoices/2147483000",  # the error page, as staff see it
]
# Nobody signed in: the sign-in page, the customer's pay page in each state, the error page.
PUBLIC_PAGES = [
    "/login",
    "/pay/{token}",
    "/pay/{paid_token}",
    "/pay/{refunded_token}",
    "/pay/{token}?returned=paid",
    "/pay/{token}?returned=checking",
    "/pay/{token}?returned=unverified",
    "/pay/{token}?returned=cancelled",
    "/pay/not-a-real-token",  # the error page, as customers see it
    "/reminders/stop/{stop_token}",  # the link in each payment reminder
]
BAD_IMPACTS = {"serious", "critical"}


def _paid_through_a_link(invoice, amount_minor: int, payment_id: str, link: PaymentLink | None = None) -> None:
    link = link or _link(invoice, payment_id)
    ledger.record_payment(link, GatewayPayment(payment_id, Money(amount_minor, invoice.currency)), "webhook")


def _link(invoice, name: str) -> PaymentLink:
    link = PaymentLink(invoice_id=invoice.id, gateway="razorpay", reference=f"ref-{name}",
                       link_id=f"plink_{name}", url="https://rzp.example/x", status="created",
                       currency=invoice.currency, amount_minor=invoice.amount_due.minor)
    db.session.add(link)
    db.session.flush()
    return link


@pytest.fixture
def site(pay_app, live_server, admin, make_user, make_invoice):
    """A lived-in portal with the sandbox as its gateways: drafts, part-paid and paid invoices, several users,
    a mismatch to look at."""
    make_user("viewer.with.a.rather.long.address@example.com", "staff")
    draft = make_invoice(name="Nilgiri Tea Estates Private Limited", email="accounts@nilgiri-tea.example",
                         items=[{"description": "Consulting, March (on site, two engineers)", "quantity": 3,
                                 "unit_price": "12500.00"},
                                {"description": "Travel", "quantity": 1, "unit_price": "4200.00"}],
                         due_date=(date.today() + timedelta(days=14)).isoformat(), accept_partial="on")
    part = make_invoice(name="Kobe Imports", currency="USD", open_it=True, accept_partial="on",
                        items=[{"description": "Support plan", "quantity": 2, "unit_price": "600.00"}])
    paid = make_invoice(name="Asha Traders", open_it=True)
    db.session.commit()
    _paid_through_a_link(part, 50000, "pay_part")
    _paid_through_a_link(paid, paid.total_minor, "pay_full")
    # Money back: a partly refunded payment with an open dispute, a refund pending, one that failed; an overpaid
    # invoice offering "Refund the extra"; a refunded invoice's pay page.
    money_back = make_invoice(name="Meridian Supplies", currency="INR", open_it=True)  # issued: an outbox message
    overpaid = make_invoice(name="Kaveri Foods", currency="INR", open_it=True)
    refunded = make_invoice(name="Lotus Crafts", currency="INR", open_it=True)
    db.session.commit()
    _paid_through_a_link(money_back, money_back.total_minor, "pay_money_back")
    both = [_link(overpaid, "over_1"), _link(overpaid, "over_2")]  # two links live at once, both paid
    _paid_through_a_link(overpaid, overpaid.total_minor, "pay_over_1", both[0])
    _paid_through_a_link(overpaid, overpaid.total_minor, "pay_over_2", both[1])
    _paid_through_a_link(refunded, refunded.total_minor, "pay_refunded")
    for refund_id, amount, status, why in (("rfnd_done", 20000, REFUND_SUCCEEDED, ""),
                                           ("rfnd_wait", 5000, REFUND_PENDING, ""),
                                           ("rfnd_no", 7000, REFUND_FAILED, "the customer's bank account is closed")):
        refunds.apply_refund(GatewayRefund("razorpay", refund_id, "pay_money_back", Money(amount, "INR"), status,
                                           reason=why), "webhook")
    refunds.apply_dispute(GatewayDispute("razorpay", "disp_screens", "pay_money_back", Money(100000, "INR"),
                                         DISPUTE_OPEN, "The customer says the goods never arrived",
                                         datetime.now(timezone.utc) + timedelta(days=6)), "webhook")
    refunds.apply_refund(GatewayRefund("razorpay", "rfnd_all", "pay_refunded", refunded.total, REFUND_SUCCEEDED),
                         "webhook")
    db.session.add(PaymentMismatch(gateway="stripe", invoice_id=paid.id, kind="amount",
                                   detail="amount $10.00 does not match the link's $12.00", source="webhook"))
    AuditEvent.record(None, "invoice.note", "invoice", part.id, "a long note " * 8)
    body = json.dumps({"event": "payment_link.paid", "payload": {"payment_link": {"entity": {
        "id": "plink_pay_full", "reference_id": "ref-pay_full", "description": "A rather long description " * 6}}}})
    applied = WebhookDelivery(gateway="razorpay", event_id="evt_full", event_type="payment_link.paid",
                              body=body.encode(), body_size=len(body), verified=True, outcome="applied",
                              detail="₹2,469.00 recorded; invoice paid", invoice_id=paid.id,
                              headers=json.dumps({"Content-Type": "application/json", "X-Razorpay-Signature": "a" * 64,
                                                  "X-Razorpay-Event-Id": "evt_full", "User-Agent": "Razorpay-Webhook/v1"}))
    db.session.add(applied)
    db.session.commit()
    # A forgery, through the real endpoint: refused and kept short.
    requests.post(f"{live_server}/webhooks/stripe", data=b'{"id": "evt_forged", "type": "checkout.session.completed", '
                  b'"pad": "' + b"x" * 3000 + b'"}', headers={"Stripe-Signature": "t=1,v1=" + "0" * 64,
                                                             "Content-Type": "application/json"}, timeout=10)
    rejected = db.session.scalar(db.select(WebhookDelivery.id).where(WebhookDelivery.outcome == "rejected"))
    return {"base": live_server, "draft": draft.id, "part": part.id, "paid": paid.id,
            "delivery": applied.id, "rejected": rejected,
            "token": part.pay_token, "paid_token": paid.pay_token, "refunded_token": refunded.pay_token,
            "money_back": money_back.id, "overpaid": overpaid.id,
            "message": db.session.scalar(db.select(OutboxMessage.id).order_by(OutboxMessage.id).limit(1)),
            "customer": draft.customer_id, "stop_token": stop_url(part.customer).rsplit("/", 1)[1]}


def sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))


def _visits(chromium, site, viewport, admin_email):
    """Yield (path, page) for every page, signed in for staff pages and signed out for public ones."""
    shots = os.environ.get("LOOK_SHOTS")
    for pages, signed_in in ((STAFF_PAGES, True), (PUBLIC_PAGES, False)):
        context = chromium.new_context(viewport=viewport)
        page = context.new_page()
        if signed_in:
            sign_in(page, site["base"], admin_email)
        for template in pages:
            path = template.format(**site)
            page.goto(site["base"] + path)
            page.wait_for_load_state("load")
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                name = re.sub(r"[^a-z0-9]+", "-", template.lower()).strip("-") or "root"
                page.screenshot(path=f"{shots}/{name}-{viewport['width']}.png", full_page=True)
            yield path, page
        context.close()


def test_no_page_scrolls_sideways_on_a_phone(chromium, site, admin):
    too_wide, primaries = {}, {}
    for path, page in _visits(chromium, site, PHONE, admin.email):
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[path] = width
        shown = page.locator(".primary:visible").all_inner_texts()
        if len(shown) > 1:
            primaries[path] = shown
    assert too_wide == {}, f"pages wider than a 390 px phone: {too_wide}"
    assert primaries == {}, f"more than one primary action on a screen: {primaries}"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_page_has_serious_accessibility_violations(chromium, site, admin, viewport):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = {}
    for path, page in _visits(chromium, site, viewport, admin.email):
        violations = [v for v in axe.run(page).response["violations"] if v["impact"] in BAD_IMPACTS]
        if violations:
            found[path] = [f"{v['id']} ({v['impact']}): {v['help']} — "
                           + "; ".join(n["target"][0] for n in v["nodes"][:3]) for v in violations]
    assert found == {}, "axe-core found serious or critical violations:\n" + "\n".join(
        f"{path}: {problem}" for path, problems in found.items() for problem in problems)


def test_navigation_marks_the_current_page_and_offers_a_skip_link(chromium, site, admin):
    context = chromium.new_context(viewport=PHONE)
    page = context.new_page()
    sign_in(page, site["base"], admin.email)
    for path, label in (("/invoices/", "Invoices"), ("/gateways/", "Gateways"), ("/users/", "Users"),
                        (f"/invoices/{site['draft']}", "Invoices")):
        page.goto(site["base"] + path)
        current = page.locator("nav.site-nav a[aria-current=page]")
        expect(current).to_have_count(1)
        expect(current).to_have_text(label)
    # The skip link is the first thing a keyboard reaches, and it lands on the main content.
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    context.close()


def test_on_a_phone_the_sections_fold_behind_a_menu_button_that_carries_the_attention_count(chromium, site, admin,
                                                                                              pay_app):
    """Eleven sections wrapped into five rows above every phone page; now one Menu button holds them."""
    from portal.attention.items import count

    with pay_app.test_request_context():
        waiting = count()
    assert waiting >= 1  # the walk's data has a mismatch
    for viewport, folded in ((PHONE, True), (DESKTOP, False)):
        context = chromium.new_context(viewport=viewport)
        page = context.new_page()
        sign_in(page, site["base"], admin.email)
        toggle, nav = page.locator(".nav-toggle"), page.locator("nav.site-nav")
        if folded:
            expect(toggle).to_be_visible()
            expect(toggle).to_have_attribute("aria-expanded", "false")
            expect(toggle).to_have_accessible_name(re.compile(rf"^Menu, {waiting} needs? attention$"))
            expect(nav).to_be_hidden()
            toggle.click()
            expect(toggle).to_have_attribute("aria-expanded", "true")
            expect(nav.get_by_role("link", name="Statistics")).to_be_visible()
            if os.environ.get("LOOK_SHOTS"):
                page.screenshot(path=f"{os.environ['LOOK_SHOTS']}/menu-open-390.png")
            nav.get_by_role("link", name="Statistics").click()
            expect(page.locator("h1")).to_have_text("Statistics")
            expect(nav).to_be_hidden()  # a new page starts folded
        else:
            expect(toggle).to_be_hidden()
            expect(nav.get_by_role("link", name="Statistics")).to_be_visible()
        context.close()
