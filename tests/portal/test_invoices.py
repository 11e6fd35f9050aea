"""Staff pages for invoices: create, edit, issue, void, list, search, CSV, audit trail."""
import csv
import io

from portal.extensions import db
from portal.models import AuditEvent, Invoice
from portal.money import Money


def invoice_form(**overrides):
    form = {
        "customer_name": "Asha Traders", "customer_email": "asha@example.com", "customer_phone": "+91 98765 43210",
        "currency": "INR", "due_date": "2026-12-31", "notes": "Thank you",
        "items-0-description": "Website design", "items-0-quantity": "1", "items-0-unit_price": "45000.00",
        "items-1-description": "Hosting", "items-1-quantity": "12", "items-1-unit_price": "499.50",
    }
    form.update(overrides)
    return form


def count_invoices() -> int:
    return db.session.scalar(db.select(db.func.count(Invoice.id)))


def test_create_invoice_from_the_form(signed_in_staff):
    response = signed_in_staff.post("/invoices/new", invoice_form())
    assert response.status_code == 302
    invoice = db.session.scalars(db.select(Invoice)).one()
    assert response.headers["Location"] == f"/invoices/{invoice.id}"
    assert invoice.status == "draft"
    assert invoice.total_minor == 45000_00 + 12 * 499_50
    assert invoice.customer.phone == "+91 98765 43210"
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "₹50,994.00" in page
    assert invoice.number in page
    assert "staff@example.com" in page and "created" in page  # the audit trail


def test_blank_line_rows_are_ignored_and_the_form_reports_every_bad_field(signed_in_staff):
    response = signed_in_staff.post("/invoices/new", invoice_form(**{
        "customer_email": "not-an-email",
        "items-0-unit_price": "12.345",
        "items-1-quantity": "0",
        "items-2-description": "", "items-2-quantity": "", "items-2-unit_price": "",
    }))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "nothing was saved" in page
    assert "is not an email address" in page
    assert "at most 2 decimal places" in page
    assert "must be more than zero" in page
    assert 'value="Website design"' in page  # what the user typed is kept
    assert count_invoices() == 0


