"""PayPal refunds and disputes in the sandbox over PayPal's REST protocol (plain HTTP, as the adapter speaks it) and the
control API; bodies validated against the reference OpenAPI documents, webhooks checked with `cryptography`."""

from __future__ import annotations

import json
import time
from urllib.parse import urlparse

from tests.sandbox.test_sandbox_paypal import (PayPal, order_request, paypal, schemas,  # noqa: F401 (fixtures)
                                              verify_offline)


def paid_capture(paypal: PayPal, control, value: str = "25.00", currency: str = "USD") -> str:
    order = paypal.call("POST", "/v2/checkout/orders", order_request(value=value, currency=currency,
                                                                      invoice_id=f"INV-{time.time_ns()}")).json()
    completed = control.post("/_sandbox/pay", {"gateway": "paypal", "id": order["id"], "capture": True})
    return completed["purchase_units"][0]["payments"]["captures"][0]["id"]


def refund(paypal: PayPal, capture_id: str, body: dict, request_id: str | None = None):
    return paypal.call("POST", f"/v2/payments/captures/{capture_id}/refund", body, request_id=request_id,
                       prefer="return=representation")


def capture_status(paypal: PayPal, capture_id: str) -> str:
    return paypal.call("GET", f"/v2/payments/captures/{capture_id}").json()["status"]


def issue(response) -> str:
    return response.json()["details"][0]["issue"]


def events_of(receiver, event_type: str, count: int) -> list[dict]:
    deadline = time.time() + 5
    while True:
        found = [r for r in receiver.requests if json.loads(r["body"])["event_type"] == event_type]
        if len(found) >= count or time.time() > deadline:
            return found
        time.sleep(0.05)


def test_partial_then_full_refund_moves_the_capture(paypal, control, schemas):
    capture_id = paid_capture(paypal, control)
    first = refund(paypal, capture_id, {"amount": {"currency_code": "USD", "value": "10.00"},
                                        "invoice_id": "rf-1", "note_to_payer": "Damaged item"})
    assert first.status_code == 201 and first.headers["Paypal-Debug-Id"]
    body = first.json()
    schemas("payments_payment_v2", "refund", body)
    assert (body["status"], body["amount"], body["invoice_id"], body["note_to_payer"]) == (
        "COMPLETED", {"currency_code": "USD", "value": "10.00"}, "rf-1", "Damaged item")
    assert {l["rel"]: l["href"] for l in body["links"]}["up"].endswith(f"/v2/payments/captures/{capture_id}")
    assert body["seller_payable_breakdown"]["total_refunded_amount"]["value"] == "10.00"
    assert capture_status(paypal, capture_id) == "PARTIALLY_REFUNDED"

    rest = refund(paypal, capture_id, {})  # an empty body refunds what is left
    assert rest.status_code == 201 and rest.json()["amount"]["value"] == "15.00"
    assert capture_status(paypal, capture_id) == "REFUNDED"
    shown = paypal.call("GET", f"/v2/payments/refunds/{body['id']}")
    assert shown.status_code == 200 and shown.json()["id"] == body["id"]
    schemas("payments_payment_v2", "refund", shown.json())

    nothing_left = refund(paypal, capture_id, {"amount": {"currency_code": "USD", "value": "0.01"}})
    assert nothing_left.status_code == 422 and issue(nothing_left) == "CAPTURE_FULLY_REFUNDED"
    schemas("payments_payment_v2", "error_422", nothing_left.json())


