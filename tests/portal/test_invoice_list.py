"""The invoice list as staff use it: sort by a column, narrow to dates, see what the filtered invoices add up
to per currency, and take the same rows, in the same order, away as CSV. Bad parameters are a clear 400."""
import csv
import html
import io
import re
from datetime import date, datetime, timezone

import pytest

from portal.extensions import db
from portal.models import Invoice
from portal.money import Money


def numbers_on(html: str) -> list[str]:
    return re.findall(r">(INV-\d{4}-\d{4})</a>", html)


def csv_numbers(response) -> list[str]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return [row["number"] for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))]


def created_on(invoice: Invoice, day: date) -> None:
    db.session.get(Invoice, invoice.id).created_at = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)
    db.session.commit()


@pytest.fixture
def invoices(make_invoice):
    """Four invoices in two currencies, different customers, amounts, due dates, statuses and days."""
    made = {
        "zen": make_invoice(name="Zenith Exports", email="z@example.com", due_date="2026-05-01",
                            items=[{"description": "Audit", "quantity": 1, "unit_price": "900.00"}]),
        "asha": make_invoice(name="asha traders", email="a@example.com", open_it=True,
                             items=[{"description": "Design", "quantity": 1, "unit_price": "100.50"}]),
        "kobe": make_invoice(name="Kobe Imports", email="k@example.com", currency="USD", due_date="2026-03-01",
                             items=[{"description": "Support", "quantity": 2, "unit_price": "600.00"}]),
        "mira": make_invoice(name="Mira Foods", email="m@example.com", due_date="2026-04-01", open_it=True,
                             items=[{"description": "Catering", "quantity": 3, "unit_price": "2500.00"}]),
    }
    for key, day in (("zen", date(2026, 1, 5)), ("asha", date(2026, 2, 10)), ("kobe", date(2026, 2, 20)),
                     ("mira", date(2026, 3, 31))):
        created_on(made[key], day)
    made["mira"].record_payment(Money(250000, "INR"))
    db.session.commit()
    return {key: invoice.number for key, invoice in made.items()}


@pytest.mark.parametrize("sort, expected", [
    ("number", ["zen", "asha", "kobe", "mira"]),
    ("customer", ["asha", "kobe", "mira", "zen"]),   # case does not matter
    ("amount", ["asha", "zen", "mira", "kobe"]),     # within each currency: INR before USD
    ("due", ["kobe", "mira", "zen", "asha"]),        # no due date: last
    ("status", ["zen", "kobe", "asha", "mira"]),     # draft, draft, open, partially paid (by id on ties)
    ("created", ["zen", "asha", "kobe", "mira"]),
])
def test_each_column_sorts_both_ways_and_says_so(signed_in_staff, invoices, sort, expected):
    ascending = signed_in_staff.get(f"/invoices/?sort={sort}&dir=asc").get_data(as_text=True)
    assert numbers_on(ascending) == [invoices[k] for k in expected]
    assert re.search(r'<th[^>]*aria-sort="ascending"[^>]*>\s*<a class="sort" href="[^"]*sort=' + sort, ascending)
    descending = signed_in_staff.get(f"/invoices/?sort={sort}&dir=desc").get_data(as_text=True)
    if sort == "due":  # invoices with no due date stay last in either direction
        assert numbers_on(descending) == [invoices[k] for k in ["zen", "mira", "kobe", "asha"]]
    elif sort == "status":  # ties keep the id order, reversed with the rest
        assert numbers_on(descending) == [invoices[k] for k in ["mira", "asha", "kobe", "zen"]]
    else:
        assert numbers_on(descending) == [invoices[k] for k in reversed(expected)]
    assert descending.count("aria-sort=") == 1 and 'aria-sort="descending"' in descending


def test_the_default_order_is_newest_first_and_header_links_flip_the_direction(signed_in_staff, invoices):
    html = signed_in_staff.get("/invoices/").get_data(as_text=True)
    assert numbers_on(html) == [invoices[k] for k in ["mira", "kobe", "asha", "zen"]]
    assert 'href="/invoices/?sort=number&amp;dir=asc"' in html
    html = signed_in_staff.get("/invoices/?sort=number&dir=asc&status=draft").get_data(as_text=True)
    assert 'href="/invoices/?status=draft&amp;sort=number&amp;dir=desc"' in html  # filters kept, direction flipped


def test_a_date_range_keeps_whole_days_at_both_ends(signed_in_staff, invoices):
    html = signed_in_staff.get("/invoices/?from=2026-02-10&to=2026-03-31").get_data(as_text=True)
    assert numbers_on(html) == [invoices[k] for k in ["mira", "kobe", "asha"]]
    html = signed_in_staff.get("/invoices/?from=2026-02-11").get_data(as_text=True)
    assert numbers_on(html) == [invoices[k] for k in ["mira", "kobe"]]
    html = signed_in_staff.get("/invoices/?to=2026-02-09").get_data(as_text=True)
    assert numbers_on(html) == [invoices["zen"]]
    # The first and last days a date can name are ranges too, not a 500.
    for path in ("/invoices/?from=0001-01-01&to=9999-12-31", "/invoices/export.csv?from=0001-01-01&to=9999-12-31"):
        response = signed_in_staff.get(path)
        assert response.status_code == 200 and invoices["zen"] in response.get_data(as_text=True)


