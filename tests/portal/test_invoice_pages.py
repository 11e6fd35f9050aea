"""Walking the invoice list page by page, as staff and integrators do, shows every invoice exactly once and in
the same order as the whole list, whatever the sort, filter or ties. Pages are found in two steps (the page's
ids from the indexes, then its rows: service.InvoicePage), so this guards that the two steps agree.
bench/invoice_list.py times the same pages at 100,000 invoices."""
import math
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from portal.extensions import db
from portal.models import Customer, Invoice, InvoiceLine

from .test_invoice_list import csv_numbers, numbers_on

INVOICES = 61  # three pages of 25 in the HTML list, nine of 7 in the API, the last page short


@pytest.fixture
def many_invoices(app):
    """Invoices with ties on every sort key: customers that share a name (told apart by their id), amounts,
    due dates, statuses and creation times that repeat."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    db.session.execute(insert(Customer), [
        {"id": 9001 + i, "name": ["Same Name", "same name", "Other Co"][i % 3], "email": f"c{i}@example.com",
         "phone": "", "created_at": now} for i in range(6)])
    rows = [{"id": 5001 + i, "number": f"INV-2026-{i + 1:04d}", "customer_id": 9001 + i % 6,
             "currency": ["INR", "USD"][i % 2], "status": ["draft", "open", "paid"][i % 3],
             "total_minor": 1000 * (i % 4), "amount_paid_minor": 0, "notes": "",
             "due_date": None if i % 5 == 0 else (now + timedelta(days=i % 3)).date(),
             "pay_token": secrets.token_urlsafe(24), "created_at": now - timedelta(minutes=i // 2),
             "updated_at": now} for i in range(INVOICES)]
    db.session.execute(insert(Invoice), rows)
    db.session.execute(insert(InvoiceLine), [{"invoice_id": r["id"], "position": 0, "description": "Work",
                                              "quantity_milli": 1000, "unit_price_minor": r["total_minor"]}
                                             for r in rows])
    db.session.commit()
    return rows


@pytest.mark.parametrize("query", [
    "", "sort=created&dir=asc", "sort=customer", "sort=customer&dir=asc", "sort=amount", "sort=due&dir=asc",
    "sort=status", "sort=number&dir=asc", "status=paid", "status=open&sort=customer", "q=same",
])
def test_html_pages_together_are_the_whole_list_in_order(signed_in_staff, many_invoices, query):
    whole = csv_numbers(signed_in_staff.get(f"/invoices/export.csv?{query}"))
    assert whole, "the filter must match something for the walk to mean anything"
    walked = []
    for page in range(1, math.ceil(len(whole) / 25) + 2):  # one page past the end: empty
        walked += numbers_on(signed_in_staff.get(f"/invoices/?{query}&page={page}").get_data(as_text=True))
    assert walked == whole
    assert len(set(walked)) == len(walked)


@pytest.mark.parametrize("query", ["", "status=draft", "q=other"])
def test_api_pages_together_are_the_whole_list_and_say_the_total(api, many_invoices, query):
    first = api.get(f"/invoices?{query}&per_page=7").get_json()
    total = first["total"]
    walked = []
    for page in range(1, math.ceil(total / 7) + 1):
        body = api.get(f"/invoices?{query}&per_page=7&page={page}").get_json()
        assert body["total"] == total and body["page"] == page
        walked += [item["number"] for item in body["items"]]
    whole = api.get(f"/invoices?{query}&per_page=100").get_json()["items"]  # all of them on one page
    assert walked == [item["number"] for item in whole]
    assert len(walked) == total == len(set(walked)) > 0
    created = [item["created_at"] for item in whole]
    assert created == sorted(created, reverse=True)  # newest first
    assert api.get(f"/invoices?{query}&per_page=7&page={math.ceil(total / 7) + 1}").get_json()["items"] == []