def test_add_line_without_javascript_keeps_the_input(signed_in_staff):
    response = signed_in_staff.post("/invoices/new", invoice_form(add_line="1"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="items-2-description"' in page  # two filled rows + the added one
    assert 'name="items-3-description"' not in page
    assert count_invoices() == 0


def test_invoice_numbers_are_sequential_per_year(make_invoice):
    first, second, third = make_invoice(), make_invoice(), make_invoice(currency="USD", items=[
        {"description": "Hours", "quantity": 3, "unit_price": "120.00"}])
    year = first.created_at.year
    assert [first.number, second.number, third.number] == [f"INV-{year}-0001", f"INV-{year}-0002", f"INV-{year}-0003"]


def test_edit_a_draft(signed_in_staff, make_invoice):
    invoice = make_invoice()
    response = signed_in_staff.post(f"/invoices/{invoice.id}/edit", invoice_form(**{
        "currency": "USD", "items-0-unit_price": "100.00", "items-1-unit_price": "0.50"}))
    assert response.status_code == 302
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.currency == "USD"
    assert invoice.total_minor == 100_00 + 12 * 50
    assert any(e.action == "invoice.edited" for e in AuditEvent.for_subject("invoice", invoice.id))


def test_open_invoice_cannot_be_edited(signed_in_staff, make_invoice):
    invoice = make_invoice(open_it=True)
    assert signed_in_staff.get(f"/invoices/{invoice.id}/edit").status_code == 303
    response = signed_in_staff.post(f"/invoices/{invoice.id}/edit", invoice_form(**{"items-0-unit_price": "1.00"}))
    assert response.status_code == 303
    assert db.session.get(Invoice, invoice.id).total_minor == 2 * 1234_50


def test_issue_then_void(signed_in_staff, make_invoice):
    invoice = make_invoice()
    assert signed_in_staff.post(f"/invoices/{invoice.id}/open").status_code == 303
    assert db.session.get(Invoice, invoice.id).status == "open"
    assert signed_in_staff.post(f"/invoices/{invoice.id}/void").status_code == 303
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "void" and invoice.voided_at is not None
    actions = [e.action for e in AuditEvent.for_subject("invoice", invoice.id)]
    assert actions[:2] == ["invoice.voided", "invoice.opened"]
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "voided" in page and ">Void</button>" not in page


def test_paid_invoice_cannot_be_voided(signed_in_staff, make_invoice):
    invoice = make_invoice(open_it=True)
    invoice.record_payment(Money(invoice.total_minor, "INR"))
    db.session.commit()
    response = signed_in_staff.post(f"/invoices/{invoice.id}/void")
    assert response.status_code == 303
    assert db.session.get(Invoice, invoice.id).status == "paid"
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert ">Void</button>" not in page and ">Edit</a>" not in page


def test_unknown_invoice_is_a_404_page(signed_in_staff):
    response = signed_in_staff.get("/invoices/999999")
    assert response.status_code == 404
    assert "There is no such invoice." in response.get_data(as_text=True)


def test_list_is_newest_first_with_search_and_status_filter(signed_in_staff, make_invoice):
    a = make_invoice(name="Asha Traders", email="asha@example.com")
    b = make_invoice(name="Blue Fern LLC", email="ap@bluefern.example", open_it=True)
    c = make_invoice(name="Kobe Imports", email="billing@kobe.example")
    page = signed_in_staff.get("/invoices/").get_data(as_text=True)
    assert page.index(c.number) < page.index(b.number) < page.index(a.number)
    found = signed_in_staff.get("/invoices/?q=blue fern").get_data(as_text=True)
    assert b.number in found and a.number not in found and c.number not in found
    by_email = signed_in_staff.get("/invoices/?q=KOBE.EXAMPLE").get_data(as_text=True)
    assert c.number in by_email and b.number not in by_email
    by_number = signed_in_staff.get(f"/invoices/?q={a.number}").get_data(as_text=True)
    assert a.number in by_number and b.number not in by_number
    drafts = signed_in_staff.get("/invoices/?status=draft").get_data(as_text=True)
    assert a.number in drafts and c.number in drafts and b.number not in drafts


def test_search_treats_wildcards_literally(signed_in_staff, make_invoice):
    make_invoice(name="Asha Traders")
    page = signed_in_staff.get("/invoices/?q=%25").get_data(as_text=True)
    assert "No invoices match" in page


def test_pagination(app, signed_in_staff, make_invoice):
    app.config["INVOICES_PER_PAGE"] = 2
    invoices = [make_invoice() for _ in range(5)]
    first = signed_in_staff.get("/invoices/").get_data(as_text=True)
    assert "Page 1 of 3" in first and invoices[4].number in first and invoices[2].number not in first
    last = signed_in_staff.get("/invoices/?page=3").get_data(as_text=True)
    assert invoices[0].number in last and invoices[1].number not in last
    assert "No invoices match" in signed_in_staff.get("/invoices/?page=99").get_data(as_text=True)


def test_htmx_request_gets_only_the_results_partial(signed_in_staff, make_invoice):
    invoice = make_invoice()
    response = signed_in_staff.get("/invoices/?q=asha", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert invoice.number in body
    assert "<html" not in body
    assert "HX-Request" in response.headers["Vary"]


def test_csv_export_follows_the_filter_and_defuses_formulas(signed_in_staff, make_invoice):
    make_invoice(name="=HYPERLINK(\"http://evil\")", email="evil@example.com", open_it=True)
    make_invoice(currency="KWD", items=[{"description": "Parts", "quantity": 2, "unit_price": "12.750"}],
                 name="Gulf Supplies", email="gulf@example.com")
    response = signed_in_staff.get("/invoices/export.csv?status=draft")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["customer"], r["currency"], r["total"], r["status"]) for r in rows] == [
        ("Gulf Supplies", "KWD", "25.500", "draft")]
    everything = list(csv.DictReader(io.StringIO(signed_in_staff.get("/invoices/export.csv").get_data(as_text=True))))
    assert len(everything) == 2
    assert everything[1]["customer"].startswith("'=")  # a spreadsheet shows it as text


def test_csv_export_rejects_an_unknown_status(signed_in_staff):
    assert signed_in_staff.get("/invoices/export.csv?status=bogus").status_code == 400


def test_a_new_spelling_of_the_customer_does_not_rewrite_issued_invoices(make_invoice):
    old = make_invoice(name="Asha Traders", email="asha@example.com", open_it=True)
    new = make_invoice(name="Asha Traders Pvt Ltd", email="asha@example.com")
    same = make_invoice(name="Asha Traders Pvt Ltd", email="asha@example.com")
    assert db.session.get(Invoice, old.id).customer.name == "Asha Traders"
    assert new.customer.name == "Asha Traders Pvt Ltd"
    assert same.customer_id == new.customer_id  # identical details reuse the customer
