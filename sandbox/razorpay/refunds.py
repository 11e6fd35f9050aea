"""Razorpay money back: Refunds and Disputes, mixed into the sandbox's RazorpayGateway (issue 12).

Wire facts:
- POST /v1/payments/{id}/refund takes `amount` (subunits; default: all that is left), `speed` (normal | optimum),
  `notes`, `receipt` (https://razorpay.com/docs/api/refunds/create-normal/); razorpay-python 2.0.1 sends it with
  `client.payment.refund(payment_id, data)` (razorpay/resources/payment.py). No idempotency key is honoured here:
  the brief treats `receipt` as our reference and the portal looks refunds up by it.
- GET /v1/payments/{id}/refunds (`count`, `skip`, `from`, `to`), GET /v1/payments/{id}/refunds/{rfnd},
  GET /v1/refunds/{rfnd}, GET /v1/refunds (https://razorpay.com/docs/api/refunds/): collections are
  `{"entity": "collection", "count", "items"}`.
- Refund entity: id rfnd_..., entity, amount, currency, payment_id, notes, receipt, acquirer_data{arn}, created_at,
  batch_id, status pending | processed | failed, speed_processed, speed_requested
  (https://razorpay.com/docs/api/refunds/entity/). Normal-speed refunds are `pending`, then `processed`.
- Refunds only of `captured` payments (https://razorpay.com/docs/api/refunds/). Errors are 400 BAD_REQUEST_ERROR:
  "The refund amount provided is greater than amount captured", "The payment has been fully refunded already"
  (create-normal doc, Errors); the payment's other refusals use Razorpay's public error descriptions ("The payment
  status should be captured for action to be taken", "The refund amount provided is greater than the unrefunded
  amount", "The refund on this payment is blocked due to ongoing dispute investigation").
- The payment counts refunds in `amount_refunded`, `refund_status` null | partial | full, and `status` becomes
  `refunded` once all of it is refunded; partly refunded it stays `captured`
  (https://razorpay.com/docs/payments/refunds/issue/).
- Webhooks refund.created / refund.processed / refund.failed carry payload.refund.entity and payload.payment.entity
  (https://razorpay.com/docs/webhooks/refunds/).
- Dispute entity: id disp_..., entity, payment_id, amount, currency, amount_deducted, reason_code,
  reason_description, respond_by, status open | under_review | won | lost | closed, phase, created_at, evidence
  (https://razorpay.com/docs/api/disputes/entity/); webhooks payment.dispute.created / won / lost / closed /
  under_review / action_required carry payload.payment.entity and payload.dispute.entity
  (https://razorpay.com/docs/webhooks/disputes/).
"""

from __future__ import annotations

import time
from typing import Any

from werkzeug.wrappers import Request, Response

from ..gateway import GatewayError, json_response
from . import rules
from .rules import bad_request

REFUND_FIELDS = {"amount", "speed", "notes", "receipt"}
SPEEDS = ("normal", "optimum")
LIST_FIELDS = {"count", "skip", "from", "to"}
MAX_COUNT = 100  # collections answer at most 100 items per call (https://razorpay.com/docs/api/pagination/)
OPEN_DISPUTES = ("open", "under_review")
DISPUTE_RESPONSE_S = 3 * 24 * 3600  # chargeback phase: respond within T+3 (razorpay.com/docs/payments/disputes/)


def _collection(items: list[dict]) -> dict:
    return {"entity": "collection", "count": len(items), "items": items}


