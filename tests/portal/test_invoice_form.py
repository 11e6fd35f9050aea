"""The invoice form as a browser sends it back: the blank-line bug, error display, tax and discount, and
the running total (issue 9)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.models import Customer, Invoice, TaxRate

from .test_invoices import invoice_form


class FormReader(HTMLParser):
    """What a browser would submit from the invoice form, and every element's attributes."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.elements: list[tuple[str, dict]] = []
        self._select = self._textarea = None
        self._text = ""
        self._forms = 0

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        self.elements.append((tag, a))
        if tag == "form" and "invoice-form" in a.get("class", "").split():
            self._forms += 1
        if self._forms != 1:
            return
        if tag == "input" and a.get("name") and a.get("type", "text") not in ("submit", "button"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "select":
            self._select = [a.get("name"), None, None]
        elif tag == "option" and self._select is not None:
            if self._select[2] is None:
                self._select[2] = a.get("value", "")
            if "selected" in a:
                self._select[1] = a.get("value", "")
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            name, selected, first = self._select
            self.fields.append((name, selected if selected is not None else first or ""))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, self._text))
            self._textarea = None
        elif tag == "form":
            self._forms += 1 if self._forms == 1 else 0

    def handle_data(self, data):
        if self._textarea:
            self._text += data

    def by_id(self, element_id):
        return next((a for _, a in self.elements if a.get("id") == element_id), None)

    def by_name(self, name):
        return next((a for t, a in self.elements if a.get("name") == name and t in ("input", "select", "textarea")),
                    None)


