"""Home and Settings in Chromium with the demo data, at desktop and phone sizes: no sideways scrolling, no
console errors (a CSP violation is one), money formatted, and Home's numbers updating without a reload.

HOME_SHOTS_DIR=/tmp/h-home-shots keeps full-page screenshots of each page at each size.
"""
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Invoice, Payment

# What sticks out past the viewport, to say which element to fix when the width check fails.
WIDEST = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')"""
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def demo_admin(live_server, runner):
    output = runner.invoke(args=["demo", "seed"]).output
    email, password = re.search(r"as (\S+) / (\S+)", output).groups()
    return email, password


def sign_in(page, base, email, password):
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/")


@pytest.mark.parametrize("size", SIZES)
def test_home_and_settings_fit_the_screen(chromium, live_server, demo_admin, size):
    context = chromium.new_context(viewport=SIZES[size])
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    shots = os.environ.get("HOME_SHOTS_DIR")
    try:
        sign_in(page, live_server, *demo_admin)
        for name, path, heading in (("home", "/", "HisabPro Demo Store"), ("settings", "/settings/", "Settings")):
            page.goto(live_server + path)
            expect(page.locator("h1")).to_have_text(heading)
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{shots}/{name}-{SIZES[size]['width']}.png", full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= SIZES[size]["width"], f"{path} is {width}px wide at {size}: " + page.evaluate(WIDEST)
        page.goto(live_server + "/")
        assert page.locator("svg.chart").count() == 2    # INR and USD; the JPY invoice has nothing collected
        expect(page.locator("[data-figure=outstanding]").first).to_have_text(re.compile(r"^₹[0-9,]+\.\d\d$"))
        expect(page.locator(".gateway-lines li")).to_have_count(3)
        assert errors == []
    finally:
        context.close()


def test_home_numbers_update_without_a_reload(page, live_server, demo_admin):
    sign_in(page, live_server, *demo_admin)
    collected = page.locator("section:has(#total-USD) [data-figure=collected]")
    before = collected.inner_text()
    invoice = db.session.scalars(db.select(Invoice).where(Invoice.currency == "USD",
                                                          Invoice.status == "open").limit(1)).one()
    invoice.record_payment(invoice.amount_due)
    db.session.add(Payment(invoice_id=invoice.id, gateway="stripe", payment_id="pi_live_update",
                           currency="USD", amount_minor=invoice.total_minor, source="webhook",
                           received_at=datetime.now(timezone.utc)))
    db.session.commit()
    expect(collected).not_to_have_text(before, timeout=15_000)              # the 10 s poll brings it in
    expect(page.locator("table.payments tbody tr").first).to_contain_text(invoice.number)
    assert page.console_errors == []


def test_a_settings_error_is_marked_beside_its_field_and_focused(page, live_server, demo_admin):
    sign_in(page, live_server, *demo_admin)
    page.goto(live_server + "/settings/")
    page.fill("#f-payment_terms_days", "-5")
    page.click("text=Save settings")
    field = page.locator("#f-payment_terms_days")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-payment_terms_days")).to_have_text("must be a whole number of days from 0 to 365")
    expect(field).to_be_focused()
    if os.environ.get("HOME_SHOTS_DIR"):
        page.screenshot(path=f"{os.environ['HOME_SHOTS_DIR']}/settings-error-1100.png", full_page=True)
