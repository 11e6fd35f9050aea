"""Stripe conformance: driven only through stripe-python's StripeClient against the sandbox."""

from __future__ import annotations

import json
import time

import pytest
import requests
import stripe


def session_params(**overrides):
    params = {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": 1250,
                                       "product_data": {"name": "Invoice INV-0001"}}, "quantity": 2}],
        "success_url": "http://127.0.0.1:5000/pay/done?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:5000/pay/cancelled",
        "client_reference_id": "inv_1",
        "metadata": {"invoice_id": "1", "attempt": "1"},
    }
    params.update(overrides)
    return params


def assert_covers(ours, reference, path="$"):
    """Our object carries every key of the reference example, with the same JSON type where both are set."""
    for key, ref_value in reference.items():
        assert key in ours, f"{path}.{key} missing"
        value = ours[key]
        if ref_value is None or value is None:
            continue
        assert type(value) is type(ref_value) or {type(value), type(ref_value)} <= {int, float}, \
            f"{path}.{key}: {type(value).__name__} vs reference {type(ref_value).__name__}"
        if isinstance(ref_value, dict) and ref_value:
            assert_covers(value, ref_value, f"{path}.{key}")


def test_create_retrieve_list_expire(stripe_client):
    session = stripe_client.v1.checkout.sessions.create(params=session_params())
    assert isinstance(session, stripe.checkout.Session)
    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status, session.amount_total, session.currency) == ("open", "unpaid", 2500, "usd")
    assert session.client_reference_id == "inv_1" and session.metadata["invoice_id"] == "1"
    assert 24 * 3600 - 5 <= session.expires_at - session.created <= 24 * 3600

    fetched = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert fetched.id == session.id and fetched.url == session.url

    listed = stripe_client.v1.checkout.sessions.list(params={"limit": 5})
    assert [s.id for s in listed.data] == [session.id]

    expired = stripe_client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.expire(session.id)


def test_objects_cover_reference_fixture(stripe_client, control, reference):
    fixtures = reference("stripe/fixtures3.json")["resources"]
    session = stripe_client.v1.checkout.sessions.create(params=session_params())
    assert_covers(json.loads(session.last_response.body), fixtures["checkout.session"])
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": session.id})
    paid = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert_covers(json.loads(paid.last_response.body), fixtures["checkout.session"])
    intent = stripe_client.v1.payment_intents.retrieve(paid.payment_intent)
    assert_covers(json.loads(intent.last_response.body), fixtures["payment_intent"])
    events = stripe_client.v1.events.list()
    for event in events.data:
        assert_covers(event.to_dict(), fixtures["event"] | {"data": {}})


def test_idempotency_replays_first_response_byte_for_byte(stripe_client, sandbox):
    first = stripe_client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "key-1"})
    again = stripe_client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "key-1"})
    assert again.last_response.body == first.last_response.body
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(sandbox.gateways["stripe"].sessions) == 1


def test_idempotency_key_with_other_params_is_an_idempotency_error(stripe_client):
    stripe_client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "key-2"})
    with pytest.raises(stripe.IdempotencyError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(client_reference_id="other"),
                                                  options={"idempotency_key": "key-2"})
    assert info.value.http_status == 400
    assert info.value.error.type == "idempotency_error"


def test_failed_validation_is_not_saved_under_the_key(stripe_client):
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.create(params=session_params(bogus="1"), options={"idempotency_key": "k3"})
    ok = stripe_client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k3"})
    assert ok.status == "open"


def test_unknown_parameter_is_named(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(
            line_items=[{"price_data": {"currency": "usd", "unit_amount": 100, "product_data": {"name": "x"},
                                        "colour": "red"}, "quantity": 1}]))
    assert info.value.http_status == 400
    assert info.value.param == "line_items[0][price_data][colour]"
    assert info.value.code == "parameter_unknown"
    assert info.value.error.type == "invalid_request_error"


def test_missing_param_and_bad_integer(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(
            line_items=[{"price_data": {"currency": "usd", "unit_amount": 100, "product_data": {"name": "x"}}}]))
    assert info.value.param == "line_items[0][quantity]" and info.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(expires_at="soon"))
    assert info.value.param == "expires_at" and info.value.code == "parameter_invalid_integer"


def test_bad_key_is_authentication_error(sandbox):
    client = stripe.StripeClient("sk_test_wrong", base_addresses={"api": sandbox.servers["stripe"].base_url})
    with pytest.raises(stripe.AuthenticationError) as info:
        client.v1.checkout.sessions.create(params=session_params())
    assert info.value.http_status == 401


