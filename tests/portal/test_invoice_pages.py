"""Walking the invoice list page by page, as staff and integrators do, shows every invoice exactly once and in
the same order as the whole list, whatever the sort, filter or ties. Pages are found in two steps (the page's
ids from the indexes, then its rows: service.InvoicePage), so this guards that the two steps agree.
bench/invoice_list.py times the same pages at 100,000 invoices."""
import math
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, insert

from portal.extensions import db
from portal.models import Customer, Invoice, InvoiceLine, InvoiceSequence

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
    "sort=status", "sort=number&dir=asc", "status=paid", "status=open&sort=customer", "q=same", "sort=due",
    "status=paid&sort=due",
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


@pytest.mark.parametrize("query", ["", "status=draft", "q=other", "q=same&status=open"])
def test_api_cursor_walk_is_the_whole_list_in_order_each_once(api, many_invoices, query):
    """next_cursor from page to page (keyset pagination) crosses the ties on created_at (two invoices a
    minute) without skipping or repeating, and agrees with the numbered pages and with the total."""
    whole = [item["number"] for item in api.get(f"/invoices?{query}&per_page=100").get_json()["items"]]
    body = api.get(f"/invoices?{query}&per_page=7").get_json()
    walked, total = [item["number"] for item in body["items"]], body["total"]
    while body["next_cursor"] is not None:
        body = api.get(f"/invoices?{query}&per_page=7&cursor={body['next_cursor']}").get_json()
        assert body["page"] is None and body["total"] == total and body["items"]
        walked += [item["number"] for item in body["items"]]
    assert walked == whole
    assert len(walked) == len(set(walked)) == total > 0


def test_api_cursor_keeps_its_place_when_invoices_are_created_meanwhile(api, many_invoices):
    db.session.add(InvoiceSequence(year=datetime.now(timezone.utc).year, last_value=INVOICES))  # numbers taken
    db.session.commit()
    first = api.get("/invoices?per_page=10").get_json()
    created = api.post("/invoices", json={"customer": {"name": "Newcomer", "email": "new@example.com"}, "currency": "INR",
                                          "items": [{"description": "Work", "quantity": 1, "unit_price": "5"}]})
    assert created.status_code == 201, created.get_json()
    second = api.get(f"/invoices?per_page=10&cursor={first['next_cursor']}").get_json()
    by_page = api.get("/invoices?per_page=21").get_json()["items"]  # now shifted by the new invoice
    assert [i["number"] for i in first["items"] + second["items"]] == [i["number"] for i in by_page[1:]]


def test_api_cursor_with_page_is_refused(api, many_invoices):
    cursor = api.get("/invoices?per_page=7").get_json()["next_cursor"]
    response = api.get(f"/invoices?page=2&cursor={cursor}")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"


def test_api_list_statements_do_not_grow_with_the_page(api, many_invoices, app):
    """Lines, links, payments and customers come for the whole page at once: 50 invoices a page cost the
    database as many statements as 5, by page number or by cursor."""
    statements = []

    def count(*args):
        statements.append(1)

    def statements_for(path: str) -> int:
        api.get(path)  # warm: token checks and caches settle
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert api.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    cursor = api.get("/invoices?per_page=3").get_json()["next_cursor"]
    assert statements_for("/invoices?per_page=50") == statements_for("/invoices?per_page=5")
    assert statements_for(f"/invoices?per_page=50&cursor={cursor}") == statements_for(
        f"/invoices?per_page=5&cursor={cursor}")
