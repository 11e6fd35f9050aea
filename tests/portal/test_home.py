"""Home: totals per currency in the merchant's days, latest payments, needs attention, gateway lines, the
chart, and the live partial htmx polls."""
import re
from datetime import date, datetime, timedelta, timezone

from portal.extensions import db
from portal.home.summary import build_home
from portal.merchant import merchant_settings
from portal.merchant.profile import forget_cached
from portal.models import Invoice, MerchantSetting, Payment, PaymentMismatch
from portal.money import Money
from portal.payments import engine

# 20:00 UTC on 1 December is 01:30 on 2 December in Kolkata: the two disagree about which day it is.
AT = datetime(2026, 12, 1, 20, 0, tzinfo=timezone.utc)
USD = [{"description": "Consulting", "quantity": 1, "unit_price": "120.00"}]


def set_zone(zone: str) -> None:
    row = db.session.get(MerchantSetting, 1) or MerchantSetting(id=1)
    row.time_zone = zone
    db.session.add(row)
    db.session.commit()
    forget_cached()


def pay(invoice: Invoice, amount: str, at: datetime, gateway: str = "razorpay") -> None:
    """A payment as the ledger stores it, received at `at`."""
    money = Money.parse(amount, invoice.currency)
    invoice.record_payment(money)
    db.session.add(Payment(invoice_id=invoice.id, gateway=gateway, payment_id=f"pay_{invoice.id}_{at:%Y%m%d%H%M%S%f}",
                           currency=invoice.currency, amount_minor=money.minor, source="webhook", received_at=at))
    db.session.commit()


def scripted(make_invoice):
    """Two currencies; one INR invoice due on 1 December (yesterday in Kolkata at AT, today in UTC)."""
    inr_late = make_invoice(items=[{"description": "Design", "quantity": 1, "unit_price": "1000.00"}],
                            due_date="2026-11-20", open_it=True)
    inr_boundary = make_invoice(items=[{"description": "Hosting", "quantity": 1, "unit_price": "500.00"}],
                                due_date="2026-12-01", open_it=True)
    inr_future = make_invoice(items=[{"description": "Support", "quantity": 2, "unit_price": "250.00"}],
                              due_date="2026-12-31", open_it=True)
    usd = make_invoice(currency="USD", items=USD, due_date="2026-11-01", open_it=True)
    make_invoice(items=[{"description": "Draft only", "quantity": 1, "unit_price": "999.00"}])  # not issued
    pay(inr_late, "400.00", datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc))
    # 19:00 UTC on 1 Dec is 00:30 on 2 Dec in Kolkata
    pay(inr_future, "500.00", datetime(2026, 12, 1, 19, 0, tzinfo=timezone.utc))
    # 18:00 UTC on 2 Nov is 23:30 on 2 Nov in Kolkata: outside Kolkata's last 30 days (3 Nov - 2 Dec),
    # inside UTC's (2 Nov - 1 Dec)
    pay(usd, "20.00", datetime(2026, 11, 2, 18, 0, tzinfo=timezone.utc), gateway="stripe")
    return inr_late, inr_boundary, inr_future, usd


def by_currency(home):
    return {c.currency: c for c in home.currencies}


def test_home_numbers_follow_the_merchants_days(app, make_invoice):
    scripted(make_invoice)
    home = build_home(merchant_settings(), at=AT)  # Asia/Kolkata, the default
    assert home.today == date(2026, 12, 2)
    inr, usd = by_currency(home)["INR"], by_currency(home)["USD"]
    assert [c.currency for c in home.currencies] == ["INR", "USD"]  # the default currency first
    assert inr.outstanding == Money(600_00 + 500_00, "INR")   # 1000-400 + 500 + (500-500 paid)
    assert (inr.overdue_count, inr.overdue) == (2, Money(600_00 + 500_00, "INR"))  # 1 Dec is yesterday
    assert inr.collected == Money(900_00, "INR")
    assert inr.daily[-1] == Money(500_00, "INR") and home.days[-1] == date(2026, 12, 2)
    assert inr.daily[home.days.index(date(2026, 11, 25))] == Money(400_00, "INR")
    assert (usd.outstanding, usd.overdue_count, usd.overdue) == (Money(100_00, "USD"), 1, Money(100_00, "USD"))
    assert usd.collected == Money(0, "USD")

    set_zone("UTC")
    home = build_home(merchant_settings(), at=AT)
    assert home.today == date(2026, 12, 1)
    inr, usd = by_currency(home)["INR"], by_currency(home)["USD"]
    assert (inr.overdue_count, inr.overdue) == (1, Money(600_00, "INR"))  # due today is not overdue yet
    assert inr.daily[-1] == Money(500_00, "INR") and home.days[-1] == date(2026, 12, 1)
    assert usd.collected == Money(20_00, "USD")


def test_home_page_shows_formatted_totals_payments_and_attention(signed_in_staff, make_invoice):
    today = date.today()
    late = make_invoice(items=[{"description": "Design", "quantity": 1, "unit_price": "123456.50"}],
                        due_date=(today - timedelta(days=10)).isoformat(), open_it=True)
    usd = make_invoice(currency="USD", items=USD, due_date=(today + timedelta(days=10)).isoformat(), open_it=True)
    pay(usd, "120.00", datetime.now(timezone.utc) - timedelta(hours=1), gateway="stripe")
    db.session.add(PaymentMismatch(gateway="razorpay", invoice_id=late.id, kind="amount", detail="x", source="webhook"))
    db.session.commit()

    page = signed_in_staff.get("/").get_data(as_text=True)
    assert "₹1,23,456.50" in page                 # outstanding and overdue, Babel-formatted
    assert re.search(r"₹1,23,456.50</span>\s*<span class=\"muted\">· 1 invoice<", page)
    assert "$120.00" in page                      # collected, and the latest payment
    assert f'href="/invoices/{usd.id}"' in page and usd.number in page
    assert "Stripe" in page
    assert re.search(r"<strong>1</strong>\s*thing needs\s+attention", page)
    assert "<svg" in page and 'role="img"' in page
    assert "<caption>USD collected per day" in page  # the chart's numbers as a table


