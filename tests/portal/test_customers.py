"""Customers: the list with search and what each owes, a customer's page, editing details, the picker."""
import re

import pytest

from portal.extensions import db
from portal.invoices import service as invoice_service
from portal.models import AuditEvent, Customer, Invoice, Payment
from portal.money import Money
from tests.conftest import gateway_objects

USD = [{"description": "Consulting", "quantity": 3, "unit_price": "100.00"}]  # $300.00
INR = [{"description": "Design work", "quantity": 1, "unit_price": "1000.00"}]  # ₹1,000.00


def pay(invoice: Invoice, minor: int, gateway: str = "razorpay") -> Payment:
    """Money received for an invoice, as the ledger records it."""
    payment = Payment(invoice_id=invoice.id, gateway=gateway, payment_id=f"pay_{invoice.id}_{minor}",
                      currency=invoice.currency, amount_minor=minor, source="webhook")
    invoice.record_payment(Money(minor, invoice.currency))
    db.session.add(payment)
    db.session.commit()
    return payment


def customer_of(invoice: Invoice) -> Customer:
    return db.session.get(Invoice, invoice.id).customer


def edit_form(**overrides) -> dict:
    return {"name": "Asha Traders Pvt Ltd", "email": "accounts@asha.example", "phone": "+91 90000 11111",
            **overrides}


def rows_of(html: str) -> list[str]:
    return re.findall(r"<tr>.*?</tr>", html, re.S)


# ---- The list ----------------------------------------------------------------------------------------

def test_the_list_searches_name_email_and_phone(signed_in_staff, make_invoice):
    make_invoice(name="Asha Traders", email="asha@example.com")
    make_invoice(name="Bharat Steel", email="orders@bharat.example",
                 customer={"name": "Bharat Steel", "email": "orders@bharat.example", "phone": "+91 98450 12345"})
    make_invoice(name="Chen Imports", email="chen@imports.example")

    def names(q: str) -> list[str]:
        html = signed_in_staff.get(f"/customers/?q={q}").get_data(as_text=True)
        return re.findall(r'href="/customers/\d+">([^<]+)</a>', html)

    assert names("") == ["Asha Traders", "Bharat Steel", "Chen Imports"]
    assert names("asha") == ["Asha Traders"]           # name, any case
    assert names("IMPORTS.EXAMPLE") == ["Chen Imports"]  # email
    assert names("98450") == ["Bharat Steel"]          # phone
    assert names("nobody") == []
    assert names("%25") == []  # a LIKE wildcard is searched as text, not as "anything"


def test_active_search_gets_the_results_alone_and_caches_keep_the_two_apart(signed_in_staff, make_invoice):
    make_invoice(name="Asha Traders")
    full = signed_in_staff.get("/customers/?q=asha")
    partial = signed_in_staff.get("/customers/?q=asha", headers={"HX-Request": "true"})
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in partial.headers["Vary"]
    assert "<html" in full.get_data(as_text=True)
    html = partial.get_data(as_text=True)
    assert "<html" not in html and "Asha Traders" in html
    # Without JavaScript the same search is a plain GET form.
    assert 'action="/customers/"' in full.get_data(as_text=True)


def test_the_list_shows_what_each_customer_owes_per_currency(signed_in_staff, staff, make_invoice):
    inr_open = make_invoice(items=INR, open_it=True)                  # owes ₹1,000.00
    inr_part = make_invoice(items=INR, open_it=True)
    pay(inr_part, 400_00)                                             # owes ₹600.00 more
    usd_open = make_invoice(currency="USD", items=USD, open_it=True)  # owes $300.00
    paid = make_invoice(currency="USD", items=USD, open_it=True)
    pay(paid, 300_00, "stripe")                                       # owes nothing
    make_invoice(items=INR)                                           # a draft is not owed
    void = make_invoice(items=INR, open_it=True)
    invoice_service.void_invoice(void, staff)               # nor is a void invoice
    make_invoice(items=INR, open_it=True, name="Other Co", email="other@example.com")
    assert {inr_open.customer_id, inr_part.customer_id, usd_open.customer_id} == {paid.customer_id}

    html = signed_in_staff.get("/customers/").get_data(as_text=True)
    [asha] = [row for row in rows_of(html) if "Asha Traders" in row]
    assert "₹1,600.00" in asha and "$300.00" in asha
    [other] = [row for row in rows_of(html) if "Other Co" in row]
    assert "₹1,000.00" in other and "$" not in other