def test_missing_session_is_404(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert info.value.http_status == 404 and info.value.code == "resource_missing"


@pytest.mark.parametrize("currency, unit_amount, ok", [
    ("usd", 49, False), ("usd", 50, True), ("gbp", 30, True), ("jpy", 49, False), ("jpy", 50, True),
    ("bhd", 1005, False), ("bhd", 1000, True), ("isk", 15050, False), ("isk", 15000, True),
    ("usd", 100_000_000, False), ("USD", 500, False),
])
def test_amount_rules(stripe_client, currency, unit_amount, ok):
    params = session_params(line_items=[{"price_data": {"currency": currency, "unit_amount": unit_amount,
                                                        "product_data": {"name": "x"}}, "quantity": 1}])
    if ok:
        assert stripe_client.v1.checkout.sessions.create(params=params).amount_total == unit_amount
    else:
        with pytest.raises(stripe.InvalidRequestError):
            stripe_client.v1.checkout.sessions.create(params=params)


@pytest.mark.parametrize("offset, ok", [(29 * 60, False), (31 * 60, True), (23 * 3600, True), (25 * 3600, False)])
def test_expires_at_window(stripe_client, offset, ok):
    params = session_params(expires_at=int(time.time()) + offset)
    if ok:
        assert stripe_client.v1.checkout.sessions.create(params=params).expires_at == params["expires_at"]
    else:
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.checkout.sessions.create(params=params)
        assert info.value.param == "expires_at"


def test_hosted_page_pay_redirects_and_emits_signed_events(stripe_client, sandbox, receiver):
    session = stripe_client.v1.checkout.sessions.create(params=session_params())
    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200 and "25.00" in page.text
    paid = requests.post(session.url + "/pay", allow_redirects=False, timeout=5)
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://127.0.0.1:5000/pay/done?session_id={session.id}"

    deliveries = receiver.wait_for(2)
    secret = sandbox.config.stripe_webhook_secret
    events = {}
    for delivery in deliveries:
        event = stripe.Webhook.construct_event(delivery["body"].decode(), delivery["headers"]["Stripe-Signature"], secret)
        events[event.type] = event
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(delivery["body"].decode().replace("paid", "unpaid", 1) + " ",
                                           delivery["headers"]["Stripe-Signature"], secret)
    completed = events["checkout.session.completed"].data.object
    assert completed.id == session.id and completed.payment_status == "paid" and completed.status == "complete"
    assert events["payment_intent.succeeded"].data.object.amount_received == 2500
    assert completed.payment_intent == events["payment_intent.succeeded"].data.object.id

    listed = stripe_client.v1.events.list(params={"type": "checkout.session.*"})
    assert [e.type for e in listed.data] == ["checkout.session.completed"]
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_hosted_page_decline_and_cancel(stripe_client, receiver):
    session = stripe_client.v1.checkout.sessions.create(params=session_params())
    declined = requests.post(session.url + "/decline", timeout=5)
    assert "declined" in declined.text
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    cancel = requests.post(session.url + "/cancel", allow_redirects=False, timeout=5)
    assert cancel.headers["Location"] == "http://127.0.0.1:5000/pay/cancelled"
    receiver.wait_for(1)
    assert receiver.events()[0]["type"] == "payment_intent.payment_failed"


def test_expiry_emits_checkout_session_expired(stripe_client, control, receiver):
    session = stripe_client.v1.checkout.sessions.create(params=session_params())
    control.post("/_sandbox/expire", {"gateway": "stripe", "id": session.id})
    receiver.wait_for(1)
    event = receiver.events()[0]
    assert event["type"] == "checkout.session.expired" and event["data"]["object"]["id"] == session.id
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert "no longer active" in requests.get(session.url, timeout=5).text


def test_pagination(stripe_client):
    ids = [stripe_client.v1.checkout.sessions.create(params=session_params()).id for _ in range(3)]
    first = stripe_client.v1.checkout.sessions.list(params={"limit": 2})
    assert first.has_more and [s.id for s in first.data] == ids[::-1][:2]
    rest = stripe_client.v1.checkout.sessions.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert [s.id for s in rest.data] == [ids[0]] and not rest.has_more


def test_expand_line_items_and_payment_intent(stripe_client, control):
    session = stripe_client.v1.checkout.sessions.create(params=session_params(expand=["line_items"]))
    assert session.line_items.data[0].amount_total == 2500 and session.line_items.data[0].quantity == 2
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": session.id})
    paid = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert paid.payment_intent.status == "succeeded" and paid.payment_intent.amount_received == 2500
    items = stripe_client.v1.checkout.sessions.line_items.list(session.id)
    assert [i.description for i in items.data] == ["Invoice INV-0001"]


# ---- where the sandbox must match Stripe's published API (stripe-python 16.1.0's generated types,
# stripe/params/checkout/_session_create_params.py and stripe/_line_item.py; fixtures3.json "item") ------
def test_ui_mode_defaults_to_hosted_page_and_takes_the_published_name(stripe_client):
    assert stripe_client.v1.checkout.sessions.create(params=session_params()).ui_mode == "hosted_page"
    explicit = stripe_client.v1.checkout.sessions.create(params=session_params(ui_mode="hosted_page"))
    assert explicit.ui_mode == "hosted_page" and explicit.url


@pytest.mark.parametrize("ui_mode", ["embedded_page", "elements", "form"])
def test_other_published_ui_modes_are_known_but_not_simulated(stripe_client, ui_mode):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(ui_mode=ui_mode))
    assert info.value.param == "ui_mode" and "hosted_page" in info.value.user_message
    assert info.value.code != "parameter_unknown"