class RefundsMixin:
    """Needs from RazorpayGateway: lock, ids, now(), payments, _emit, _authenticate, _json_body."""
    refund_outcome_words = {"succeeded": "processed"}  # Razorpay's refund statuses: processed, failed

    def reset_money_back(self) -> None:
        self.refunds: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self._refund_due: dict[str, tuple[float, str]] = {}  # refund id -> (when, outcome) for settle / fail
        self.refund_mode = self.default_refund_mode
        self.refund_settle_ms = 300

    def money_back_state(self) -> dict:
        return {"refunds": [dict(r) for r in self.refunds.values()],
                "disputes": [dict(d) for d in self.disputes.values()],
                "refund_mode": self.refund_mode, "refund_settle_ms": self.refund_settle_ms}

    # ---- payments --------------------------------------------------------------------------------
    def _payment_or_error(self, payment_id: str) -> dict:
        payment = self.payments.get(payment_id)
        if payment is None:
            raise bad_request("The id provided does not exist", "id")
        return payment

    def fetch_payment(self, request: Request, payment_id: str) -> Response:
        self._authenticate(request)
        with self.lock:
            return json_response(dict(self._payment_or_error(payment_id)))

    # ---- refunds through the API ----------------------------------------------------------------
    def create_refund(self, request: Request, payment_id: str) -> Response:
        self._authenticate(request)
        data = self._json_body(request)
        if not isinstance(data, dict):
            raise bad_request("The request body must be a JSON object", None)
        for key in data:
            if key not in REFUND_FIELDS:
                raise bad_request(f"{key} is/are not required and should not be sent", key)
        if "amount" in data and not rules._is_int(data["amount"]):
            raise bad_request("The amount must be an integer.", "amount")
        if data.get("speed", "normal") not in SPEEDS:
            raise bad_request("The selected speed is invalid.", "speed")
        receipt = data.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise bad_request("The receipt may not be greater than 40 characters.", "receipt")
        rules._check_notes(data.get("notes"))
        with self.lock:
            payment = self._payment_or_error(payment_id)
            refund = self._refund(payment, data.get("amount"), data.get("notes") or {}, receipt,
                                  data.get("speed", "normal"))
        return json_response(refund)

    def _refund(self, payment: dict, amount: int | None, notes: dict, receipt: str | None, speed: str) -> dict:
        """Check, make and announce one refund of `payment` (lock held). GatewayError with Razorpay's body."""
        if payment["status"] not in ("captured", "refunded"):
            raise bad_request("The payment status should be captured for action to be taken", None)
        if any(d["payment_id"] == payment["id"] and d["status"] in OPEN_DISPUTES for d in self.disputes.values()):
            raise bad_request("The refund on this payment is blocked due to ongoing dispute investigation", None)
        left = payment["amount"] - payment["amount_refunded"]
        if left <= 0:
            raise bad_request("The payment has been fully refunded already", None)
        if amount is None:
            amount = left
        currency = payment["currency"]
        if amount < rules.MIN_AMOUNT:
            # The docs' own example: "The amount must be at least INR 1.00" (create-normal doc).
            raise bad_request(f"The amount must be at least {currency} 1.00", "amount")
        if amount > payment["amount"]:
            raise bad_request("The refund amount provided is greater than amount captured", "amount")
        if amount > left:
            raise bad_request("The refund amount provided is greater than the unrefunded amount", "amount")
        status = "processed" if self.refund_mode == "instant" else "pending"
        refund = {
            "id": self.ids.make("rfnd_", 14), "entity": "refund", "amount": amount, "currency": currency,
            "payment_id": payment["id"], "notes": dict(notes) if notes else [], "receipt": receipt,
            "acquirer_data": {"arn": None}, "created_at": self.now(), "batch_id": None, "status": status,
            "speed_processed": "normal", "speed_requested": speed,
        }
        self.refunds[refund["id"]] = refund
        if self.refund_mode in ("settle", "fail"):
            outcome = "processed" if self.refund_mode == "settle" else "failed"
            self._refund_due[refund["id"]] = (time.time() + self.refund_settle_ms / 1000, outcome)
        payment["amount_refunded"] += amount
        self._refund_status(payment)
        self._emit("refund.created", {"refund": dict(refund), "payment": dict(payment)})
        if status == "processed":
            refund["acquirer_data"] = {"arn": self.ids.token(14)}
            self._emit("refund.processed", {"refund": dict(refund), "payment": dict(payment)})
        return dict(refund)

    @staticmethod
    def _refund_status(payment: dict) -> None:
        refunded = payment["amount_refunded"]
        payment["refund_status"] = None if refunded == 0 else "full" if refunded >= payment["amount"] else "partial"
        payment["status"] = "refunded" if payment["refund_status"] == "full" else "captured"

    def _finish_refund(self, refund_id: str, outcome: str) -> dict:
        refund = self.refunds[refund_id]
        if refund["status"] != "pending":
            raise ValueError(f"refund {refund_id} is {refund['status']}, not pending")
        self._refund_due.pop(refund_id, None)
        payment = self.payments[refund["payment_id"]]
        if outcome == "processed":
            refund["status"] = "processed"
            refund["acquirer_data"] = {"arn": self.ids.token(14)}
            self._emit("refund.processed", {"refund": dict(refund), "payment": dict(payment)})
            return dict(refund)
        # Failed: the money stays with the merchant, so the payment may be refunded again.
        refund["status"] = "failed"
        payment["amount_refunded"] -= refund["amount"]
        self._refund_status(payment)
        self._emit("refund.failed", {"refund": dict(refund), "payment": dict(payment)})
        return dict(refund)

    @staticmethod
    def _page(request: Request, items: list[dict]) -> list[dict]:
        for key in request.args:
            if key not in LIST_FIELDS:
                raise bad_request(f"{key} is/are not required and should not be sent", key)
        try:
            count = int(request.args.get("count", 10))
            skip = int(request.args.get("skip", 0))
            since, until = int(request.args.get("from", 0)), int(request.args.get("to", 2**62))
        except ValueError:
            raise bad_request("The count must be an integer.", "count") from None
        if not 1 <= count <= MAX_COUNT:
            raise bad_request("The count must be between 1 and 100.", "count")
        if skip < 0:
            raise bad_request("The skip must be at least 0.", "skip")
        items = [i for i in items if since <= i["created_at"] <= until]
        return items[skip:skip + count]

    def list_payment_refunds(self, request: Request, payment_id: str) -> Response:
        self._authenticate(request)
        with self.lock:
            self._payment_or_error(payment_id)
            items = [dict(r) for r in reversed(self.refunds.values()) if r["payment_id"] == payment_id]  # newest first
        return json_response(_collection(self._page(request, items)))

    def fetch_payment_refund(self, request: Request, payment_id: str, refund_id: str) -> Response:
        self._authenticate(request)
        with self.lock:
            refund = self.refunds.get(refund_id)
            if refund is None or refund["payment_id"] != payment_id:
                raise bad_request("The id provided does not exist", "id")
            return json_response(dict(refund))

    def fetch_refund(self, request: Request, refund_id: str) -> Response:
        self._authenticate(request)
        with self.lock:
            refund = self.refunds.get(refund_id)
            if refund is None:
                raise bad_request("The id provided does not exist", "id")
            return json_response(dict(refund))

    def list_refunds(self, request: Request) -> Response:
        self._authenticate(request)
        with self.lock:
            items = [dict(r) for r in reversed(self.refunds.values())]
        return json_response(_collection(self._page(request, items)))

    # ---- disputes through the API ---------------------------------------------------------------
    def fetch_dispute(self, request: Request, dispute_id: str) -> Response:
        self._authenticate(request)
        with self.lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise bad_request("The id provided does not exist", "id")
            return json_response(dict(dispute))

    def list_disputes(self, request: Request) -> Response:
        self._authenticate(request)
        with self.lock:
            items = [dict(d) for d in reversed(self.disputes.values())]
        return json_response(_collection(self._page(request, items)))

    # ---- control hooks (sandbox/gateway.py) ------------------------------------------------------
    def dashboard_refund(self, payment_id: str, amount_minor: int | None, reason: str) -> dict:
        with self.lock:
            payment = self.payments[payment_id]
            try:
                # The Dashboard's refund form has a comment box; it lands in notes, with no receipt.
                return self._refund(payment, amount_minor, {"comment": reason[:256]} if reason else {}, None, "normal")
            except GatewayError as exc:
                raise ValueError(exc.body["error"]["description"]) from None

    def open_dispute(self, payment_id: str, amount_minor: int | None, reason: str) -> dict:
        with self.lock:
            payment = self.payments[payment_id]
            if payment["status"] not in ("captured", "refunded"):
                raise ValueError(f"payment {payment_id} is {payment['status']}, not captured")
            if any(d["payment_id"] == payment_id and d["status"] in OPEN_DISPUTES for d in self.disputes.values()):
                raise ValueError(f"payment {payment_id} already has an open dispute")
            amount = payment["amount"] if amount_minor is None else amount_minor
            if amount > payment["amount"]:
                raise ValueError(f"a dispute cannot exceed the payment ({payment['amount']})")
            now = self.now()
            dispute = self._dispute(payment, amount, reason, now)
            self.disputes[dispute["id"]] = dispute
            self._emit("payment.dispute.created", {"payment": dict(payment), "dispute": dict(dispute)})
            return dict(dispute)

    def _dispute(self, payment: dict, amount: int, reason: str, now: int) -> dict[str, Any]:
        return {
            "id": self.ids.make("disp_", 14), "entity": "dispute", "payment_id": payment["id"], "amount": amount,
            "currency": payment["currency"], "amount_deducted": 0, "reason_code": "chargeback",
            "reason_description": reason or "The customer's bank raised a chargeback.",
            "respond_by": now + DISPUTE_RESPONSE_S, "status": "open", "phase": "chargeback", "created_at": now,
            "evidence": {"amount": amount, "summary": None, "shipping_proof": None, "billing_proof": None,
                         "cancellation_proof": None, "customer_communication": None, "proof_of_service": None,
                         "explanation_letter": None, "refund_confirmation": None, "access_activity_log": None,
                         "refund_cancellation_policy": None, "term_and_conditions": None, "others": None,
                         "submitted_at": None},
        }

    def close_dispute(self, dispute_id: str, outcome: str) -> dict:
        with self.lock:
            dispute = self.disputes[dispute_id]
            if dispute["status"] not in OPEN_DISPUTES:
                raise ValueError(f"dispute {dispute_id} is already {dispute['status']}")
            dispute["status"] = outcome
            # amount_deducted: "0 unless the status of dispute is updated to lost" (disputes entity doc).
            dispute["amount_deducted"] = dispute["amount"] if outcome == "lost" else 0
            payment = self.payments[dispute["payment_id"]]
            self._emit(f"payment.dispute.{outcome}", {"payment": dict(payment), "dispute": dict(dispute)})
            return dict(dispute)