def test_totals_per_currency_cover_every_filtered_invoice_not_just_the_page(app, signed_in_staff, invoices):
    app.config["INVOICES_PER_PAGE"] = 1
    html = signed_in_staff.get("/invoices/").get_data(as_text=True)
    assert len(numbers_on(html)) == 1
    totals = re.search(r'<ul class="list-totals".*?</ul>', html, re.S).group(0)
    # INR: 900.00 + 100.50 + 7,500.00 in three invoices, 2,500.00 paid; USD: 1,200.00, nothing paid.
    assert "₹8,500.50" in totals and "3 invoices" in totals and "₹2,500.00 paid" in totals
    assert "$1,200.00" in totals and "1 invoice," in totals and "$0.00 paid" in totals
    narrowed = signed_in_staff.get("/invoices/?from=2026-02-01&status=open").get_data(as_text=True)
    totals = re.search(r'<ul class="list-totals".*?</ul>', narrowed, re.S).group(0)
    assert "₹100.50" in totals and "1 invoice," in totals and "$" not in totals


def test_csv_export_follows_the_filters_and_the_sort(signed_in_staff, invoices):
    assert csv_numbers(signed_in_staff.get("/invoices/export.csv?sort=customer&dir=desc")) == [
        invoices[k] for k in ["zen", "mira", "kobe", "asha"]]
    assert csv_numbers(signed_in_staff.get("/invoices/export.csv?from=2026-02-01&to=2026-02-28&sort=amount")) == [
        invoices[k] for k in ["asha", "kobe"]]
    # The list's own export link carries what the list shows.
    html = signed_in_staff.get("/invoices/?q=example&status=draft&from=2026-01-01&sort=due&dir=desc"
                               ).get_data(as_text=True)
    link = re.search(r'href="([^"]*export\.csv[^"]*)"', html).group(1).replace("&amp;", "&")
    assert link == "/invoices/export.csv?q=example&status=draft&from=2026-01-01&sort=due&dir=desc"
    assert csv_numbers(signed_in_staff.get(link)) == [invoices[k] for k in ["zen", "kobe"]]
    assert numbers_on(html) == [invoices[k] for k in ["zen", "kobe"]]


@pytest.mark.parametrize("query, named", [
    ("sort=price", "'sort'"), ("sort=id;drop", "'sort'"), ("dir=up", "'dir'"), ("dir=ASC", "'dir'"),
    ("from=2026-13-01", "'from'"), ("from=yesterday", "'from'"), ("to=2026-02-30", "'to'"),
    ("from=2026-W05-1", "'from'"), ("from=20260101", "'from'"), ("to=99999-01-01", "'to'"),
    ("from=2026-03-01&to=2026-02-01", "'from'"),
])
def test_bad_sort_direction_or_dates_are_a_clear_400(signed_in_staff, invoices, query, named):
    for path in ("/invoices/", "/invoices/export.csv"):
        response = signed_in_staff.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert named in html.unescape(response.get_data(as_text=True))
    assert signed_in_staff.get(f"/invoices/?{query}", headers={"HX-Request": "true"}).status_code == 400


def test_the_htmx_partial_keeps_sort_and_filters_and_varies_on_hx_request(signed_in_staff, invoices):
    response = signed_in_staff.get("/invoices/?sort=amount&dir=desc&from=2026-02-01",
                                   headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body and "HX-Request" in response.headers["Vary"]
    assert numbers_on(body) == [invoices[k] for k in ["kobe", "mira", "asha"]]
    # The filter form sends the current sort with its next search (fields tied to it by form=).
    assert '<input type="hidden" form="invoice-filters" name="sort" value="amount">' in body
    assert '<input type="hidden" form="invoice-filters" name="dir" value="desc">' in body


def test_rows_carry_their_column_names_for_phones(signed_in_staff, invoices):
    html = signed_in_staff.get("/invoices/").get_data(as_text=True)
    for label in ("Number", "Customer", "Status", "Total", "Due", "Created"):
        assert html.count(f'data-label="{label}"') == 4


def test_navigation_marks_the_current_page_and_has_a_skip_link(signed_in_admin, make_invoice):
    invoice = make_invoice()
    for path, current in (("/invoices/", "Invoices"), (f"/invoices/{invoice.id}", "Invoices"),
                          ("/invoices/new", "New invoice"), ("/gateways/", "Gateways"), ("/users/", "Users")):
        html = signed_in_admin.get(path).get_data(as_text=True)
        nav = re.search(r'<nav class="site-nav".*?</nav>', html, re.S).group(0)
        assert re.findall(r'aria-current="page">([^<]+)<', nav) == [current], path
        assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
    account = signed_in_admin.get("/account").get_data(as_text=True)
    assert re.search(r'href="/account"[^>]*aria-current="page"', account)


def test_the_date_range_and_the_created_column_follow_the_merchants_time_zone(signed_in_staff, make_invoice):
    """20:00 UTC on 10 February is 01:30 on 11 February in Kolkata (the default zone): a merchant there
    made that invoice on the 11th, so a range of 11 February finds it and the list says 01:30."""
    from tests.portal.test_home import set_zone

    late = make_invoice(name="Late Night Ltd", email="late@example.com")
    db.session.get(Invoice, late.id).created_at = datetime(2026, 2, 10, 20, 0, tzinfo=timezone.utc)
    db.session.commit()

    html = signed_in_staff.get("/invoices/?from=2026-02-11&to=2026-02-11").get_data(as_text=True)
    assert numbers_on(html) == [late.number]
    assert "2026-02-11 01:30 IST" in html
    assert numbers_on(signed_in_staff.get("/invoices/?to=2026-02-10").get_data(as_text=True)) == []
    assert csv_numbers(signed_in_staff.get("/invoices/export.csv?from=2026-02-11&to=2026-02-11")) == [late.number]

    set_zone("UTC")
    html = signed_in_staff.get("/invoices/?from=2026-02-10&to=2026-02-10").get_data(as_text=True)
    assert numbers_on(html) == [late.number] and "2026-02-10 20:00 UTC" in html
    assert numbers_on(signed_in_staff.get("/invoices/?from=2026-02-11").get_data(as_text=True)) == []