def test_retired_ui_mode_name_is_refused(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(ui_mode="hosted"))
    assert info.value.param == "ui_mode"
    for name in ("hosted_page", "embedded_page", "elements", "form"):
        assert name in info.value.user_message


def test_line_items_carry_a_price_object_like_the_reference_item(stripe_client, reference):
    item_fixture = reference("stripe/fixtures3.json")["resources"]["item"]
    params = session_params(expand=["line_items"])
    params["line_items"][0]["metadata"] = {"row": "1"}
    params["line_items"][0]["adjustable_quantity"] = {"enabled": "false"}
    session = stripe_client.v1.checkout.sessions.create(params=params)
    listed = stripe_client.v1.checkout.sessions.line_items.list(session.id)
    for item in (json.loads(session.last_response.body)["line_items"]["data"][0],
                 json.loads(listed.last_response.body)["data"][0]):
        assert_covers(item, item_fixture)
        assert "unit_amount" not in item
        price = item["price"]
        assert (price["object"], price["unit_amount"], price["unit_amount_decimal"], price["currency"]) == \
            ("price", 1250, "1250", "usd")
        assert price["id"].startswith("price_") and price["product"].startswith("prod_")
        assert price["type"] == "one_time" and price["recurring"] is None
        assert item["metadata"] == {"row": "1"} and item["adjustable_quantity"]["enabled"] is False
        assert (item["quantity"], item["amount_total"]) == (2, 2500)


def test_valid_create_parameters_are_accepted(stripe_client):
    params = session_params(
        automatic_tax={"enabled": False},
        invoice_creation={"enabled": True, "invoice_data": {"description": "INV-0001", "metadata": {"k": "v"},
                                                            "custom_fields": [{"name": "PO", "value": "42"}]}},
        payment_method_options={"card": {"request_three_d_secure": "automatic"}},
        custom_text={"submit": {"message": "Thank you"}, "after_submit": ""},
        after_expiration={"recovery": {"enabled": True, "allow_promotion_codes": False}},
        consent_collection={"promotions": "none", "terms_of_service": "none"},
    )
    params["line_items"] = [{"price_data": {"currency": "usd", "unit_amount_decimal": "1250",
                                            "product_data": {"name": "Invoice INV-0001"}}, "quantity": 2}]
    session = stripe_client.v1.checkout.sessions.create(params=params)
    assert session.amount_total == 2500
    assert session.invoice_creation.enabled is True and session.invoice_creation.invoice_data.description == "INV-0001"
    assert session.custom_text.submit.message == "Thank you" and session.custom_text.after_submit is None
    assert session.after_expiration.recovery.enabled is True
    assert session.consent_collection.promotions == "none" and session.automatic_tax.enabled is False


def test_unit_amount_and_unit_amount_decimal_are_exclusive(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(line_items=[
            {"price_data": {"currency": "usd", "unit_amount": 100, "unit_amount_decimal": "100",
                            "product_data": {"name": "x"}}, "quantity": 1}]))
    assert "unit_amount" in info.value.param


def test_a_misspelt_create_parameter_is_still_unknown(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(automatic_tax={"enabled": False, "on": True}))
    assert (info.value.param, info.value.code) == ("automatic_tax[on]", "parameter_unknown")