def test_the_list_is_paged_and_a_page_past_the_end_is_empty_not_an_error(signed_in_staff, make_invoice):
    for i in range(27):
        make_invoice(name=f"Customer {i:02d}", email=f"c{i}@example.com")
    first = signed_in_staff.get("/customers/").get_data(as_text=True)
    assert "27 customers" in first and "Page 1 of 2" in first and "Customer 24" in first and "Customer 25" not in first
    second = signed_in_staff.get("/customers/?page=2").get_data(as_text=True)
    assert "Customer 25" in second and "Customer 26" in second
    assert signed_in_staff.get("/customers/?page=99").status_code == 200
    for bad in ("0", "-1", "abc", "99999999999999999999"):
        assert signed_in_staff.get(f"/customers/?page={bad}").status_code == 400


# ---- A customer's page ---------------------------------------------------------------------------------

def test_a_customers_page_shows_their_invoices_payments_and_totals_per_currency(signed_in_staff, make_invoice):
    inr = make_invoice(items=INR, open_it=True)
    pay(inr, 250_00, "razorpay")
    inr_paid = make_invoice(items=INR, open_it=True)
    pay(inr_paid, 1000_00, "razorpay")
    usd = make_invoice(currency="USD", items=USD, open_it=True)
    pay(usd, 100_00, "stripe")
    draft = make_invoice(items=INR)
    make_invoice(items=INR, open_it=True, name="Other Co", email="other@example.com")

    html = signed_in_staff.get(f"/customers/{inr.customer_id}").get_data(as_text=True)
    totals = html.split("<h2>Totals</h2>")[1].split("</table>")[0]
    [inr_row] = [r for r in rows_of(totals) if "INR" in r]
    [usd_row] = [r for r in rows_of(totals) if "USD" in r]
    # invoiced, paid, outstanding
    assert re.findall(r"[₹$][0-9,.]+", inr_row) == ["₹2,000.00", "₹1,250.00", "₹750.00"]
    assert re.findall(r"[₹$][0-9,.]+", usd_row) == ["$300.00", "$100.00", "$200.00"]

    invoices = html.split("<h2>Invoices</h2>")[1].split("</section>")[0]
    for invoice in (inr, inr_paid, usd, draft):
        assert f'href="/invoices/{invoice.id}">{invoice.number}</a>' in invoices
    assert "badge-partially_paid" in invoices and "badge-paid" in invoices and "badge-draft" in invoices
    assert "Other Co" not in html

    payments = html.split("<h2>Payments</h2>")[1].split("</section>")[0]
    assert len(rows_of(payments.split("<tbody>")[1])) == 3
    assert "Razorpay" in payments and "Stripe" in payments and "$100.00" in payments and "₹250.00" in payments


def test_an_unknown_customer_is_a_404(signed_in_staff):
    assert signed_in_staff.get("/customers/999999").status_code == 404
    assert signed_in_staff.get("/customers/2147483648").status_code == 404
    assert signed_in_staff.get("/customers/999999/edit").status_code == 404


# ---- Editing ------------------------------------------------------------------------------------------

def test_editing_a_customer_without_issued_invoices_changes_it_in_place(signed_in_staff, make_invoice):
    draft = make_invoice(items=INR)
    customer_id = draft.customer_id
    response = signed_in_staff.post(f"/customers/{customer_id}/edit", edit_form(),
                                    token_page=f"/customers/{customer_id}/edit")
    assert response.status_code == 302 and response.headers["Location"] == f"/customers/{customer_id}"
    customer = db.session.get(Customer, customer_id)
    assert (customer.name, customer.email, customer.phone) == ("Asha Traders Pvt Ltd", "accounts@asha.example",
                                                               "+91 90000 11111")
    assert db.session.scalar(db.select(db.func.count(Customer.id))) == 1
    assert customer_of(draft).name == "Asha Traders Pvt Ltd"  # a draft goes out with the new details
    [event] = AuditEvent.for_subject("customer", customer_id)
    assert event.action == "customer.updated" and "Asha Traders Pvt Ltd" in event.summary


