"""Merchant settings: admins only, every bad field named with nothing changed, and the details shown where
customers and staff read an invoice; new invoices take the default currency and terms."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.extensions import db
from portal.models import AuditEvent, MerchantSetting

GOOD = {
    "business_name": "Asha Design Studio", "address": "12 MG Road\nBengaluru 560001",
    "tax_id": "29ABCDE1234F1Z5", "default_currency": "USD", "time_zone": "Europe/Berlin",
    "payment_terms_days": "30", "invoice_footer": "Bank: HDFC 0001 2345\nThank you!",
}


def settings_row() -> MerchantSetting | None:
    db.session.expire_all()
    return db.session.get(MerchantSetting, 1)


def test_admin_saves_settings_and_they_are_audited(signed_in_admin):
    page = signed_in_admin.get("/settings/").get_data(as_text=True)
    assert 'value="HisabPro Demo Store"' in page     # MERCHANT_NAME until an admin sets a name
    assert '<option selected>Asia/Kolkata</option>' in page
    response = signed_in_admin.post("/settings/", GOOD, token_page="/settings/")
    assert response.status_code == 303
    row = settings_row()
    assert (row.business_name, row.tax_id, row.default_currency, row.time_zone, row.payment_terms_days) == (
        "Asha Design Studio", "29ABCDE1234F1Z5", "USD", "Europe/Berlin", 30)
    assert row.address == "12 MG Road\nBengaluru 560001"
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "settings.changed")).one()
    assert "business name" in event.summary and "time zone" in event.summary
    assert signed_in_admin.post("/settings/", GOOD, token_page="/settings/").status_code == 303
    assert "Nothing changed." in signed_in_admin.get("/settings/").get_data(as_text=True)


def test_staff_may_not_see_or_change_settings(signed_in_staff):
    assert signed_in_staff.get("/settings/").status_code == 403
    response = signed_in_staff.post("/settings/", GOOD, token_page="/invoices/new")
    assert response.status_code == 403
    assert settings_row() is None
    assert "Settings</a>" not in signed_in_staff.get("/invoices/").get_data(as_text=True)


def test_settings_need_the_csrf_token(signed_in_admin):
    response = signed_in_admin.client.post("/settings/", data=GOOD)
    assert response.status_code == 400
    assert settings_row() is None


@pytest.mark.parametrize("field, value, message", [
    ("time_zone", "Mars/Olympus_Mons", "is not a time zone we know"),
    ("time_zone", "../../etc/passwd", "is not a time zone we know"),  # hostile input
    ("default_currency", "KPW", "none of the configured gateways takes KPW"),
    ("default_currency", "XYZ", "Unknown currency code"),
    ("payment_terms_days", "-5", "must be a whole number of days from 0 to 365"),
    ("payment_terms_days", "1000", "must be a whole number of days from 0 to 365"),
    ("payment_terms_days", "7.5", "must be a whole number of days from 0 to 365"),
    ("business_name", "x" * 201, "must be at most 200 characters"),
    ("business_name", "  ", "is required"),
    ("tax_id", "29ABCDE1234F1Z5" * 3, "must be at most 32 characters"),
    ("tax_id", "<script>", "may hold letters, digits"),
    ("address", "a" * 1001, "must be at most 1000 characters"),
    ("business_name", "two\nlines", "line breaks"),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_changes(signed_in_admin, field, value, message):
    assert signed_in_admin.post("/settings/", GOOD, token_page="/settings/").status_code == 303
    before = {c.name: getattr(settings_row(), c.name) for c in MerchantSetting.__table__.columns}
    response = signed_in_admin.post("/settings/", {**GOOD, field: value, "business_name": GOOD["business_name"]
                                                    if field != "business_name" else value,
                                                    "address": "Somewhere else" if field != "address" else value},
                                    token_page="/settings/")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'aria-invalid="true"' in page and f'id="f-{field}"' in page
    assert "Nothing was saved" in page
    after = {c.name: getattr(settings_row(), c.name) for c in MerchantSetting.__table__.columns}
    assert after == before


def test_a_control_character_is_refused_before_the_form_and_nothing_changes(signed_in_admin):
    # The app-wide input guard (portal/validation.py) answers 400 before the view reads the form.
    assert signed_in_admin.post("/settings/", GOOD, token_page="/settings/").status_code == 303
    before = {c.name: getattr(settings_row(), c.name) for c in MerchantSetting.__table__.columns}
    response = signed_in_admin.post("/settings/", {**GOOD, "invoice_footer": "bad\x00byte"}, token_page="/settings/")
    assert response.status_code == 400
    after = {c.name: getattr(settings_row(), c.name) for c in MerchantSetting.__table__.columns}
    assert after == before


def test_currencies_offered_are_those_the_configured_gateways_take(app, signed_in_admin):
    app.config.update(PAYPAL_CLIENT_ID="client", PAYPAL_CLIENT_SECRET="secret")  # PayPal only: no INR
    page = signed_in_admin.get("/settings/").get_data(as_text=True)
    assert '<option value="USD"' in page and '<option value="INR" selected>' in page  # the current one stays shown
    assert page.count('<option value="INR"') == 1
    response = signed_in_admin.post("/settings/", {**GOOD, "default_currency": "INR"}, token_page="/settings/")
    assert response.status_code == 422
    assert "none of the configured gateways takes INR" in response.get_data(as_text=True)


def test_settings_appear_on_the_pay_page_and_the_staff_invoice_page(signed_in_admin, make_invoice, client):
    signed_in_admin.post("/settings/", GOOD, token_page="/settings/")
    invoice = make_invoice(open_it=True)
    for page in (client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True),
                 signed_in_admin.get(f"/invoices/{invoice.id}").get_data(as_text=True)):
        assert "Asha Design Studio" in page and "HisabPro Demo Store" not in page
        assert "12 MG Road\nBengaluru 560001" in page
        assert "29ABCDE1234F1Z5" in page
        assert "Bank: HDFC 0001 2345" in page


def test_the_pay_page_uses_merchant_name_until_an_admin_sets_one(app, make_invoice, client, signed_in_admin):
    app.config["MERCHANT_NAME"] = "Env Name Traders"
    invoice = make_invoice(open_it=True)
    assert "Env Name Traders" in client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    # saving other settings with the name as shown is not choosing a name: a new MERCHANT_NAME still applies
    signed_in_admin.post("/settings/", {**GOOD, "business_name": "Env Name Traders"}, token_page="/settings/")
    assert settings_row().business_name == "" and settings_row().default_currency == "USD"
    app.config["MERCHANT_NAME"] = "Renamed Traders"
    assert "Renamed Traders" in client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)


def test_a_new_invoice_starts_in_the_default_currency_due_after_the_terms(signed_in_admin):
    signed_in_admin.post("/settings/", {**GOOD, "time_zone": "Pacific/Kiritimati", "payment_terms_days": "7"},
                         token_page="/settings/")
    page = signed_in_admin.get("/invoices/new").get_data(as_text=True)
    due = (datetime.now(ZoneInfo("Pacific/Kiritimati")).date() + timedelta(days=7)).isoformat()
    assert f'value="{due}"' in page
    assert 'value="USD"' in page