def test_refund_errors_are_paypals(paypal, control, schemas):
    capture_id = paid_capture(paypal, control, "25.00")
    over = refund(paypal, capture_id, {"amount": {"currency_code": "USD", "value": "25.01"}})
    assert over.status_code == 422 and over.json()["name"] == "UNPROCESSABLE_ENTITY"
    detail = over.json()["details"][0]
    assert detail["issue"] == "REFUND_AMOUNT_EXCEEDED" and detail["description"].startswith("The refund amount must")
    schemas("payments_payment_v2", "error_422", over.json())
    other_currency = refund(paypal, capture_id, {"amount": {"currency_code": "EUR", "value": "1.00"}})
    assert issue(other_currency) == "REFUND_CAPTURE_CURRENCY_MISMATCH"
    zero = refund(paypal, capture_id, {"amount": {"currency_code": "USD", "value": "0.00"}})
    assert zero.status_code == 422 and issue(zero) == "CANNOT_BE_ZERO_OR_NEGATIVE"
    missing = refund(paypal, "2GG279541U471931P", {})
    assert missing.status_code == 404 and issue(missing) == "INVALID_RESOURCE_ID"
    assert paypal.call("GET", "/v2/payments/refunds/0000000000000000X").status_code == 404
    refund(paypal, capture_id, {"amount": {"currency_code": "USD", "value": "1.00"}, "invoice_id": "rf-dup"})
    dup = refund(paypal, capture_id, {"amount": {"currency_code": "USD", "value": "1.00"}, "invoice_id": "rf-dup"})
    assert issue(dup) == "DUPLICATE_INVOICE_ID"


def test_only_completed_captures_are_refundable(paypal, control):
    order = paypal.call("POST", "/v2/checkout/orders", order_request(invoice_id=f"INV-{time.time_ns()}")).json()
    assert issue(refund(paypal, order["id"], {})) == "INVALID_RESOURCE_ID"  # an order is no capture
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": order["id"], "outcome": "deny"})
    declined = paypal.call("POST", f"/v2/checkout/orders/{order['id']}/capture", {}).json()
    capture_id = declined["purchase_units"][0]["payments"]["captures"][0]["id"]
    refused = refund(paypal, capture_id, {})
    assert refused.status_code == 422 and issue(refused) == "REFUND_NOT_ALLOWED"


def test_request_id_replays_the_first_refund_with_its_latest_status(paypal, control):
    capture_id = paid_capture(paypal, control)
    control.post("/_sandbox/refunds/mode", {"gateway": "paypal", "mode": "pending"})
    body = {"amount": {"currency_code": "USD", "value": "5.00"}, "invoice_id": "rf-idem"}
    first = refund(paypal, capture_id, body, request_id="rf-idem").json()
    assert first["status"] == "PENDING" and first["status_details"] == {"reason": "ECHECK"}
    assert capture_status(paypal, capture_id) == "COMPLETED"  # nothing has left the merchant yet
    control.post("/_sandbox/refunds/settle", {"gateway": "paypal", "id": first["id"], "outcome": "succeeded"})
    again = refund(paypal, capture_id, body, request_id="rf-idem")
    assert again.status_code == 201 and (again.json()["id"], again.json()["status"]) == (first["id"], "COMPLETED")
    minimal = paypal.call("POST", f"/v2/payments/captures/{capture_id}/refund", body, request_id="rf-idem")
    assert set(minimal.json()) == {"id", "status", "links"}
    assert len(control.get("/_sandbox/state")["paypal"]["refunds"]) == 1


def test_settle_and_fail_modes_end_by_themselves(paypal, control):
    capture_id = paid_capture(paypal, control)
    control.post("/_sandbox/refunds/mode", {"gateway": "paypal", "mode": "fail", "settle_ms": 50})
    failing = refund(paypal, capture_id, {"amount": {"currency_code": "USD", "value": "5.00"}}).json()
    control.post("/_sandbox/refunds/mode", {"gateway": "paypal", "mode": "settle", "settle_ms": 50})
    settling = refund(paypal, capture_id, {"amount": {"currency_code": "USD", "value": "20.00"}}).json()
    assert failing["status"] == settling["status"] == "PENDING"
    deadline = time.time() + 5
    while time.time() < deadline:
        statuses = {paypal.call("GET", f"/v2/payments/refunds/{r['id']}").json()["status"] for r in (failing, settling)}
        if "PENDING" not in statuses:
            break
        time.sleep(0.05)
    assert paypal.call("GET", f"/v2/payments/refunds/{failing['id']}").json()["status"] == "FAILED"
    assert paypal.call("GET", f"/v2/payments/refunds/{settling['id']}").json()["status"] == "COMPLETED"
    assert capture_status(paypal, capture_id) == "PARTIALLY_REFUNDED"  # the failed 5.00 is refundable again
    assert refund(paypal, capture_id, {}).json()["amount"]["value"] == "5.00"