@pytest.mark.parametrize("field, value, message", [
    ("email", "not-an-email", "Enter an email address like name@example.com."),
    ("email", "", "Enter the customer's email address."),
    ("name", "", "Enter the customer's name."),
    ("name", "   ", "Enter the customer's name."),
    ("name", "x" * 201, "Use at most 200 characters."),
    ("email", "a" * 250 + "@example.com", "Use at most 254 characters."),
    ("phone", "call me", "Enter a phone number: digits, spaces and + ( ) - only."),
    ("phone", "9" * 33, "Use at most 32 characters."),
])
def test_a_bad_edit_changes_nothing_and_says_why_beside_the_field(signed_in_staff, make_invoice, field, value,
                                                                  message):
    invoice = make_invoice(items=INR, open_it=True)
    customer_id = invoice.customer_id
    response = signed_in_staff.post(f"/customers/{customer_id}/edit", edit_form(**{field: value}),
                                    token_page=f"/customers/{customer_id}/edit")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    field_html = re.search(rf'<input[^>]*id="{field}"[^>]*>\s*<span class="field-error" id="{field}-error">([^<]*)</span>',
                           html)
    assert field_html, html
    assert 'aria-invalid="true"' in field_html.group(0) and f'aria-describedby="{field}-error"' in field_html.group(0)
    assert field_html.group(1) == message.replace("'", "&#39;")
    assert 'class="error-summary"' in html and "autofocus" in html and f'href="#{field}"' in html
    # The other fields keep what was typed.
    if field != "name":
        assert 'value="Asha Traders Pvt Ltd"' in html
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(Customer.id))) == 1
    customer = db.session.get(Customer, customer_id)
    assert (customer.name, customer.email, customer.phone) == ("Asha Traders", "asha@example.com", "")
    assert AuditEvent.for_subject("customer", customer_id) == []


def test_an_edit_without_the_csrf_token_is_refused(signed_in_staff, make_invoice):
    invoice = make_invoice(items=INR)
    response = signed_in_staff.client.post(f"/customers/{invoice.customer_id}/edit", data=edit_form())
    assert response.status_code == 400
    assert db.session.get(Customer, invoice.customer_id).name == "Asha Traders"


def test_issued_invoices_keep_the_details_they_were_issued_with(pay_app, signed_in_staff, make_invoice, control):
    issued = make_invoice(items=INR, open_it=True)
    draft = make_invoice(items=INR)
    old_id = issued.customer_id
    assert draft.customer_id == old_id

    response = signed_in_staff.post(f"/customers/{old_id}/edit", edit_form(),
                                    token_page=f"/customers/{old_id}/edit")
    assert response.status_code == 302
    new_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert new_id != old_id
    db.session.expire_all()

    # The issued invoice: its page, the API, the pay page's link at the gateway still carry the old details.
    assert customer_of(issued).name == "Asha Traders" and customer_of(issued).email == "asha@example.com"
    page = signed_in_staff.get(f"/invoices/{issued.id}").get_data(as_text=True)
    assert "Asha Traders · asha@example.com" in page and "Pvt Ltd" not in page
    pay_page = signed_in_staff.client.get(f"/pay/{issued.pay_token}").get_data(as_text=True)
    assert "Pvt Ltd" not in pay_page and "accounts@asha.example" not in pay_page
    token = re.search(r'name="csrf_token" value="([^"]+)"', pay_page).group(1)
    assert signed_in_staff.client.post(f"/pay/{issued.pay_token}",
                                       data={"gateway": "razorpay", "csrf_token": token}).status_code == 303
    [link] = gateway_objects(control, "razorpay")
    assert link["customer"]["name"] == "Asha Traders" and link["customer"]["email"] == "asha@example.com"

    # The draft was not issued yet: it goes out with the new details, and so do new invoices.
    assert customer_of(draft).id == new_id and customer_of(draft).name == "Asha Traders Pvt Ltd"
    new = make_invoice(items=INR, name="Asha Traders Pvt Ltd", email="accounts@asha.example",
                       customer={"name": "Asha Traders Pvt Ltd", "email": "accounts@asha.example",
                                 "phone": "+91 90000 11111"})
    assert new.customer_id == new_id
    # Typing the old details again is a new customer, never the superseded version.
    again = make_invoice(items=INR)
    assert again.customer_id not in (old_id, new_id)

    # One customer in the list, under its new name, its page lists both invoices; the old address leads there.
    listing = signed_in_staff.get("/customers/?q=asha").get_data(as_text=True)
    assert listing.count("Asha Traders Pvt Ltd") == 1
    [row] = [r for r in rows_of(listing) if "Pvt Ltd" in r]
    assert "₹1,000.00" in row  # what the old version's issued invoice still owes
    assert signed_in_staff.get(f"/customers/{old_id}").headers["Location"] == f"/customers/{new_id}"
    detail = signed_in_staff.get(f"/customers/{new_id}").get_data(as_text=True)
    assert issued.number in detail and draft.number in detail and new.number in detail
    assert "Issued to Asha Traders · asha@example.com" in detail
    totals = detail.split("<h2>Totals</h2>")[1].split("</table>")[0]
    assert "₹1,000.00" in totals  # the issued invoice still counts for this customer

    # A second edit keeps every older version pointing at the newest.
    signed_in_staff.post(f"/customers/{new_id}/edit", edit_form(name="Asha Group"),
                         token_page=f"/customers/{new_id}/edit")
    db.session.expire_all()
    newest = db.session.scalars(db.select(Customer).where(Customer.name == "Asha Group")).one()
    assert db.session.get(Customer, old_id).current_id == newest.id
    assert customer_of(issued).name == "Asha Traders"
    assert issued.number in signed_in_staff.get(f"/customers/{newest.id}").get_data(as_text=True)


