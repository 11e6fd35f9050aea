"""PayPal money back: Payments v2 refunds and Customer Disputes, mixed into the sandbox's PayPalGateway (issue 12).

Wire facts:
- POST /v2/payments/captures/{capture_id}/refund (`captures.refund`) takes an empty body (all that is left) or
  `amount`, with `invoice_id`, `custom_id`, `note_to_payer`; PayPal-Request-Id ("the server stores keys for 45 days")
  and Prefer (default return=minimal: id, status, links). 201 with schema `refund`; GET /v2/payments/refunds/{id}
  (`refunds.get`). Refund status COMPLETED | PENDING | FAILED | CANCELLED, status_details.reason ECHECK; the capture
  becomes PARTIALLY_REFUNDED / REFUNDED (schema `capture_status`). 422 issues from `captures.refund-422`
  (REFUND_AMOUNT_EXCEEDED, CAPTURE_FULLY_REFUNDED, DUPLICATE_INVOICE_ID, TRANSACTION_DISPUTED, PENDING_CAPTURE,
  REFUND_NOT_ALLOWED, REFUND_CAPTURE_CURRENCY_MISMATCH), all in tests/reference/paypal/payments_payment_v2.json.
- Webhooks (https://developer.paypal.com/api/rest/webhooks/event-names/, Payments v2): PAYMENT.CAPTURE.REFUNDED
  "a merchant refunds a payment capture" and PAYMENT.CAPTURE.REVERSED "PayPal reverses a payment capture", both with
  resource_type `refund` (PayPal's REVERSED sample, as quoted in zencart's paypalr webhook handler). No event is
  documented for a refund that stays pending or fails: the merchant finds out with GET /v2/payments/refunds/{id}.
- Disputes (https://developer.paypal.com/docs/disputes/webhooks, /api/customer-disputes/v1/): CUSTOMER.DISPUTE.CREATED,
  .UPDATED, .RESOLVED with the dispute as resource: dispute_id, disputed_transactions[].seller_transaction_id (our
  capture), reason, status, dispute_amount, seller_response_due_date, dispute_life_cycle_stage, and once resolved
  dispute_outcome.outcome_code (RESOLVED_BUYER_FAVOUR, RESOLVED_SELLER_FAVOUR, ...).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time

from werkzeug.wrappers import Request, Response

from ..gateway import GatewayError, json_response
from ..ids import UPPER_ALNUM
from . import rules
from .rules import Problem

REFUND_DESCRIPTIONS = {  # the `description` enums of schema captures.refund-422
    "CAPTURE_FULLY_REFUNDED": "The capture has already been fully refunded",
    "REFUND_CAPTURE_CURRENCY_MISMATCH": "Refund must be in the same currency as the capture",
    "REFUND_NOT_ALLOWED": "Capture cannot be refunded.",
    "REFUND_AMOUNT_EXCEEDED": "The refund amount must be less than or equal to the capture amount that has not yet "
                              "been refunded.",
    "PENDING_CAPTURE": "Cannot initiate a refund as the capture is pending. Capture is typically pending when the "
                       "payer has funded the transaction using e-check/bank funded.",
    "DUPLICATE_INVOICE_ID": "Invoice ID was previously used to refund a capture.",
    "TRANSACTION_DISPUTED": "Partial refunds cannot be offered at this time because there is an open case on this "
                            "transaction. Visit the PayPal Resolution Center to review this case.",
}
# Reasons a buyer gives (customer-disputes v1 `dispute_reason`).
DISPUTE_REASONS = ("MERCHANDISE_OR_SERVICE_NOT_RECEIVED", "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED", "UNAUTHORISED",
                   "CREDIT_NOT_PROCESSED", "DUPLICATE_TRANSACTION", "INCORRECT_AMOUNT", "PAYMENT_BY_OTHER_MEANS",
                   "CANCELED_RECURRING_BILLING", "PROBLEM_WITH_REMITTANCE", "OTHER")
DISPUTE_RESPONSE_S = 10 * 24 * 3600  # a seller has about 10 days to answer a claim (Resolution Center)


class RefundsMixin:
    """Needs from PayPalGateway: lock, ids, base_url, capture_orders, orders, _authenticate, _json, _fail,
    _with_request_id, _debug_id, _emit, merchant_id."""

    def reset_money_back(self) -> None:
        self.refunds: dict[str, dict] = {}
        self.refund_capture: dict[str, str] = {}  # refund id -> capture id
        self.refund_invoice_ids: set[str] = set()
        self.disputes: dict[str, dict] = {}
        self._refund_due: dict[str, tuple[float, str]] = {}  # refund id -> (when, outcome) for settle / fail
        self.refund_mode = self.default_refund_mode
        self.refund_settle_ms = 300

    def money_back_state(self) -> dict:
        return {"refunds": [copy.deepcopy(r) for r in self.refunds.values()],
                "disputes": [copy.deepcopy(d) for d in self.disputes.values()],
                "refund_mode": self.refund_mode, "refund_settle_ms": self.refund_settle_ms}

    def _refund_problem(self, issue: str, field: str | None = None, value: str | None = None) -> GatewayError:
        error = Problem(422, issue, field, value).to_error(self._debug_id())
        detail = error.body["details"][0]
        detail["description"] = REFUND_DESCRIPTIONS.get(issue, detail["description"])
        error.body["links"] = [{"href": f"https://developer.paypal.com/docs/api/payments/v2/#error-{issue}",
                                "rel": "information_link", "method": "GET"}]
        return error

    # ---- captures ------------------------------------------------------------------------------------
    def _find_capture(self, capture_id: str) -> dict | None:
        order_id = self.capture_orders.get(capture_id)
        if order_id is None:
            return None
        for unit in self.orders[order_id]["purchase_units"]:
            for capture in unit.get("payments", {}).get("captures", []):
                if capture["id"] == capture_id:
                    return capture
        return None

    def _refunds_of(self, capture_id: str, *statuses: str) -> int:
        return sum(rules.to_minor(r["amount"]["value"], r["amount"]["currency_code"])
                   for rid, r in self.refunds.items()
                   if self.refund_capture[rid] == capture_id and r["status"] in statuses)

    def _update_capture(self, capture: dict) -> None:
        """COMPLETED -> PARTIALLY_REFUNDED -> REFUNDED, by the refunds PayPal has completed (schema capture_status)."""
        amount = capture["amount"]
        done = self._refunds_of(capture["id"], "COMPLETED")
        whole = rules.to_minor(amount["value"], amount["currency_code"])
        capture["status"] = "REFUNDED" if done >= whole else "PARTIALLY_REFUNDED" if done else "COMPLETED"
        capture["update_time"] = _iso()

    # ---- refunds through the API ---------------------------------------------------------------------
    def refund_capture_route(self, request: Request, capture_id: str) -> Response:
        self._authenticate(request)
        response = self._with_request_id(request, lambda: self._refund_route(request, capture_id))
        if response.status_code != 201:
            return response
        # A repeated PayPal-Request-Id "returns the latest status of the previous request" (idempotency guide,
        # https://developer.paypal.com/api/rest/reference/idempotency/): the refund as it stands now.
        with self.lock:
            refund = copy.deepcopy(self.refunds.get(json.loads(response.get_data())["id"]))
        prefer = request.headers.get("Prefer", "return=minimal")
        body = refund if "return=representation" in prefer else {k: refund[k] for k in ("id", "status", "links")}
        return json_response(body, 201, {"Paypal-Debug-Id": response.headers.get("Paypal-Debug-Id", "")})

    def _refund_route(self, request: Request, capture_id: str) -> Response:
        try:
            data = self._json(request)
            if not isinstance(data, dict):
                raise Problem(400, "MALFORMED_REQUEST_JSON")
            minor = None
            if "amount" in data:
                currency, minor = rules.check_amount(data["amount"], "/amount")
            for key, limit in (("invoice_id", 127), ("custom_id", 127), ("note_to_payer", 255)):
                if key in data and (not isinstance(data[key], str) or not 1 <= len(data[key]) <= limit):
                    raise Problem(400, "INVALID_STRING_LENGTH", f"/{key}", str(data[key]))
        except Problem as problem:
            raise self._fail(problem)
        with self.lock:
            capture = self._find_capture(capture_id)
            if capture is None:
                raise self._fail(Problem(404, "INVALID_RESOURCE_ID", None))
            if minor is not None and currency != capture["amount"]["currency_code"]:
                raise self._refund_problem("REFUND_CAPTURE_CURRENCY_MISMATCH", "/amount/currency_code", currency)
            refund = self._refund(capture, minor, {k: data[k] for k in ("invoice_id", "custom_id", "note_to_payer")
                                                   if k in data})
        return json_response(refund, 201, {"Paypal-Debug-Id": self._debug_id()})

    def _refund(self, capture: dict, minor: int | None, fields: dict) -> dict:
        """Check, make and announce one refund of `capture` (lock held). GatewayError with PayPal's body."""
        currency = capture["amount"]["currency_code"]
        if capture["status"] == "PENDING":
            raise self._refund_problem("PENDING_CAPTURE")
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"):
            raise self._refund_problem("REFUND_NOT_ALLOWED")
        if any(d["disputed_transactions"][0]["seller_transaction_id"] == capture["id"] and d["status"] != "RESOLVED"
               for d in self.disputes.values()):
            raise self._refund_problem("TRANSACTION_DISPUTED")
        # Pending refunds hold their money too: what is left cannot be refunded twice while they settle.
        left = rules.to_minor(capture["amount"]["value"], currency) - self._refunds_of(capture["id"], "COMPLETED",
                                                                                      "PENDING")
        if left <= 0:
            raise self._refund_problem("CAPTURE_FULLY_REFUNDED")
        if minor is None:
            minor = left
        if minor > left:
            raise self._refund_problem("REFUND_AMOUNT_EXCEEDED", "/amount/value",
                                       rules.format_value(minor, currency))
        if fields.get("invoice_id") in self.refund_invoice_ids:
            raise self._refund_problem("DUPLICATE_INVOICE_ID", "/invoice_id", fields["invoice_id"])
        refund_id = self.ids.token(17, UPPER_ALNUM)
        now = _iso()
        status = "COMPLETED" if self.refund_mode == "instant" else "PENDING"
        money = {"currency_code": currency, "value": rules.format_value(minor, currency)}
        refund = {"id": refund_id, "amount": money, **fields, "status": status,
                  "seller_payable_breakdown": {"gross_amount": dict(money),
                                               "paypal_fee": {"currency_code": currency,
                                                              "value": rules.format_value(0, currency)},
                                               "net_amount": dict(money)},
                  "create_time": now, "update_time": now,
                  "links": [{"href": f"{self.base_url}/v2/payments/refunds/{refund_id}", "rel": "self",
                             "method": "GET"},
                            {"href": f"{self.base_url}/v2/payments/captures/{capture['id']}", "rel": "up",
                             "method": "GET"}]}
        if status == "PENDING":
            refund["status_details"] = {"reason": "ECHECK"}  # the only reason schema refund_status_details has
        self.refunds[refund_id] = refund
        self.refund_capture[refund_id] = capture["id"]
        if "invoice_id" in fields:
            self.refund_invoice_ids.add(fields["invoice_id"])
        if self.refund_mode in ("settle", "fail"):
            outcome = "succeeded" if self.refund_mode == "settle" else "failed"
            self._refund_due[refund_id] = (time.time() + self.refund_settle_ms / 1000, outcome)
        if status == "COMPLETED":
            self._completed(refund, capture)
        return copy.deepcopy(refund)

    def _completed(self, refund: dict, capture: dict) -> None:
        self._update_capture(capture)
        done = self._refunds_of(capture["id"], "COMPLETED")
        currency = capture["amount"]["currency_code"]
        refund["seller_payable_breakdown"]["total_refunded_amount"] = {
            "currency_code": currency, "value": rules.format_value(done, currency)}
        words = f"{refund['amount']['value']} {currency}"
        self._emit("PAYMENT.CAPTURE.REFUNDED", "refund", copy.deepcopy(refund),
                   f"A {words} capture payment was refunded")

    def _finish_refund(self, refund_id: str, outcome: str) -> dict:
        refund = self.refunds[refund_id]
        if refund["status"] != "PENDING":
            raise ValueError(f"refund {refund_id} is {refund['status']}, not PENDING")
        self._refund_due.pop(refund_id, None)
        refund.pop("status_details", None)
        refund["update_time"] = _iso()
        capture = self._find_capture(self.refund_capture[refund_id])
        if outcome == "succeeded":
            refund["status"] = "COMPLETED"
            self._completed(refund, capture)
        else:
            refund["status"] = "FAILED"  # no webhook is documented for this: the merchant asks (refunds.get)
        return copy.deepcopy(refund)

    def get_refund(self, request: Request, refund_id: str) -> Response:
        self._authenticate(request)
        with self.lock:
            refund = self.refunds.get(refund_id)
            if refund is None:
                raise self._fail(Problem(404, "INVALID_RESOURCE_ID", None))
            answer = copy.deepcopy(refund)
        return json_response(answer, 200, {"Paypal-Debug-Id": self._debug_id()})

    # ---- disputes through the API ----------------------------------------------------------------------
    def get_dispute(self, request: Request, dispute_id: str) -> Response:
        """GET /v1/customer/disputes/{id} (customer-disputes v1 `disputes.get`)."""
        self._authenticate(request)
        with self.lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise self._fail(Problem(404, "INVALID_RESOURCE_ID", None))
            answer = copy.deepcopy(dispute)
        return json_response(answer, 200, {"Paypal-Debug-Id": self._debug_id()})

    # ---- control hooks (sandbox/gateway.py) --------------------------------------------------------------
    def _capture_of(self, payment_id: str) -> dict:
        capture = self._find_capture(payment_id)
        if capture is None:
            raise KeyError(payment_id)
        return capture

    def dashboard_refund(self, payment_id: str, amount_minor: int | None, reason: str) -> dict:
        with self.lock:
            capture = self._capture_of(payment_id)
            try:
                return self._refund(capture, amount_minor, {"note_to_payer": reason[:255]} if reason else {})
            except GatewayError as exc:
                detail = exc.body["details"][0]
                raise ValueError(f"{detail['issue']}: {detail['description']}") from None

    def open_dispute(self, payment_id: str, amount_minor: int | None, reason: str) -> dict:
        with self.lock:
            capture = self._capture_of(payment_id)
            if any(d["disputed_transactions"][0]["seller_transaction_id"] == capture["id"]
                   for d in self.disputes.values()):
                raise ValueError(f"capture {capture['id']} is already disputed")
            if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
                raise ValueError(f"capture {capture['id']} is {capture['status']}")
            currency = capture["amount"]["currency_code"]
            whole = rules.to_minor(capture["amount"]["value"], currency)
            amount = whole if amount_minor is None else amount_minor
            if not 0 < amount <= whole:
                raise ValueError(f"a dispute must be of 1 to {whole} minor units")
            now = time.time()
            dispute_id = f"PP-D-{self.ids.token(5, '0123456789')}"
            order = self.orders[self.capture_orders[capture["id"]]]
            unit = order["purchase_units"][0]
            dispute = {
                "dispute_id": dispute_id,
                "create_time": _iso(now), "update_time": _iso(now),
                "disputed_transactions": [{
                    "buyer_transaction_id": self.ids.token(17, UPPER_ALNUM),
                    "seller_transaction_id": capture["id"],
                    "create_time": capture["create_time"],
                    "transaction_status": "COMPLETED",
                    "gross_amount": dict(capture["amount"]),
                    **({"invoice_number": unit["invoice_id"]} if "invoice_id" in unit else {}),
                    **({"custom": unit["custom_id"]} if "custom_id" in unit else {}),
                    "seller": {"merchant_id": self.merchant_id},
                }],
                "reason": reason if reason in DISPUTE_REASONS else "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
                "status": "WAITING_FOR_SELLER_RESPONSE",
                "dispute_amount": {"currency_code": currency, "value": rules.format_value(amount, currency)},
                "seller_response_due_date": _iso(now + DISPUTE_RESPONSE_S),
                "dispute_life_cycle_stage": "CHARGEBACK",
                "dispute_channel": "INTERNAL",
                "links": [{"href": f"{self.base_url}/v1/customer/disputes/{dispute_id}", "rel": "self",
                           "method": "GET"}],
            }
            self.disputes[dispute_id] = dispute
            self._emit("CUSTOMER.DISPUTE.CREATED", "dispute", copy.deepcopy(dispute),
                       f"A new dispute opened with Case # {dispute_id}")
            return {"id": dispute_id, **copy.deepcopy(dispute)}

    def close_dispute(self, dispute_id: str, outcome: str) -> dict:
        with self.lock:
            dispute = self.disputes[dispute_id]
            if dispute["status"] == "RESOLVED":
                raise ValueError(f"dispute {dispute_id} is already resolved")
            # The seller answers first (UPDATED, under PayPal's review), then PayPal decides (RESOLVED).
            dispute.update(status="UNDER_REVIEW", update_time=_iso())
            dispute.pop("seller_response_due_date", None)
            self._emit("CUSTOMER.DISPUTE.UPDATED", "dispute", copy.deepcopy(dispute),
                       f"A dispute was updated with Case # {dispute_id}")
            won = outcome == "won"
            dispute.update(status="RESOLVED", update_time=_iso(), dispute_outcome={
                "outcome_code": "RESOLVED_SELLER_FAVOUR" if won else "RESOLVED_BUYER_FAVOUR",
                **({} if won else {"amount_refunded": dict(dispute["dispute_amount"])})})
            self._emit("CUSTOMER.DISPUTE.RESOLVED", "dispute", copy.deepcopy(dispute),
                       f"A dispute was resolved with case # {dispute_id}")
            return {"id": dispute_id, **copy.deepcopy(dispute)}


def _iso(ts: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(ts if ts is not None else time.time(), dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