def test_dashboard_refund_sends_a_signed_refunded_webhook(paypal, control, sandbox, receiver, schemas):
    capture_id = paid_capture(paypal, control)
    made = control.post("/_sandbox/refunds", {"gateway": "paypal", "payment_id": capture_id, "amount_minor": 700,
                                              "reason": "Goodwill"})
    assert (made["status"], made["amount"]["value"], made["note_to_payer"]) == ("COMPLETED", "7.00", "Goodwill")
    [delivery] = events_of(receiver, "PAYMENT.CAPTURE.REFUNDED", 1)
    event = json.loads(delivery["body"])
    schemas("notifications_webhooks_v1", "event", event)
    schemas("payments_payment_v2", "refund", event["resource"])
    assert event["resource_type"] == "refund" and event["resource"]["id"] == made["id"]
    assert verify_offline(delivery, sandbox.config.paypal_webhook_id, urlparse(paypal.base).netloc)
    state = control.get("/_sandbox/state")["paypal"]
    assert [r["id"] for r in state["refunds"]] == [made["id"]] and state["refund_mode"] == "instant"


def test_dispute_opened_then_won_and_lost(paypal, control, sandbox, receiver):
    won_capture, lost_capture = paid_capture(paypal, control), paid_capture(paypal, control, "40.00")
    won = control.post("/_sandbox/disputes", {"gateway": "paypal", "payment_id": won_capture})
    lost = control.post("/_sandbox/disputes", {"gateway": "paypal", "payment_id": lost_capture, "amount_minor": 1500,
                                               "reason": "UNAUTHORISED"})
    assert won["id"] == won["dispute_id"] and won["dispute_id"].startswith("PP-D-")
    assert won["status"] == "WAITING_FOR_SELLER_RESPONSE" and won["seller_response_due_date"]
    assert lost["dispute_amount"] == {"currency_code": "USD", "value": "15.00"} and lost["reason"] == "UNAUTHORISED"
    blocked = refund(paypal, won_capture, {})
    assert blocked.status_code == 422 and issue(blocked) == "TRANSACTION_DISPUTED"
    control.post("/_sandbox/disputes/close", {"gateway": "paypal", "id": won["dispute_id"], "outcome": "won"})
    control.post("/_sandbox/disputes/close", {"gateway": "paypal", "id": lost["dispute_id"], "outcome": "lost"})
    created = events_of(receiver, "CUSTOMER.DISPUTE.CREATED", 2)
    resolved = events_of(receiver, "CUSTOMER.DISPUTE.RESOLVED", 2)
    assert len(created) == 2 and len(resolved) == 2 and len(events_of(receiver, "CUSTOMER.DISPUTE.UPDATED", 2)) == 2
    cert_host = urlparse(paypal.base).netloc
    outcomes = {}
    for delivery in created + resolved:
        assert verify_offline(delivery, sandbox.config.paypal_webhook_id, cert_host)
        resource = json.loads(delivery["body"])["resource"]
        assert resource["disputed_transactions"][0]["seller_transaction_id"] in (won_capture, lost_capture)
        if resource["status"] == "RESOLVED":
            outcomes[resource["dispute_id"]] = resource["dispute_outcome"]["outcome_code"]
    assert outcomes == {won["dispute_id"]: "RESOLVED_SELLER_FAVOUR", lost["dispute_id"]: "RESOLVED_BUYER_FAVOUR"}
    shown = paypal.call("GET", f"/v1/customer/disputes/{won['dispute_id']}").json()
    assert shown["status"] == "RESOLVED"
    assert [d["dispute_id"] for d in control.get("/_sandbox/state")["paypal"]["disputes"]] == [won["dispute_id"],
                                                                                              lost["dispute_id"]]
