"""The customer's Pay Now page and the way back from each gateway."""
import re

from portal.extensions import db
from portal.models import Invoice
from portal.money import Money
from tests.conftest import gateway_objects

USD = [{"description": "Consulting", "quantity": 2, "unit_price": "60.00"}]


def test_pay_page_shows_the_invoice_and_one_button_per_healthy_gateway(pay_app, client, make_invoice, control):
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "down"})  # still configured: breaker closed
    page = client.get(f"/pay/{invoice.pay_token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "HisabPro Demo Store" in html and invoice.number in html and "Consulting" in html and "$120.00" in html
    assert re.findall(r'name="gateway" value="(\w+)"', html) == ["stripe", "paypal", "razorpay"]
    assert "Pay with Card (Stripe)" in html and "Pay with PayPal" in html
    assert 'name="viewport"' in html  # phone-width screens


def test_an_inr_invoice_never_offers_paypal(pay_app, client, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    assert re.findall(r'name="gateway" value="(\w+)"', html) == ["razorpay", "stripe"]
    assert "UPI, cards and netbanking (Razorpay)" in html


def pay_page_token(client, invoice):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/pay/{invoice.pay_token}")
                     .get_data(as_text=True)).group(1)


def test_pressing_pay_makes_a_link_then_and_sends_the_customer_there(pay_app, client, make_invoice):
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    token = pay_page_token(client, invoice)
    response = client.post(f"/pay/{invoice.pay_token}", data={"gateway": "paypal", "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].startswith(pay_app.config["PAYPAL_API_BASE"])
    assert [l.gateway for l in db.session.get(Invoice, invoice.id).payment_links if l.is_live()] == ["paypal"]


def test_when_the_chosen_gateway_fails_the_customer_is_told_and_offered_the_others(pay_app, client, make_invoice,
                                                                                    control):
    invoice = make_invoice(currency="INR", open_it=True)
    token = pay_page_token(client, invoice)
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "down"})  # down since the page loaded
    response = client.post(f"/pay/{invoice.pay_token}", data={"gateway": "razorpay", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 503  # not a redirect to Stripe's card page
    assert "UPI, cards and netbanking (Razorpay) is not working just now" in html and "Nothing was charged" in html
    assert re.findall(r'name="gateway" value="(\w+)"', html) == ["stripe"]
    assert "Pay with Card (Stripe)" in html
    assert [l.gateway for l in db.session.get(Invoice, invoice.id).payment_links if l.is_live()] == []
    # The other button works: the customer chose it.
    again = client.post(f"/pay/{invoice.pay_token}", data={"gateway": "stripe", "csrf_token": token})
    assert again.status_code == 303 and again.headers["Location"].startswith(pay_app.config["STRIPE_API_BASE"])


def test_a_single_pay_now_button_still_falls_back(pay_app, client, make_invoice, control):
    pay_app.config["STRIPE_SECRET_KEY"] = ""  # INR with Razorpay only
    invoice = make_invoice(currency="INR", open_it=True)
    html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    assert "Pay now" in html and 'name="gateway"' not in html


def test_a_customer_who_cancels_at_the_gateway_sees_why_and_the_buttons_and_staff_see_it(
        pay_app, client, make_invoice, signed_in_staff):
    import requests
    from portal.payments import engine

    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    link = engine.generate_link(invoice, requested="stripe", actor_label="customer (pay page)").link
    cancel = requests.post(link.url + "/cancel", allow_redirects=False, timeout=5)  # the Cancel button on Stripe
    back = cancel.headers["Location"]
    assert back.startswith(f"https://portal.example/pay/{invoice.pay_token}")
    response = client.get(back.removeprefix("https://portal.example"))
    assert response.status_code == 303 and "returned=cancelled" in response.headers["Location"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your payment with Stripe was cancelled: nothing was charged" in html
    assert re.findall(r'name="gateway" value="(\w+)"', html) == ["stripe", "paypal", "razorpay"]
    staff_page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "customer (at Stripe)" in staff_page and "<strong>cancelled</strong> via Stripe" in staff_page


def test_a_declined_payment_is_shown_to_the_customer_and_in_the_staff_trail(
        pay_app, client, make_invoice, control, signed_in_staff):
    from portal.payments import engine

    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    link = engine.generate_link(invoice, requested="paypal").link
    control.post("/_sandbox/webhooks", {"gateway": "paypal", "url": "http://127.0.0.1:9/x"})
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": link.link_id, "outcome": "deny"})
    back = client.get(f"/pay/{invoice.pay_token}/return/paypal?token={link.link_id}&PayerID=ABCDEFGHJKLMN")
    assert back.status_code == 303 and "returned=declined" in back.headers["Location"]
    html = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "Your payment with PayPal was declined: nothing was charged" in html
    assert 'name="gateway" value="paypal"' in html and "Pay with Card (Stripe)" in html
    assert db.session.get(Invoice, invoice.id).status == "open"
    staff_page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "<strong>declined</strong> via PayPal" in staff_page and "PayPal declined the payment" in staff_page
    assert "the customer's last try was declined" in staff_page


def test_a_cancel_url_for_a_gateway_never_used_records_nothing(pay_app, client, make_invoice):
    from portal.models import LinkClick

    invoice = make_invoice(currency="INR", open_it=True)
    assert client.get(f"/pay/{invoice.pay_token}/cancelled/stripe").status_code == 303
    assert client.get(f"/pay/{invoice.pay_token}/cancelled/nope").status_code == 404
    assert db.session.scalars(db.select(LinkClick)).all() == []


def test_unknown_token_is_a_404_and_drafts_are_not_payable(pay_app, client, make_invoice):
    assert client.get("/pay/not-a-real-token").status_code == 404
    draft = make_invoice(currency="INR")
    html = client.get(f"/pay/{draft.pay_token}").get_data(as_text=True)
    assert 'name="gateway"' not in html


def test_paid_void_and_overpaid_invoices_show_their_state_and_no_button(pay_app, client, make_invoice):
    paid = make_invoice(currency="INR", open_it=True)
    paid.record_payment(Money(paid.total_minor, "INR"))
    void = make_invoice(currency="INR", open_it=True)
    void.void()
    over = make_invoice(currency="INR", open_it=True)
    over.record_payment(Money(over.total_minor + 100, "INR"))
    db.session.commit()
    for invoice, words in ((paid, "paid in full"), (void, "cancelled"), (over, "refund the difference")):
        html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
        assert words in html and 'name="gateway"' not in html and "hx-trigger" not in html


def test_status_partial_polls_until_final_then_answers_286(pay_app, client, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    pending = client.get(f"/pay/{invoice.pay_token}/status")
    assert pending.status_code == 200 and 'hx-trigger="every 3s"' in pending.get_data(as_text=True)
    invoice.record_payment(Money(invoice.total_minor, "INR"))
    db.session.commit()
    done = client.get(f"/pay/{invoice.pay_token}/status")
    assert done.status_code == 286 and "Paid" in done.get_data(as_text=True)


def test_stripe_return_is_checked_with_stripe_not_believed(pay_app, client, make_invoice, control):
    from portal.payments import engine

    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    link = engine.generate_link(invoice).link
    # Before paying, a hand-made return URL changes nothing.
    early = client.get(f"/pay/{invoice.pay_token}/return/stripe?session_id={link.link_id}")
    assert early.status_code == 303 and db.session.get(Invoice, invoice.id).status == "open"
    control.post("/_sandbox/webhooks", {"gateway": "stripe", "url": "http://127.0.0.1:9/x"})  # webhook lost
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": link.link_id})
    back = client.get(f"/pay/{invoice.pay_token}/return/stripe?session_id={link.link_id}")
    assert back.status_code == 303 and "returned=paid" in back.headers["Location"]
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "paid" and invoice.payments[0].source == "return"
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "your payment was received" in page and 'name="gateway"' not in page


def test_a_forged_razorpay_callback_changes_nothing(pay_app, client, make_invoice):
    from portal.payments import engine

    invoice = make_invoice(currency="INR", open_it=True)
    link = engine.generate_link(invoice).link
    forged = client.get(f"/pay/{invoice.pay_token}/return/razorpay", query_string={
        "razorpay_payment_id": "pay_forged", "razorpay_payment_link_id": link.link_id,
        "razorpay_payment_link_reference_id": link.reference, "razorpay_payment_link_status": "paid",
        "razorpay_signature": "0" * 64})
    assert forged.status_code == 303 and "returned=unverified" in forged.headers["Location"]
    assert db.session.get(Invoice, invoice.id).status == "open"


def test_paypal_return_captures_once(pay_app, client, make_invoice, control):
    from portal.payments import engine

    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    link = engine.generate_link(invoice, requested="paypal").link
    control.post("/_sandbox/webhooks", {"gateway": "paypal", "url": "http://127.0.0.1:9/x"})
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": link.link_id})
    for _ in range(2):  # a reload of the return page must not take the money twice
        client.get(f"/pay/{invoice.pay_token}/return/paypal?token={link.link_id}&PayerID=ABCDEFGHJKLMN")
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "paid" and len(invoice.payments) == 1
    [order] = [o for o in gateway_objects(control, "paypal") if o["id"] == link.link_id]
    assert len(order["purchase_units"][0]["payments"]["captures"]) == 1


def test_the_qr_code_is_an_svg_of_the_pay_url(pay_app, client, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    response = client.get(f"/pay/{invoice.pay_token}/qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert b"<svg" in response.data and b"xmlns" in response.data


def test_staff_see_share_options_and_live_status_on_the_invoice_page(pay_app, signed_in_staff, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    html = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert f"/pay/{invoice.pay_token}" in html and "https://wa.me/?text=" in html and "mailto:asha%40example.com" in html
    assert f'/pay/{invoice.pay_token}/qr.svg' in html
    assert f'hx-get="/invoices/{invoice.id}?v=' in html
    invoice.record_payment(Money(invoice.total_minor, "INR"))
    db.session.commit()
    assert signed_in_staff.get(f"/invoices/{invoice.id}/status").status_code == 286


def test_a_card_declined_at_stripe_then_abandoned_is_a_decline_for_the_customer_and_staff(
        pay_app, client, make_invoice, signed_in_staff):
    import requests
    from portal.payments import engine

    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    link = engine.generate_link(invoice, requested="stripe").link
    requests.post(link.url + "/decline", allow_redirects=False, timeout=5)  # "Your card was declined."
    back = requests.post(link.url + "/cancel", allow_redirects=False, timeout=5).headers["Location"]
    response = client.get(back.removeprefix("https://portal.example"))
    assert "returned=declined" in response.headers["Location"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your payment with Stripe was declined: nothing was charged" in html and "Pay with PayPal" in html
    staff_page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "<strong>declined</strong> via Stripe" in staff_page and "Stripe declined the payment" in staff_page


def test_a_replayed_cancel_url_is_one_row_in_the_trail(pay_app, client, make_invoice):
    import requests
    from portal.models import LinkClick
    from portal.payments import engine

    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    link = engine.generate_link(invoice, requested="stripe").link
    back = requests.post(link.url + "/cancel", allow_redirects=False, timeout=5).headers["Location"]
    for _ in range(3):
        assert "returned=cancelled" in client.get(back.removeprefix("https://portal.example")).headers["Location"]
    outcomes = [c.outcome for c in db.session.scalars(db.select(LinkClick).order_by(LinkClick.id))]
    assert outcomes == ["created", "cancelled"]


def test_whatsapp_gets_the_number_only_when_it_carries_its_country_code():
    from portal.pay.routes import whatsapp_number

    assert whatsapp_number("+91 98765-43210") == "919876543210"
    assert whatsapp_number("0091 98765 43210") == "919876543210"
    assert whatsapp_number("+1 (415) 555-0100") == "14155550100"
    assert whatsapp_number("919876543210") == "919876543210"
    for local in ("98765 43210", "098765 43210", "", None, "+12"):
        assert whatsapp_number(local) is None
