"""One invoice total everywhere (issue 9): the form's running total, the saved invoice, the API answer,
the pay page and the amount each gateway's sandbox recorded agree to the minor unit, in INR, USD, JPY
and KWD, with tax rates, fractional quantities and a discount that all need rounding."""
import re

import pytest

from portal.extensions import db
from portal.invoices.service import parse_milli
from portal.models import Invoice, TaxRate
from portal.money import Money
from portal.payments import engine, registry
from tests.conftest import gateway_objects

# currency, rates, lines (description, quantity, unit price, rate name), discount, hand-worked total
CASES = [
    # 1.5 x 999.99 = 1499.985 -> 1499.99; 2 x 250; 10 % off 1999.99 = 200.00 shared 150.00 / 50.00;
    # 18 % of 1349.99 = 243.00 (242.998); 5 % of 450.00 = 22.50 -> 2065.49
    ("INR", {"GST 18%": "18", "GST 5%": "5"},
     [("Design hours", "1.5", "999.99", "GST 18%"), ("Hosting", "2", "250.00", "GST 5%")],
     ("percent", "10"), 206549),
    # 1.5 x 19.99 = 29.985 -> 29.99; 3 x 0.33 = 0.99; 2.50 off shared 2.42 / 0.08;
    # 8.875 % of 27.57 = 2.4468... -> 2.45 -> 30.93
    ("USD", {"Sales tax 8.875%": "8.875"},
     [("Support hours", "1.5", "19.99", "Sales tax 8.875%"), ("Stickers", "3", "0.33", "")],
     ("amount", "2.50"), 3093),
    # 2.5 x 1333 = 3332.5 -> 3333; 10 % off = 333.3 -> 333; 10 % of 3000 = 300 -> 3300
    ("JPY", {"Consumption tax 10%": "10"},
     [("Tea", "2.5", "1333", "Consumption tax 10%")], ("percent", "10"), 3300),
    # 1.5 x 3.333 = 4.9995 -> 5.000; 20 % off = 1.000; 5 % of 4.000 = 0.200 -> 4.200 (a multiple of
    # 10 fils, which Stripe and Razorpay require for three-decimal currencies)
    ("KWD", {"VAT 5%": "5"}, [("Parts", "1.5", "3.333", "VAT 5%")], ("percent", "20"), 4200),
]


def _rates(rates: dict[str, str]) -> dict[str, int]:
    ids = {}
    for name, percent in rates.items():
        rate = TaxRate(name=name, percent_milli=parse_milli(percent, "percent", 100))
        db.session.add(rate)
        db.session.flush()
        ids[name] = rate.id
    db.session.commit()
    return ids


def _form(currency, lines, discount, rate_ids) -> dict:
    form = {"customer_name": "Asha Traders", "customer_email": "asha@example.com", "currency": currency,
            "discount_type": discount[0], "discount_value": discount[1]}
    for i, (description, quantity, price, rate) in enumerate(lines):
        form.update({f"items-{i}-description": description, f"items-{i}-quantity": quantity,
                     f"items-{i}-unit_price": price, f"items-{i}-tax_rate_id": str(rate_ids[rate]) if rate else ""})
    return form


def _shown_total(html: str) -> str:
    return re.search(r'class="grand-total"><th[^>]*>Total</th><th class="num">([^<]+)</th>', html).group(1)


def _recorded_at_gateway(control, gateway: str, link_id: str, currency: str) -> int:
    [obj] = [o for o in gateway_objects(control, gateway) if o["id"] == link_id]
    cls = registry.gateway_class(gateway)
    if gateway == "paypal":
        return Money.parse(obj["purchase_units"][0]["amount"]["value"], currency).minor
    return cls.iso_amount(obj["amount_total"] if gateway == "stripe" else obj["amount"], currency).minor


@pytest.mark.parametrize("currency, rates, lines, discount, expected", CASES, ids=[c[0] for c in CASES])
def test_form_save_api_pay_page_and_every_gateway_agree(pay_app, signed_in_staff, api, control,
                                                        currency, rates, lines, discount, expected):
    rate_ids = _rates(rates)
    form = _form(currency, lines, discount, rate_ids)
    shown = Money(expected, currency).format()

    running = signed_in_staff.post("/invoices/totals", form)
    assert _shown_total(running.get_data(as_text=True)) == shown

    gateways = [g for g in registry.GATEWAY_CLASSES if currency in registry.gateway_class(g).currencies]
    assert gateways, currency
    for gateway in gateways:
        # A fresh invoice per gateway (a live link is reused, not made again), saved through the form.
        saved = signed_in_staff.post("/invoices/new", form)
        assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
        invoice = db.session.scalars(db.select(Invoice).order_by(Invoice.id.desc())).first()
        assert invoice.total_minor == expected
        assert _shown_total(signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)) == shown

        body = api.get(f"/invoices/{invoice.id}").get_json()
        assert body["total_minor"] == body["amount_minor"] == expected
        assert body["total"] == Money(expected, currency).decimal_string()
        assert body["subtotal_minor"] - (body["discount"] or {"amount_minor": 0})["amount_minor"] + sum(
            t["amount_minor"] for t in body["taxes"]) == expected

        assert api.post(f"/invoices/{invoice.id}/open").status_code == 200
        pay_page = signed_in_staff.client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
        assert re.search(r"Amount due <strong>([^<]+)</strong>", pay_page).group(1) == shown
        assert _shown_total(pay_page) == shown

        result = engine.generate_link(db.session.get(Invoice, invoice.id), actor_label="test", requested=gateway)
        assert result.link.gateway == gateway and result.link.amount_minor == expected
        assert _recorded_at_gateway(control, gateway, result.link.link_id, currency) == expected, gateway