# ---- Who may see customers ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/customers/", "/customers/search?q=a", "/customers/{id}", "/customers/{id}/edit"])
def test_customers_are_for_signed_in_staff_and_admins_only(app, make_invoice, make_user, path):
    from tests.conftest import Browser

    invoice = make_invoice(items=INR)
    path = path.format(id=invoice.customer_id)
    anonymous = app.test_client().get(path)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    admin = make_user("admin@example.com", "admin")
    for email in ("staff@example.com", admin.email):
        browser = Browser(app.test_client())
        assert browser.login(email).status_code == 302
        assert browser.get(path).status_code == 200
    before = db.session.get(Customer, invoice.customer_id).name
    assert app.test_client().post(f"/customers/{invoice.customer_id}/edit", data=edit_form()).status_code in (302, 400)
    assert db.session.get(Customer, invoice.customer_id).name == before


# ---- The invoice form's picker --------------------------------------------------------------------------

def test_the_picker_search_answers_options_carrying_each_customers_details(signed_in_staff, make_invoice):
    make_invoice(customer={"name": "Asha Traders", "email": "asha@example.com", "phone": "+91 98765 43210"})
    make_invoice(name="Bharat Steel", email="orders@bharat.example")
    response = signed_in_staff.get("/customers/search?q=asha", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert "<html" not in html
    [option] = re.findall(r"<button[^>]*data-customer-option[^>]*>", html, re.S)
    customer = db.session.scalars(db.select(Customer).where(Customer.name == "Asha Traders")).one()
    assert f'data-customer-id="{customer.id}"' in option
    assert 'data-customer-name="Asha Traders"' in option and 'data-customer-email="asha@example.com"' in option
    assert 'data-customer-phone="+91 98765 43210"' in option
    assert "Bharat" not in html
    assert "No customer matches" in signed_in_staff.get("/customers/search?q=zzz").get_data(as_text=True)
    assert signed_in_staff.get("/customers/search?q=").get_data(as_text=True).strip() == ""
    assert signed_in_staff.get("/customers/search?q=" + "a" * 201).status_code == 400


def test_the_picker_partial_works_without_javascript(app, signed_in_staff):
    from flask import render_template_string

    with app.test_request_context():
        html = render_template_string('<form>{% include "customers/_picker.html" %}</form>',
                                      customer={"name": "Asha", "email": "bad"},
                                      errors={"customer.email": "is not an email address"})
    # The plain fields are always there and named as the invoice form reads them; the search needs JS.
    for name in ("customer_id", "customer_name", "customer_email", "customer_phone"):
        assert f'name="{name}"' in html
    assert re.search(r'class="picker-search"[^>]*hidden', html)
    assert 'hx-get="/customers/search"' in html
    assert 'aria-invalid="true" aria-describedby="customer_email-error"' in html
    assert 'id="customer_email-error">is not an email address<' in html


# ---- The JSON API ----------------------------------------------------------------------------------------

def test_the_api_lists_and_shows_customers_with_what_they_owe(api, make_invoice):
    inr = make_invoice(items=INR, open_it=True)
    pay(inr, 400_00)
    make_invoice(currency="USD", items=USD, open_it=True)
    make_invoice(name="Bharat Steel", email="orders@bharat.example")

    listing = api.get("/customers?q=asha")
    assert listing.status_code == 200
    body = listing.get_json()
    assert body["total"] == 1 and body["page"] == 1
    [asha] = body["items"]
    assert asha["id"] == inr.customer_id and asha["email"] == "asha@example.com" and asha["phone"] is None
    assert asha["outstanding"] == [{"currency": "INR", "amount": "600.00", "amount_minor": 600_00},
                                   {"currency": "USD", "amount": "300.00", "amount_minor": 300_00}]
    assert "totals" not in asha
    assert [c["name"] for c in api.get("/customers").get_json()["items"]] == ["Asha Traders", "Bharat Steel"]

    one = api.get(f"/customers/{inr.customer_id}").get_json()
    assert one["totals"] == [
        {"currency": "INR", "invoiced": "1000.00", "invoiced_minor": 1000_00, "paid": "400.00",
         "paid_minor": 400_00, "outstanding": "600.00", "outstanding_minor": 600_00},
        {"currency": "USD", "invoiced": "300.00", "invoiced_minor": 300_00, "paid": "0.00", "paid_minor": 0,
         "outstanding": "300.00", "outstanding_minor": 300_00},
    ]
    missing = api.get("/customers/999999")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert api.get("/customers?page=0").status_code == 400