def read(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    return reader


def line_rows(reader: FormReader) -> int:
    return len([1 for name, _ in reader.fields if re.fullmatch(r"items-\d+-description", name)])


def add_rates():
    gst18, gst5 = TaxRate(name="GST 18%", percent_milli=18_000), TaxRate(name="GST 5%", percent_milli=5_000)
    db.session.add_all([gst18, gst5])
    db.session.commit()
    return gst18.id, gst5.id


# ---- the blank-line bug ----------------------------------------------------------------------------

def test_editing_a_draft_and_saving_it_unchanged_succeeds(signed_in_staff, make_invoice):
    invoice = make_invoice()
    page = signed_in_staff.get(f"/invoices/{invoice.id}/edit").get_data(as_text=True)
    form = read(page)
    response = signed_in_staff.client.post(f"/invoices/{invoice.id}/edit", data=MultiDict(form.fields))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    db.session.refresh(invoice)
    assert len(invoice.lines) == 1 and invoice.total_minor == 246900


def test_a_failed_save_does_not_add_a_line_and_a_blank_extra_line_is_ignored(signed_in_staff):
    first = signed_in_staff.post("/invoices/new", invoice_form(customer_email="nope"))
    assert first.status_code == 422
    form = read(first.get_data(as_text=True))
    rows = line_rows(form)
    assert rows == 2  # the two lines typed, no extra blank one
    fields = [(k, "asha@example.com" if k == "customer_email" else v) for k, v in form.fields]
    # A fully blank extra row (the one "Add line" makes, quantity 1) is not an error.
    fields += [("items-2-description", ""), ("items-2-quantity", "1"), ("items-2-unit_price", ""),
               ("items-2-tax_rate_id", "")]
    again = signed_in_staff.client.post("/invoices/new", data=MultiDict(fields))
    assert again.status_code == 302, again.get_data(as_text=True)[:3000]
    assert len(db.session.scalars(db.select(Invoice)).one().lines) == 2


# ---- error display -----------------------------------------------------------------------------------

def test_fields_with_errors_are_marked_described_and_listed_in_a_summary(signed_in_staff):
    response = signed_in_staff.post("/invoices/new", invoice_form(customer_email="nope",
                                                                  **{"items-1-quantity": "99999999999"}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    page = read(html)
    for name, message in (("customer_email", "is not an email address"),
                          ("items-1-quantity", "is too large (at most 1,000,000)")):
        field = page.by_name(name)
        assert field.get("aria-invalid") == "true", name
        described = page.by_id(field["aria-describedby"])
        assert described is not None and "field-error" in described.get("class", "")
        assert re.search(rf'id="{field["aria-describedby"]}"[^>]*>[^<]*{re.escape(message)}', html)
        assert f'href="#{field["id"]}"' in html  # the summary links to the field
    assert "must be a whole number" not in html
    # Focus lands on the first field with an error (autofocus works without JavaScript).
    assert page.by_name("customer_email").get("autofocus") is not None
    assert page.by_name("items-1-quantity").get("autofocus") is None
    assert page.by_name("customer_name").get("aria-invalid") is None
    summary = page.by_id("error-summary")
    assert summary is not None and summary.get("role") == "alert"


# ---- the customer picker ---------------------------------------------------------------------------

def test_the_picked_customer_is_a_hint_that_wins_only_when_the_details_match(signed_in_staff):
    details = {"name": "Asha Traders", "email": "asha@example.com", "phone": "+91 98765 43210"}
    first, second = Customer(**details), Customer(**details)  # the same details twice (made before dedupe)
    db.session.add_all([first, second])
    db.session.commit()

    def save(**overrides):
        response = signed_in_staff.post("/invoices/new", invoice_form(q="asha", **overrides))
        assert response.status_code == 302, response.get_data(as_text=True)[:3000]
        return db.session.get(Invoice, int(response.headers["Location"].rsplit("/", 1)[1])).customer

    # The search box's text rides along with the form and changes nothing.
    assert save(customer_id=str(second.id)).id == second.id
    assert save(customer_id="").id == first.id
    for junk in ("abc", "0", "99999999999", "-3"):  # only a hint: a useless one is ignored, not a 500
        assert save(customer_id=junk).id == first.id
    # Details changed after picking: the details decide, so this is a new customer.
    renamed = save(customer_id=str(second.id), customer_name="Asha Traders Pvt Ltd")
    assert renamed.id not in (first.id, second.id) and renamed.name == "Asha Traders Pvt Ltd"


def test_the_invoice_form_carries_the_picker(signed_in_staff, make_invoice):
    page = read(signed_in_staff.get("/invoices/new").get_data(as_text=True))
    assert page.by_id("customer-search").get("name") == "q"
    assert dict(page.fields)["customer_id"] == ""
    invoice = make_invoice()
    edit = read(signed_in_staff.get(f"/invoices/{invoice.id}/edit").get_data(as_text=True))
    assert dict(edit.fields)["customer_id"] == str(invoice.customer_id)


# ---- tax rates, fractional quantities, discount ---------------------------------------------------

def test_form_saves_tax_per_line_fractional_quantity_and_percent_discount(signed_in_staff):
    gst18, gst5 = add_rates()
    response = signed_in_staff.post("/invoices/new", invoice_form(**{
        "items-0-quantity": "1.5", "items-0-unit_price": "999.99", "items-0-tax_rate_id": str(gst18),
        "items-1-quantity": "2", "items-1-unit_price": "250.00", "items-1-tax_rate_id": str(gst5),
        "discount_type": "percent", "discount_value": "10"}))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    invoice = db.session.scalars(db.select(Invoice)).one()
    assert [l.quantity_milli for l in invoice.lines] == [1500, 2000]
    assert invoice.total_minor == 206549  # worked in tests/unit/test_totals.py
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "₹2,065.49" in page and "GST 18%" in page and "₹243.00" in page and "₹22.50" in page


def test_running_total_comes_from_the_server(signed_in_staff):
    gst18, gst5 = add_rates()
    response = signed_in_staff.post("/invoices/totals", invoice_form(**{
        "items-0-quantity": "1.5", "items-0-unit_price": "999.99", "items-0-tax_rate_id": str(gst18),
        "items-1-quantity": "2", "items-1-unit_price": "250.00", "items-1-tax_rate_id": str(gst5),
        "discount_type": "percent", "discount_value": "10"}))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "₹1,999.99" in html and "−₹200.00" in html and "₹2,065.49" in html
    assert "GST 18%" in html and "₹243.00" in html and "GST 5%" in html and "₹22.50" in html
    # Half-typed lines give a hint, not an error page.
    partial = signed_in_staff.post("/invoices/totals", invoice_form(**{"items-0-unit_price": "abc"}))
    assert partial.status_code == 200
    assert "Totals appear when every line has a valid quantity and price" in partial.get_data(as_text=True)


def test_archived_rate_cannot_be_picked_but_stays_on_a_draft_that_has_it(signed_in_staff, make_invoice, admin):
    gst18, _ = add_rates()
    invoice = make_invoice(items=[{"description": "Work", "quantity": 1, "unit_price": "100.00",
                                   "tax_rate_id": gst18}])
    rate = db.session.get(TaxRate, gst18)
    rate.archived_at = db.func.now()
    db.session.commit()
    page = signed_in_staff.get(f"/invoices/{invoice.id}/edit").get_data(as_text=True)
    response = signed_in_staff.client.post(f"/invoices/{invoice.id}/edit", data=MultiDict(read(page).fields))
    assert response.status_code == 302
    db.session.refresh(invoice)
    assert invoice.lines[0].tax_name == "GST 18%" and invoice.total_minor == 11800
    new = signed_in_staff.post("/invoices/new", invoice_form(**{"items-0-tax_rate_id": str(gst18)}))
    assert new.status_code == 422 and "not one of the tax rates in use" in new.get_data(as_text=True)


def test_currency_is_a_list_and_due_date_defaults_from_terms(signed_in_staff):
    page = signed_in_staff.get("/invoices/new").get_data(as_text=True)
    form = read(page)
    currency = form.by_name("currency")
    assert currency is not None and "<select" in page and '<option value="INR" selected' in page
    due = dict(form.fields)["due_date"]
    from datetime import timedelta
    from portal.merchant import merchant_settings
    assert due == (merchant_settings().today() + timedelta(days=14)).isoformat()  # the merchant's today, not UTC's


# ---- the admin page for tax rates -------------------------------------------------------------------

def test_admin_adds_edits_and_archives_rates_and_invoices_keep_theirs(signed_in_admin, make_invoice):
    browser = signed_in_admin
    assert browser.post("/settings/tax-rates", {"name": "Sales tax 8.875%", "percent": "8.875"}).status_code == 303
    rate = db.session.scalars(db.select(TaxRate)).one()
    assert rate.percent_milli == 8875
    invoice = make_invoice(currency="USD", items=[{"description": "Work", "quantity": 1, "unit_price": "10.00",
                                                   "tax_rate": "Sales tax 8.875%"}])
    assert invoice.total_minor == 1089  # 1000 + 88.75 -> 89
    assert browser.post(f"/settings/tax-rates/{rate.id}", {"name": "Sales tax", "percent": "9"}).status_code == 303
    assert browser.post(f"/settings/tax-rates/{rate.id}/archive", {}).status_code == 303
    db.session.refresh(rate)
    db.session.refresh(invoice)
    assert rate.archived_at is not None and rate.percent_milli == 9000
    assert invoice.lines[0].tax_name == "Sales tax 8.875%" and invoice.total_minor == 1089
    page = browser.get("/settings/tax-rates").get_data(as_text=True)
    assert "Archived" in page and "Restore" in page


def test_rate_input_is_checked_and_staff_cannot_edit_rates(signed_in_admin, browser, staff):
    bad = signed_in_admin.post("/settings/tax-rates", {"name": "", "percent": "100.5"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "is required" in html and "must be at most 100" in html and 'aria-invalid="true"' in html
    assert db.session.scalar(db.select(db.func.count(TaxRate.id))) == 0
    signed_in_admin.post("/logout", {})
    browser.login(staff.email)
    assert browser.get("/settings/tax-rates").status_code == 403
    assert browser.post("/settings/tax-rates", {"name": "GST 1%", "percent": "1"}).status_code == 403
    assert db.session.scalar(db.select(db.func.count(TaxRate.id))) == 0