def test_signing_in_lands_on_home(browser, staff):
    response = browser.login(staff.email)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_htmx_gets_only_the_live_fragment_and_vary_says_so(signed_in_staff, make_invoice):
    make_invoice(open_it=True)
    full = signed_in_staff.get("/")
    fragment = signed_in_staff.get("/", headers={"HX-Request": "true"})
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]
    full_html, part = full.get_data(as_text=True), fragment.get_data(as_text=True)
    assert "<html" in full_html and 'hx-trigger="every 10s"' in full_html
    assert "<html" not in part and "<nav" not in part
    assert part.lstrip().startswith('<div id="home-live"') and "₹2,469.00" in part


def test_home_needs_a_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def gateway_text(browser) -> list[str]:
    page = browser.get("/", headers={"HX-Request": "true"}).get_data(as_text=True)
    return re.findall(r'<li class="gw gw-[a-z_]+">([^<]+)</li>', page)


def test_gateway_lines_without_configuration(signed_in_staff):
    assert gateway_text(signed_in_staff) == ["Razorpay: Not configured: set RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET",
                                             "Stripe: Not configured: set STRIPE_SECRET_KEY",
                                             "PayPal: Not configured: set PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET"]


def test_gateway_lines_when_configured_and_when_an_admin_forces_a_breaker_open(pay_app, signed_in_admin):
    assert gateway_text(signed_in_admin) == ["Razorpay: Working", "Stripe: Working", "PayPal: Working"]
    response = signed_in_admin.post("/gateways/stripe/breaker", {"state": "open"}, token_page="/gateways/")
    assert response.status_code == 303
    lines = gateway_text(signed_in_admin)
    assert re.fullmatch(r"Stripe: Down since \d\d:\d\d \(held down by an admin\); "
                        r"payments in USD and other currencies go through PayPal", lines[1]), lines
    assert lines[0] == "Razorpay: Working" and lines[2] == "PayPal: Working"
    signed_in_admin.post("/gateways/paypal/enabled", {"enabled": "0"}, token_page="/gateways/")
    lines = gateway_text(signed_in_admin)
    assert re.fullmatch(r"Stripe: Down since \d\d:\d\d \(held down by an admin\); "
                        r"payments in USD and other currencies go through Razorpay", lines[1]), lines
    assert lines[2] == "PayPal: Switched off by an admin; payments in USD and other currencies go through Razorpay"


def test_gateway_line_when_the_sandbox_takes_stripe_down(pay_app, signed_in_staff, make_invoice, control):
    control.post("/_sandbox/faults", {"gateway": "stripe", "mode": "down"})
    for _ in range(5):  # one refused call per click (PayPal is there): five open the breaker
        engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    assert engine.breaker().state("stripe") == "open"
    lines = gateway_text(signed_in_staff)
    assert re.fullmatch(r"Stripe: Down since \d\d:\d\d \(5 failed calls\); "
                        r"payments in USD and other currencies go through PayPal", lines[1]), lines


def test_demo_seed_gives_a_lived_in_home_and_a_second_run_changes_nothing(runner, browser):
    from portal.models import AuditEvent, Customer

    def counts():
        return [db.session.scalar(db.select(db.func.count()).select_from(model))
                for model in (Invoice, Payment, Customer, AuditEvent, MerchantSetting)]

    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    first = counts()
    home = build_home(merchant_settings())
    inr = by_currency(home)["INR"]
    assert inr.overdue_count >= 2 and inr.outstanding.minor > 0
    assert sum(1 for m in inr.daily if m.minor) >= 8              # payments spread across the month
    statuses = set(db.session.scalars(db.select(Invoice.status)))
    assert {"paid", "partially_paid", "open"} <= statuses
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    assert counts() == first


def test_chart_days_are_local_days_across_a_daylight_saving_change(app, make_invoice):
    set_zone("Europe/Berlin")  # summer time ended at 01:00 UTC on 25 October 2026: that day has 25 hours
    invoice = make_invoice(currency="EUR", items=[{"description": "Work", "quantity": 1, "unit_price": "100.00"}],
                           open_it=True)
    pay(invoice, "10.00", datetime(2026, 10, 24, 21, 59, tzinfo=timezone.utc))  # 23:59 CEST, 24 Oct
    pay(invoice, "20.00", datetime(2026, 10, 24, 22, 30, tzinfo=timezone.utc))  # 00:30 CEST, 25 Oct
    pay(invoice, "30.00", datetime(2026, 10, 25, 22, 30, tzinfo=timezone.utc))  # 23:30 CET, 25 Oct
    pay(invoice, "5.00", datetime(2026, 10, 25, 23, 0, tzinfo=timezone.utc))    # 00:00 CET, 26 Oct
    home = build_home(merchant_settings(), at=datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc))
    eur = by_currency(home)["EUR"]
    daily = dict(zip(home.days, eur.daily))
    assert daily[date(2026, 10, 24)] == Money(10_00, "EUR")
    assert daily[date(2026, 10, 25)] == Money(50_00, "EUR")
    assert daily[date(2026, 10, 26)] == Money(5_00, "EUR")
