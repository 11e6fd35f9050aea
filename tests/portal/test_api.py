"""The JSON API (`/api/v1`, docs/endpoints.md), as an integrator sees it: status codes, error codes,
JSON bodies, and that a rejected request changes nothing in the database."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import ApiToken, AuditEvent, Customer, Invoice, InvoiceLine, InvoiceSequence, utcnow
from portal.money import Money

FRONTEND = "https://portal.example"
INVOICE_FIELDS = {"id", "number", "status", "currency", "amount", "amount_minor", "amount_paid_minor",
                  "customer", "pay_url", "created_at", "paid_at", "links", "payments"}


# -- helpers -----------------------------------------------------------------------------------

def payload(**overrides) -> dict:
    data = {"customer": {"name": "Asha Traders", "email": "asha@example.com"}, "currency": "INR",
            "items": [{"description": "Design work", "quantity": 2, "unit_price": "1234.50"}]}
    data.update(overrides)
    return data


def item(unit_price="100.00", quantity=1, description="Work") -> dict:
    return {"description": description, "quantity": quantity, "unit_price": unit_price}


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is `{"error": {"code": str, "message": str, ...}}` with that status, as JSON."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json", response.mimetype
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert isinstance(error.get("code"), str) and re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), body
    assert isinstance(error.get("message"), str) and error["message"].strip(), body
    if code is not None:
        assert error["code"] == code, body
    return error


def db_state() -> dict:
    """Everything a create/edit/transition could touch, to show that a rejected request changed nothing."""
    db.session.expire_all()
    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    return {
        "invoices": count(Invoice), "customers": count(Customer), "lines": count(InvoiceLine),
        "audit": count(AuditEvent),
        "sequences": sorted(db.session.execute(select(InvoiceSequence.year, InvoiceSequence.last_value)).all()),
        "rows": sorted(db.session.execute(select(Invoice.id, Invoice.status, Invoice.currency, Invoice.total_minor,
                                                 Invoice.amount_paid_minor, Invoice.customer_id)).all()),
        "customer_rows": sorted(db.session.execute(select(Customer.id, Customer.name, Customer.email)).all()),
    }


def mark_paid(invoice: Invoice) -> None:
    invoice.record_payment(Money(invoice.total_minor, invoice.currency))
    db.session.commit()


def status_of(invoice_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Invoice, invoice_id).status


# -- authentication ----------------------------------------------------------------------------

def test_no_authorization_header_is_401_unauthorized_with_challenge(client, staff):
    response = client.get("/api/v1/invoices")
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "hp_only-the-token"])
def test_malformed_authorization_header_is_401(client, staff, header):
    response = client.get("/api/v1/invoices", headers={"Authorization": header})
    assert_error(response, 401, "unauthorized")
    assert "WWW-Authenticate" in response.headers


def test_wrong_token_is_401_invalid_token(client, staff):
    response = client.get("/api/v1/invoices", headers={"Authorization": "Bearer hp_not-a-real-token"})
    assert_error(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_unauthenticated_create_creates_nothing(client, staff):
    before = db_state()
    assert_error(client.post("/api/v1/invoices", json=payload()), 401, "unauthorized")
    assert_error(client.post("/api/v1/invoices", json=payload(),
                             headers={"Authorization": "Bearer wrong"}), 401, "invalid_token")
    assert db_state() == before


def test_token_of_deactivated_user_is_refused(api, staff):
    assert api.get("/invoices").status_code == 200
    staff.active = False
    db.session.commit()
    assert_error(api.get("/invoices"), 401, "invalid_token")
    assert_error(api.post("/invoices", json=payload()), 401, "invalid_token")
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_revoked_token_is_refused(api, staff):
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == staff.id))
    token.revoked_at = utcnow()
    db.session.commit()
    assert_error(api.get("/invoices"), 401, "invalid_token")


def test_token_from_cli_works_and_is_stored_hashed(app, client, runner, make_user):
    user = make_user("cli@example.com", "staff")
    result = runner.invoke(args=["api-tokens", "create", user.email])
    assert result.exit_code == 0, result.output
    plain = result.stdout.strip().splitlines()[-1].strip()
    assert plain.startswith("hp_") and len(plain) >= 32

    response = client.get("/api/v1/invoices", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["total"] == 0
    # The scheme name is case-insensitive (RFC 7235).
    assert client.get("/api/v1/invoices", headers={"Authorization": f"bearer {plain}"}).status_code == 200

    created = client.post("/api/v1/invoices", json=payload(), headers={"Authorization": f"Bearer {plain}"})
    assert created.status_code == 201
    assert db.session.get(Invoice, created.get_json()["id"]).created_by_id == user.id

    # Stored hashed: the plain token is nowhere in the table, not even as a substring.
    db.session.expire_all()
    rows = db.session.execute(text("SELECT * FROM api_tokens")).all()
    assert rows
    for row in rows:
        for value in row:
            assert plain not in str(value)
            assert plain[3:] not in str(value)
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert row.last_used_at is not None


def test_cli_refuses_unknown_or_inactive_user(runner, make_user):
    result = runner.invoke(args=["api-tokens", "create", "nobody@example.com"])
    assert result.exit_code != 0
    inactive = make_user("gone@example.com", "staff")
    inactive.active = False
    db.session.commit()
    assert runner.invoke(args=["api-tokens", "create", inactive.email]).exit_code != 0
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


# -- create ------------------------------------------------------------------------------------

def test_create_returns_201_with_location_and_contract_fields(api):
    response = api.post("/invoices", json=payload())
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert INVOICE_FIELDS <= set(body), INVOICE_FIELDS - set(body)
    assert response.headers["Location"].endswith(f"/api/v1/invoices/{body['id']}")

    year = utcnow().year
    assert body["number"] == f"INV-{year}-0001"
    assert body["status"] == "draft"
    assert body["currency"] == "INR"
    assert body["amount"] == "2469.00" and isinstance(body["amount"], str)
    assert body["amount_minor"] == 246900 and type(body["amount_minor"]) is int
    assert body["amount_paid_minor"] == 0 and type(body["amount_paid_minor"]) is int
    assert body["customer"]["name"] == "Asha Traders"
    assert body["customer"]["email"] == "asha@example.com"
    assert body["paid_at"] is None
    assert body["links"] == [] and body["payments"] == []
    created_at = datetime.fromisoformat(body["created_at"])
    assert created_at.utcoffset() is not None  # timezone-aware
    assert body["items"] == [{"description": "Design work", "quantity": 2, "unit_price": "1234.50",
                              "unit_price_minor": 123450, "amount": "2469.00", "amount_minor": 246900,
                              # issue 9, additive: quantities in thousandths, tax and discount per line
                              "quantity_milli": 2000, "tax_rate_id": None, "tax_rate": None,
                              "discount_minor": 0, "tax_minor": 0}]
    assert body["subtotal_minor"] == body["total_minor"] == 246900 and body["taxes"] == []
    assert body["discount"] is None

    # The Location points at the same invoice.
    again = api.get(f"/invoices/{body['id']}")
    assert again.status_code == 200 and again.get_json() == body

    invoice = db.session.get(Invoice, body["id"])
    assert invoice.total_minor == 246900 and invoice.status == "draft"


def test_pay_url_carries_an_unguessable_token(api):
    first = api.post("/invoices", json=payload()).get_json()
    second = api.post("/invoices", json=payload()).get_json()
    for body in (first, second):
        assert body["pay_url"].startswith(FRONTEND + "/pay/")
        token = body["pay_url"][len(FRONTEND + "/pay/"):]
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", token), token  # >= 128 bits of url-safe base64
        assert token != str(body["id"]) and token != body["number"]
        assert body["number"] not in token and body["number"].split("-")[-1] not in token.split("-")
    assert first["pay_url"] != second["pay_url"]


@pytest.mark.parametrize("currency, items, amount, minor", [
    ("INR", [item("1234.50", 2)], "2469.00", 246900),
    ("JPY", [item("500", 3)], "1500", 1500),
    ("KWD", [item("1.250", 1)], "1.250", 1250),
    ("USD", [item("19.99", 3), item("0.03", 1)], "60.00", 6000),
    ("INR", [item(12, 2)], "24.00", 2400),  # an integer JSON number is whole major units, exactly
    ("inr", [item(" 7.5 ", "4")], "30.00", 3000),  # code case, padding and string quantity are tolerated
])
def test_create_amounts_are_exact_decimal_strings_and_minor_units(api, currency, items, amount, minor):
    response = api.post("/invoices", json=payload(currency=currency, items=items))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["currency"] == currency.upper()
    assert body["amount"] == amount
    assert body["amount_minor"] == minor and type(body["amount_minor"]) is int
    assert db.session.get(Invoice, body["id"]).total_minor == minor


def test_numbers_are_sequential_and_gap_free_across_rejected_requests(api):
    year = utcnow().year
    first = api.post("/invoices", json=payload()).get_json()["number"]
    assert_error(api.post("/invoices", json=payload(currency="XYZ")), 422, "validation_failed")
    assert_error(api.post("/invoices", data="nope", content_type="text/plain"), 400, "invalid_json")
    second = api.post("/invoices", json=payload()).get_json()["number"]
    assert (first, second) == (f"INV-{year}-0001", f"INV-{year}-0002")


def test_create_records_an_audit_event_for_the_token_user(api, staff):
    body = api.post("/invoices", json=payload()).get_json()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "invoice.created")).all()
    assert len(events) == 1
    assert events[0].actor_id == staff.id and events[0].subject_id == body["id"]


# -- create: bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"data": "customer=Asha", "content_type": "application/x-www-form-urlencoded"},
    {"data": '{"customer": {}}', "content_type": "text/plain"},
    {"data": "{not json", "content_type": "application/json"},
    {"data": "", "content_type": "application/json"},
    {"data": b"\xff\xfe{}", "content_type": "application/json"},
    {"data": "null", "content_type": "application/json"},
])
def test_create_without_a_json_body_is_400_invalid_json(api, kwargs):
    before = db_state()
    error = assert_error(api.post("/invoices", **kwargs), 400, "invalid_json")
    assert "JSON" in error["message"]
    assert db_state() == before


@pytest.mark.parametrize("body", [[], [payload()], "invoice", 42, True])
def test_create_with_a_json_body_that_is_not_an_object_is_rejected_clearly(api, body):
    before = db_state()
    response = api.post("/invoices", json=body)
    assert response.status_code in (400, 422)
    error = assert_error(response, response.status_code)
    assert "object" in error["message"].lower()
    assert db_state() == before


def test_deeply_nested_json_is_a_client_error_not_a_crash(api):
    before = db_state()
    response = api.post("/invoices", data="[" * 100_000 + "]" * 100_000, content_type="application/json")
    assert response.status_code in (400, 413, 422)
    assert_error(response, response.status_code)
    assert db_state() == before


@pytest.mark.parametrize("body, fields", [
    ({"currency": "INR", "items": [item()]}, {"customer"}),
    (payload(customer={"email": "a@example.com"}), {"customer.name"}),
    (payload(customer={"name": "   ", "email": "a@example.com"}), {"customer.name"}),
    (payload(customer={"name": "Asha"}), {"customer.email"}),
    (payload(customer={"name": "Asha", "email": "not-an-email"}), {"customer.email"}),
    (payload(customer={"name": 12, "email": "a@example.com"}), {"customer.name"}),
    (payload(customer={"name": "Asha", "email": "a@example.com", "phone": "call me"}), {"customer.phone"}),
    (payload(customer="Asha Traders"), {"customer"}),
    ({"customer": {"name": "Asha", "email": "a@example.com"}, "items": [item()]}, {"currency"}),
    (payload(currency="XYZ"), {"currency"}),
    (payload(currency="RUPEES"), {"currency"}),
    (payload(currency=356), {"currency"}),
    ({"customer": {"name": "Asha", "email": "a@example.com"}, "currency": "INR"}, {"items"}),
    (payload(items=[]), {"items"}),
    (payload(items={"description": "x", "unit_price": "1"}), {"items"}),
    (payload(items=["Design work"]), {"items[0]"}),
    (payload(items=[item() for _ in range(101)]), {"items"}),
    (payload(items=[item("12.345")]), {"items[0].unit_price"}),
    (payload(currency="JPY", items=[item("12.5")]), {"items[0].unit_price"}),
    (payload(currency="JPY", items=[item("12.00")]), {"items[0].unit_price"}),
    (payload(items=[item(12.5)]), {"items[0].unit_price"}),
    (payload(items=[item(12.0)]), {"items[0].unit_price"}),
    (payload(items=[item(0.1)]), {"items[0].unit_price"}),
    (payload(items=[item("-5.00")]), {"items[0].unit_price"}),
    (payload(items=[item(-5)]), {"items[0].unit_price"}),
    (payload(items=[item("1,234.50")]), {"items[0].unit_price"}),
    (payload(items=[item("1e3")]), {"items[0].unit_price"}),
    (payload(items=[item("NaN")]), {"items[0].unit_price"}),
    (payload(items=[item(True)]), {"items[0].unit_price"}),
    (payload(items=[item(None)]), {"items[0].unit_price"}),
    (payload(items=[item({"amount": "1"})]), {"items[0].unit_price"}),
    (payload(items=[item("9" * 16)]), {"items[0].unit_price"}),
    (payload(items=[item("0.00")]), {"items"}),
    (payload(items=[item(quantity=0)]), {"items[0].quantity"}),
    (payload(items=[item(quantity=-1)]), {"items[0].quantity"}),
    (payload(items=[item(quantity="abc")]), {"items[0].quantity"}),
    (payload(items=[item(quantity=True)]), {"items[0].quantity"}),
    (payload(items=[item(quantity=1.5)]), {"items[0].quantity"}),
    (payload(items=[item(quantity=2.0)]), {"items[0].quantity"}),
    (payload(items=[item(quantity=10**30)]), {"items[0].quantity"}),
    (payload(items=[item(quantity=None)]), {"items[0].quantity"}),
    (payload(items=[{"quantity": 1, "unit_price": "1.00"}]), {"items[0].description"}),
    (payload(items=[item(description="x" * 501)]), {"items[0].description"}),
    (payload(due_date="31/12/2026"), {"due_date"}),
    (payload(due_date="2026-02-30"), {"due_date"}),
    (payload(due_date=20261231), {"due_date"}),
    (payload(notes=["a"]), {"notes"}),
])
def test_create_with_a_bad_field_is_422_naming_it_and_creates_nothing(api, body, fields):
    before = db_state()
    response = api.post("/invoices", json=body)
    error = assert_error(response, 422, "validation_failed")
    assert isinstance(error.get("fields"), dict), error
    # Each expected field is named; anything else named is a part of one (a missing `customer` also
    # means a missing `customer.name`).
    assert fields <= set(error["fields"]), error["fields"]
    assert all(any(f == e or f.startswith(e + ".") for e in fields) for f in error["fields"]), error["fields"]
    assert all(isinstance(v, str) and v for v in error["fields"].values())
    for name in fields:
        assert name in error["message"]
    assert db_state() == before


def test_every_bad_field_is_named_at_once(api):
    before = db_state()
    body = {"customer": {"name": "", "email": "nope"}, "currency": "INR",
            "items": [item("12.345", quantity=0), item(12.5, quantity="abc"), item("-1", quantity=True),
                      item("5.00", quantity=2)],
            "due_date": "tomorrow"}
    error = assert_error(api.post("/invoices", json=body), 422, "validation_failed")
    assert set(error["fields"]) == {
        "customer.name", "customer.email", "due_date",
        "items[0].unit_price", "items[0].quantity", "items[1].unit_price", "items[1].quantity",
        "items[2].unit_price", "items[2].quantity",
    }
    assert db_state() == before


def test_float_money_is_never_rounded_into_an_amount(api):
    """A JSON number with a fraction is refused outright; nothing like 12.50 or 12.49 is stored."""
    before = db_state()
    for price in (12.5, 1234.5, 0.1 + 0.2, 19.99):
        error = assert_error(api.post("/invoices", json=payload(items=[item(price)])), 422, "validation_failed")
        assert "float" in error["fields"]["items[0].unit_price"].lower()
    assert db_state() == before


def test_total_too_large_is_rejected_not_overflowed(api):
    before = db_state()
    huge = payload(items=[item("999999999999999.99", quantity=1_000_000)])
    error = assert_error(api.post("/invoices", json=huge), 422, "validation_failed")
    assert "items" in error["fields"]
    assert db_state() == before


def test_text_with_nul_characters_is_rejected_not_a_server_error(api):
    before = db_state()
    body = payload(customer={"name": "Asha\x00Traders", "email": "asha@example.com"},
                   items=[item(description="Design\x00work")], notes="a\x00b")
    response = api.post("/invoices", json=body)
    error = assert_error(response, 422, "validation_failed")
    assert {"customer.name", "items[0].description", "notes"} <= set(error["fields"])
    assert db_state() == before


# -- list --------------------------------------------------------------------------------------

def test_list_is_newest_first_with_page_metadata(api, make_invoice):
    ids = [make_invoice(name=f"Customer {i}", email=f"c{i}@example.com").id for i in range(3)]
    response = api.get("/invoices")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"items", "page", "per_page", "total", "next_cursor"}
    assert body["page"] == 1 and body["per_page"] == 25 and body["total"] == 3
    assert body["next_cursor"] is None  # everything is on this page
    assert [i["id"] for i in body["items"]] == list(reversed(ids))
    assert all(INVOICE_FIELDS <= set(i) for i in body["items"])
    assert body["items"][0] == api.get(f"/invoices/{ids[-1]}").get_json()


def test_list_empty(api):
    assert api.get("/invoices").get_json() == {"items": [], "page": 1, "per_page": 25, "total": 0,
                                               "next_cursor": None}


def test_list_search_by_number_name_and_email_case_insensitive(api, make_invoice):
    asha = make_invoice(name="Asha Traders", email="billing@asha.example")
    ravi = make_invoice(name="Ravi Stores", email="ravi@stores.example")
    _ = make_invoice(name="Meena Textiles", email="accounts@meena.example")

    def found(q):
        response = api.get("/invoices", query_string={"q": q})
        assert response.status_code == 200
        body = response.get_json()
        assert body["total"] == len(body["items"])
        return {i["id"] for i in body["items"]}

    assert found(asha.number) == {asha.id}
    assert found(asha.number.lower()) == {asha.id}
    assert found("ASHA trad") == {asha.id}
    assert found("RAVI@STORES") == {ravi.id}
    assert found("stores.EXAMPLE") == {ravi.id}
    assert found("  ravi  ") == {ravi.id}
    assert found("nobody") == set()
    assert len(found("")) == 3
    # LIKE wildcards are literal characters, not patterns.
    assert found("%") == set()
    assert found("_") == set()


def test_list_status_filter(api, make_invoice):
    draft = make_invoice()
    opened = make_invoice(open_it=True)
    paid = make_invoice(open_it=True)
    mark_paid(paid)

    def ids(status):
        body = api.get("/invoices", query_string={"status": status}).get_json()
        assert all(i["status"] == status for i in body["items"])
        return [i["id"] for i in body["items"]]

    assert ids("draft") == [draft.id]
    assert ids("open") == [opened.id]
    assert ids("paid") == [paid.id]
    assert ids("void") == []
    both = api.get("/invoices", query_string={"status": "open", "q": opened.number}).get_json()
    assert [i["id"] for i in both["items"]] == [opened.id]


def test_list_pagination(api, make_invoice):
    ids = [make_invoice().id for _ in range(5)]
    newest_first = list(reversed(ids))
    pages = []
    for page in (1, 2, 3):
        body = api.get("/invoices", query_string={"page": page, "per_page": 2}).get_json()
        assert body["page"] == page and body["per_page"] == 2 and body["total"] == 5
        pages.append([i["id"] for i in body["items"]])
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    beyond = api.get("/invoices", query_string={"page": 4, "per_page": 2}).get_json()
    assert beyond["items"] == [] and beyond["total"] == 5
    assert api.get("/invoices?per_page=100").get_json()["per_page"] == 100


@pytest.mark.parametrize("query", [
    "status=unknown", "status=DRAFT", "status=paid,open",
    "page=0", "page=-1", "page=abc", "page=1.5", "page=%C2%B2", "page=%D9%A1", "page=99999999999999999999",
    "per_page=0", "per_page=101", "per_page=1000", "per_page=x", "per_page=%C2%B2",
    "cursor=x", "cursor=%25%25%25", "cursor=" + "A" * 101, "cursor=MjAyNi0wMS0wMVQwMDowMDowMHwx",  # no offset
    "cursor=bm90IGEgY3Vyc29y", "cursor=MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHwtNQ",  # an id of -5
    "cursor=MDAwMS0wMS0wMVQwMDowMDowMCswMTowMHw1",  # year 1 at +01:00: before the first UTC instant
])
def test_list_bad_parameter_is_400_invalid_parameter(api, make_invoice, query):
    make_invoice()
    response = api.get("/invoices?" + query)
    error = assert_error(response, 400, "invalid_parameter")
    name = query.split("=")[0]
    assert f"'{name}'" in error["message"]


def test_list_search_with_odd_characters_is_not_a_server_error(api, make_invoice):
    make_invoice()
    for q in ("'; DROP TABLE invoices; --", "\\", "∑ 日本", "a" * 200):
        response = api.get("/invoices", query_string={"q": q})
        assert response.status_code == 200, q
        assert response.get_json()["total"] == 0
    assert_error(api.get("/invoices", query_string={"q": "a\x00b"}), 400, "invalid_parameter")
    assert "'q'" in assert_error(api.get("/invoices", query_string={"q": "a" * 5000}), 400,
                                 "invalid_parameter")["message"]


# -- get, unknown paths and methods ------------------------------------------------------------

def test_get_one_invoice(api, make_invoice):
    invoice = make_invoice(currency="KWD", items=[{"description": "Oil", "quantity": 3, "unit_price": "1.250"}])
    response = api.get(f"/invoices/{invoice.id}")
    assert response.status_code == 200
    body = response.get_json()
    assert INVOICE_FIELDS <= set(body)
    assert (body["id"], body["number"], body["status"]) == (invoice.id, invoice.number, "draft")
    assert (body["currency"], body["amount"], body["amount_minor"]) == ("KWD", "3.750", 3750)


@pytest.mark.parametrize("path", ["/invoices/999999", "/invoices/0", "/invoices/2147483648",
                                  "/invoices/9223372036854775808", "/invoices/99999999999999999999999"])
def test_unknown_invoice_is_404_not_found_json(api, make_invoice, path):
    make_invoice()
    assert_error(api.get(path), 404, "not_found")
    assert_error(api.patch(path, json=payload()), 404, "not_found")
    assert_error(api.post(path + "/void"), 404, "not_found")
    assert_error(api.post(path + "/open"), 404, "not_found")


@pytest.mark.parametrize("path", ["/nope", "/invoices/abc", "/invoices/-1", "/invoices/1/refund", "/"])
def test_unknown_api_path_is_404_json_not_html(api, path):
    response = api.get(path)
    assert_error(response, 404, "not_found")
    assert b"<html" not in response.data.lower()


def test_unknown_api_path_without_a_token_is_still_json(client):
    assert_error(client.get("/api/v1/does-not-exist"), 404, "not_found")


@pytest.mark.parametrize("method, path", [
    ("delete", "/invoices"), ("put", "/invoices"), ("delete", "/invoices/{id}"),
    ("get", "/invoices/{id}/void"), ("get", "/invoices/{id}/open"), ("post", "/openapi.json"),
])
def test_wrong_method_is_405_json(api, make_invoice, method, path):
    invoice = make_invoice()
    before = db_state()
    response = getattr(api, method)(path.format(id=invoice.id))
    assert_error(response, 405, "method_not_allowed")
    assert db_state() == before


def test_wrong_method_names_the_allowed_ones(api):
    response = api.delete("/invoices")
    assert response.status_code == 405
    assert set(response.headers.get("Allow", "").replace(" ", "").split(",")) >= {"GET", "POST"}


# -- edit --------------------------------------------------------------------------------------

def test_patch_a_draft_replaces_its_contents(api, make_invoice):
    invoice = make_invoice()
    new = payload(currency="JPY", items=[item("500", 3), item("250", 2)], due_date="2026-12-31", notes="Thanks")
    response = api.patch(f"/invoices/{invoice.id}", json=new)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["id"], body["number"], body["status"]) == (invoice.id, invoice.number, "draft")
    assert (body["currency"], body["amount"], body["amount_minor"]) == ("JPY", "2000", 2000)
    assert body["due_date"] == "2026-12-31" and body["notes"] == "Thanks"
    assert [line["amount_minor"] for line in body["items"]] == [1500, 500]
    assert api.get(f"/invoices/{invoice.id}").get_json() == body
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).total_minor == 2000
    assert db.session.scalar(select(func.count()).select_from(InvoiceLine)) == 2


def test_put_is_the_same_as_patch(api, make_invoice):
    invoice = make_invoice()
    response = api.put(f"/invoices/{invoice.id}", json=payload(currency="USD", items=[item("3.00", 5)]))
    assert response.status_code == 200
    assert (response.get_json()["currency"], response.get_json()["amount"]) == ("USD", "15.00")
    opened = make_invoice(open_it=True)
    assert_error(api.put(f"/invoices/{opened.id}", json=payload()), 409, "invoice_not_editable")


def test_patch_with_bad_input_changes_nothing(api, make_invoice):
    invoice = make_invoice()
    before = db_state()
    error = assert_error(api.patch(f"/invoices/{invoice.id}", json=payload(items=[item(12.5)])),
                         422, "validation_failed")
    assert set(error["fields"]) == {"items[0].unit_price"}
    assert_error(api.patch(f"/invoices/{invoice.id}", data="x", content_type="text/plain"), 400, "invalid_json")
    assert db_state() == before


@pytest.mark.parametrize("state", ["open", "paid", "void"])
def test_patch_a_non_draft_is_409_and_changes_nothing(api, make_invoice, state):
    invoice = make_invoice(open_it=True)
    if state == "paid":
        mark_paid(invoice)
    elif state == "void":
        assert api.post(f"/invoices/{invoice.id}/void").status_code == 200
    before = db_state()
    shown = api.get(f"/invoices/{invoice.id}").get_json()
    response = api.patch(f"/invoices/{invoice.id}", json=payload(items=[item("1.00")]))
    error = assert_error(response, 409, "invoice_not_editable")
    assert invoice.number in error["message"]
    assert db_state() == before
    assert api.get(f"/invoices/{invoice.id}").get_json() == shown
    assert shown["status"] == state


# -- open and void -----------------------------------------------------------------------------

def test_open_then_void(api, make_invoice):
    invoice = make_invoice()
    opened = api.post(f"/invoices/{invoice.id}/open")
    assert opened.status_code == 200
    body = opened.get_json()
    assert body["status"] == "open" and body["opened_at"] is not None
    assert status_of(invoice.id) == "open"

    voided = api.post(f"/invoices/{invoice.id}/void")
    assert voided.status_code == 200
    assert voided.get_json()["status"] == "void" and voided.get_json()["voided_at"] is not None
    assert status_of(invoice.id) == "void"


def test_void_a_draft(api, make_invoice):
    invoice = make_invoice()
    assert api.post(f"/invoices/{invoice.id}/void").get_json()["status"] == "void"
    assert status_of(invoice.id) == "void"


def test_void_twice_is_409_and_unchanged(api, make_invoice):
    invoice = make_invoice(open_it=True)
    first = api.post(f"/invoices/{invoice.id}/void").get_json()
    before = db_state()
    assert_error(api.post(f"/invoices/{invoice.id}/void"), 409, "invalid_transition")
    assert db_state() == before
    assert api.get(f"/invoices/{invoice.id}").get_json()["voided_at"] == first["voided_at"]


@pytest.mark.parametrize("paid_minor", ["all", "part", "more"])
def test_void_once_money_was_received_is_409_and_unchanged(api, make_invoice, paid_minor):
    invoice = make_invoice(open_it=True)
    amount = {"all": invoice.total_minor, "part": 100, "more": invoice.total_minor + 100}[paid_minor]
    invoice.record_payment(Money(amount, invoice.currency))
    db.session.commit()
    status = invoice.status
    assert status in ("paid", "partially_paid", "overpaid")
    before = db_state()
    error = assert_error(api.post(f"/invoices/{invoice.id}/void"), 409, "invalid_transition")
    assert "money has been received" in error["message"]
    assert db_state() == before
    assert status_of(invoice.id) == status


def test_open_twice_or_after_void_is_409(api, make_invoice):
    invoice = make_invoice(open_it=True)
    before = db_state()
    assert_error(api.post(f"/invoices/{invoice.id}/open"), 409, "invalid_transition")
    assert db_state() == before
    voided = make_invoice()
    api.post(f"/invoices/{voided.id}/void")
    before = db_state()
    assert_error(api.post(f"/invoices/{voided.id}/open"), 409, "invalid_transition")
    assert db_state() == before
    assert status_of(voided.id) == "void"


def test_transitions_need_a_token(client, make_invoice):
    invoice = make_invoice()
    for action in ("open", "void"):
        assert_error(client.post(f"/api/v1/invoices/{invoice.id}/{action}"), 401, "unauthorized")
    assert status_of(invoice.id) == "draft"


# -- OpenAPI -----------------------------------------------------------------------------------

def test_openapi_document_is_public_and_describes_every_route(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    base = doc["servers"][0]["url"]
    assert base == "/api/v1"

    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops if method != "parameters"}
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "{id}", rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    assert routes, "no API routes found"
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations that do not exist"

    # Every $ref resolves.
    refs = set()

    def collect(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(doc)
    assert refs and refs <= {f"#/components/schemas/{name}" for name in doc["components"]["schemas"]}
    # Every error response documented for an operation points at the Error schema.
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert resp["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert INVOICE_FIELDS <= set(doc["components"]["schemas"]["Invoice"]["properties"])


def test_a_tokens_last_use_is_written_at_most_once_a_minute(client, staff):
    """Each API call used to write and commit last_used_at; now a minute's calls write it once."""
    from datetime import timedelta

    from portal.models import utcnow

    row, plain = ApiToken.issue(staff)
    db.session.add(row)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/invoices", headers=headers).status_code == 200
    db.session.expire_all()
    first = db.session.get(ApiToken, row.id).last_used_at
    assert first is not None and abs((utcnow() - first).total_seconds()) < 5

    assert client.get("/api/v1/invoices", headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at == first  # within the minute: not written again

    db.session.get(ApiToken, row.id).last_used_at = first - timedelta(seconds=61)
    db.session.commit()
    assert client.get("/api/v1/invoices", headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at > first - timedelta(seconds=5)