def test_the_api_takes_the_same_fields_and_gives_the_same_total(pay_app, api):
    currency, rates, lines, discount, expected = CASES[0]
    rate_ids = _rates(rates)
    response = api.post("/invoices", json={
        "customer": {"name": "Asha Traders", "email": "asha@example.com"}, "currency": currency,
        "items": [{"description": d, "quantity": q, "unit_price": p,
                   **({"tax_rate_id": rate_ids[r]} if i == 0 else {"tax_rate": r})}
                  for i, (d, q, p, r) in enumerate(lines)],
        "discount": {"type": discount[0], "value": discount[1]}})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["total_minor"] == expected and body["total"] == "2065.49"
    assert body["subtotal"] == "1999.99" and body["discount"] == {
        "type": "percent", "value": "10", "amount": "200.00", "amount_minor": 20000}
    assert [(t["name"], t["amount"]) for t in body["taxes"]] == [("GST 18%", "243.00"), ("GST 5%", "22.50")]
    assert [i["quantity"] for i in body["items"]] == ["1.5", 2]
    # Old requests keep working and an unknown rate is a clear 422 that saves nothing.
    bad = api.post("/invoices", json={"customer": {"name": "A", "email": "a@example.com"}, "currency": "INR",
                                      "items": [{"description": "x", "unit_price": "1.00", "tax_rate": "VAT 99%"}]})
    assert bad.status_code == 422 and "items[0].tax_rate" in bad.get_json()["error"]["fields"]
    assert db.session.scalar(db.select(db.func.count(Invoice.id))) == 1


@pytest.mark.parametrize("item, discount, field, message", [
    ({"quantity": "99999999"}, None, "items[0].quantity", "is too large (at most 1,000,000)"),
    ({"quantity": 10**30}, None, "items[0].quantity", "is too large"),
    ({"quantity": "1.2345"}, None, "items[0].quantity", "at most 3 decimal places"),
    ({"quantity": "0.000"}, None, "items[0].quantity", "more than zero"),
    ({"quantity": "1,5"}, None, "items[0].quantity", "no commas"),
    ({"tax_rate_id": 999}, None, "items[0].tax_rate_id", "not one of the tax rates"),
    ({}, {"type": "percent", "value": "100.5"}, "discount.value", "at most 100"),
    ({}, {"type": "amount", "value": "10.01"}, "discount.value", "more than the subtotal"),
    ({}, {"type": "amount", "value": "1.001"}, "discount.value", "at most 2 decimal places"),
    ({}, {"type": "half", "value": "1"}, "discount.type", "percent or amount"),
])
def test_bad_quantities_rates_and_discounts_are_named_and_change_nothing(api, item, discount, field, message):
    body = {"customer": {"name": "A", "email": "a@example.com"}, "currency": "INR",
            "items": [{"description": "x", "unit_price": "10.00", **item}]}
    if discount:
        body["discount"] = discount
    response = api.post("/invoices", json=body)
    assert response.status_code == 422
    assert message in response.get_json()["error"]["fields"][field]
    assert db.session.scalar(db.select(db.func.count(Invoice.id))) == 0


def test_a_discount_of_everything_is_refused_as_a_zero_total(api):
    response = api.post("/invoices", json={"customer": {"name": "A", "email": "a@example.com"}, "currency": "USD",
                                           "items": [{"description": "x", "unit_price": "10.00"}],
                                           "discount": {"type": "percent", "value": "100"}})
    assert response.status_code == 422 and "more than zero" in response.get_json()["error"]["fields"]["items"]


def test_api_edit_keeps_an_archived_rate_the_draft_already_has(api, make_invoice):
    [gst] = _rates({"GST 18%": "18"}).values()
    invoice = make_invoice(items=[{"description": "Work", "quantity": 1, "unit_price": "100.00", "tax_rate_id": gst}])
    db.session.get(TaxRate, gst).archived_at = db.func.now()
    db.session.commit()
    body = api.get(f"/invoices/{invoice.id}").get_json()
    again = {"customer": body["customer"], "currency": "INR",
             "items": [{k: i[k] for k in ("description", "quantity", "unit_price", "tax_rate_id")} for i in body["items"]]}
    response = api.put(f"/invoices/{invoice.id}", json=again)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["total_minor"] == 11800
    fresh = api.post("/invoices", json=again)
    assert fresh.status_code == 422 and "items[0].tax_rate_id" in fresh.get_json()["error"]["fields"]
