"""Stripe money back: Charges, Refunds and Disputes, mixed into the sandbox's StripeGateway (issue 12).

Wire facts (https://docs.stripe.com/api/refunds, /api/charges/object, /api/disputes; parameter and enum names as in
stripe-python 16.1.0's stripe/params/_refund_create_params.py, _refund_list_params.py, stripe/_refund.py and
stripe/_dispute.py):
- POST /v1/refunds takes `payment_intent` or `charge`, `amount` (default: all that is left), `reason`
  (duplicate | fraudulent | requested_by_customer), `metadata`; Idempotency-Key as every POST.
- A card refund is usually `succeeded` at once; it may stay `pending` and end `succeeded` or `failed`
  (https://docs.stripe.com/refunds#failed-refunds). The Charge's `amount_refunded` counts it from creation; a failed
  refund gives its amount back. `refunded` is true once the whole charge is refunded.
- More than is left: 400 invalid_request_error, param `amount`, "Refund amount ($X) is greater than unrefunded amount
  on charge ($Y)" with no `code` (Stripe's answers as quoted in
  https://github.com/reactioncommerce/reaction/issues/3704); nothing left: code `charge_already_refunded`; a
  chargeback: code `charge_disputed` (https://docs.stripe.com/error-codes).
- Events (https://docs.stripe.com/api/events/types): refund.created, refund.updated, refund.failed (data.object: the
  Refund; sent for card refunds too since 2024-10-28.acacia,
  https://docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update); charge.refunded (the Charge, which
  lists no refunds since https://docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand);
  charge.dispute.created, .funds_withdrawn, .funds_reinstated, .closed (the Dispute).
"""

from __future__ import annotations

import time

from werkzeug.wrappers import Request, Response

from ..gateway import GatewayError
from . import objects, rules
from .params import Bool, Int, List, Metadata, Obj, Str, check_params, invalid_request

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
REFUND_CREATE = Obj({
    "amount": Int(), "charge": Str(), "currency": Str(), "customer": Str(), "expand": List(Str()),
    "instructions_email": Str(), "metadata": Metadata(), "origin": Str(choices=("customer_balance",)),
    "payment_intent": Str(), "reason": Str(choices=REFUND_REASONS), "refund_application_fee": Bool(),
    "reverse_transfer": Bool(),
})
_PAGE = {"limit": Int(), "starting_after": Str(), "ending_before": Str(), "expand": List(Str())}
_CREATED = Obj({"gt": Int(), "gte": Int(), "lt": Int(), "lte": Int()})
REFUND_LIST = Obj({**_PAGE, "charge": Str(), "payment_intent": Str(), "created": _CREATED})
DISPUTE_LIST = Obj({**_PAGE, "charge": Str(), "payment_intent": Str(), "created": _CREATED})
EXPAND = Obj({"expand": List(Str())})
# Reasons a cardholder gives (stripe/_dispute.py `reason`).
DISPUTE_REASONS = ("bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
                   "debit_not_authorized", "duplicate", "fraudulent", "general", "incorrect_account_details",
                   "insufficient_funds", "noncompliant", "product_not_received", "product_unacceptable",
                   "subscription_canceled", "unrecognized")
OPEN_CHARGEBACK = ("needs_response", "under_review")
DISPUTE_RESPONSE_S = 7 * 24 * 3600  # evidence due about a week out (varies by network)
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "inr": "₹", "jpy": "¥", "aud": "A$", "cad": "CA$", "sgd": "SGD "}


def money_words(amount: int, currency: str) -> str:
    """How Stripe's refund errors show an amount: "$110.00"."""
    symbol = _SYMBOLS.get(currency)
    major = rules.format_major(amount, currency)
    return f"{symbol}{major}" if symbol else f"{major} {currency.upper()}"


class RefundsMixin:
    """Needs from StripeGateway: lock, ids, now(), _emit, _json, _authenticate, _params, _idempotent, _paginate."""

    def reset_money_back(self) -> None:
        self.charges: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self._refund_due: dict[str, tuple[float, str]] = {}  # refund id -> (when, outcome) for settle / fail
        self.refund_mode = self.default_refund_mode
        self.refund_settle_ms = 300

    def money_back_state(self) -> dict:
        return {"charges": [dict(c) for c in self.charges.values()],
                "refunds": [dict(r) for r in self.refunds.values()],
                "disputes": [dict(d) for d in self.disputes.values()],
                "refund_mode": self.refund_mode, "refund_settle_ms": self.refund_settle_ms}

    # ---- charges ---------------------------------------------------------------------------------
    def make_charge(self, intent: dict, failure: dict | None = None) -> dict:
        """The intent's `latest_charge`, made when it is paid (or declined)."""
        charge = objects.charge(charge_id=intent["latest_charge"], created=intent["created"], intent=intent,
                                payment_method=intent.get("payment_method"),
                                balance_transaction=None if failure else self.ids.make("txn_", 24),
                                failure=failure)
        self.charges[charge["id"]] = charge
        return charge

    def retrieve_charge(self, request: Request, cid: str) -> Response:
        self._authenticate(request)
        check_params(EXPAND, self._params(request))
        with self.lock:
            found = self.charges.get(cid)
        if found is None:
            raise invalid_request(f"No such charge: '{cid}'", "id", "resource_missing", status=404)
        return self._json(200, dict(found), request)

    # ---- refunds through the API ----------------------------------------------------------------
    def create_refund(self, request: Request) -> Response:
        api_key = self._authenticate(request)
        raw = self._params(request)

        def run(key):
            params = check_params(REFUND_CREATE, raw)
            with self.lock:
                charge = self._refundable_charge(params)
                refund = self._refund(charge, params.get("amount"), params.get("reason"), params.get("metadata", {}),
                                      request_id=None, idempotency_key=key)
            return self._json(200, refund, request)

        return self._idempotent(request, api_key, raw, run)

    def _refundable_charge(self, params: dict) -> dict:
        if "payment_intent" in params:
            intent = self.payment_intents.get(params["payment_intent"])
            if intent is None:
                raise invalid_request(f"No such payment_intent: '{params['payment_intent']}'", "payment_intent",
                                      "resource_missing")
            charge = self.charges.get(intent.get("latest_charge") or "")
            if intent["status"] != "succeeded" or charge is None or not charge["paid"]:
                raise invalid_request(f"This PaymentIntent ({intent['id']}) does not have a successful charge to "
                                      "refund.", "payment_intent")
            if "charge" in params and params["charge"] != charge["id"]:
                raise invalid_request("The charge does not belong to this PaymentIntent.", "charge")
            return charge
        if "charge" in params:
            charge = self.charges.get(params["charge"])
            if charge is None:
                raise invalid_request(f"No such charge: '{params['charge']}'", "charge", "resource_missing")
            if not charge["paid"]:
                raise invalid_request(f"Charge {charge['id']} has not been captured and cannot be refunded.",
                                      "charge")
            return charge
        raise invalid_request("One of the following params should be provided for this request: payment_intent or "
                              "charge.", None, "parameter_missing")

    def _refund(self, charge: dict, amount: int | None, reason: str | None, metadata: dict, *,
                request_id: str | None = None, idempotency_key: str | None = None) -> dict:
        """Check, make and announce one refund of `charge` (lock held). GatewayError with Stripe's body."""
        if any(d["charge"] == charge["id"] and d["status"] in OPEN_CHARGEBACK + ("lost",)
               for d in self.disputes.values()):
            raise invalid_request(f"Charge {charge['id']} has been charged back; cannot issue a refund.", None,
                                  "charge_disputed")
        left = charge["amount"] - charge["amount_refunded"]
        if left <= 0:
            raise invalid_request(f"Charge {charge['id']} has already been refunded.", None, "charge_already_refunded")
        if amount is None:
            amount = left
        if amount < 1:
            raise invalid_request("This value must be greater than or equal to 1.", "amount")
        if amount > left:
            raise invalid_request(f"Refund amount ({money_words(amount, charge['currency'])}) is greater than "
                                  f"unrefunded amount on charge ({money_words(left, charge['currency'])})", "amount")
        status = "succeeded" if self.refund_mode == "instant" else "pending"
        refund = objects.refund(refund_id=self.ids.make("re_", 24), created=self.now(), charge=charge, amount=amount,
                                status=status, reason=reason, metadata=dict(metadata),
                                balance_transaction=self.ids.make("txn_", 24))
        self.refunds[refund["id"]] = refund
        if self.refund_mode in ("settle", "fail"):
            outcome = "succeeded" if self.refund_mode == "settle" else "failed"
            self._refund_due[refund["id"]] = (time.time() + self.refund_settle_ms / 1000, outcome)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._emit("refund.created", dict(refund), request_id, idempotency_key)
        # "Occurs whenever a charge is refunded, including partial refunds"; the Charge lists no refunds.
        self._emit("charge.refunded", dict(charge), request_id, idempotency_key)
        return dict(refund)

    def _finish_refund(self, refund_id: str, outcome: str) -> dict:
        refund = self.refunds[refund_id]
        if refund["status"] != "pending":
            raise ValueError(f"refund {refund_id} is {refund['status']}, not pending")
        self._refund_due.pop(refund_id, None)
        card = refund["destination_details"]["card"]
        if outcome == "succeeded":
            refund["status"] = "succeeded"
            card["reference_status"] = "available"
            self._emit("refund.updated", dict(refund))
            return dict(refund)
        # Failed: the money comes back to the merchant's balance and is refundable again.
        refund.update(status="failed", failure_reason="expired_or_canceled_card",
                      failure_balance_transaction=self.ids.make("txn_", 24))
        card["reference_status"] = "unavailable"
        charge = self.charges[refund["charge"]]
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        self._emit("refund.failed", dict(refund))
        return dict(refund)

    def retrieve_refund(self, request: Request, rid: str) -> Response:
        self._authenticate(request)
        check_params(EXPAND, self._params(request))
        with self.lock:
            found = self.refunds.get(rid)
        if found is None:
            raise invalid_request(f"No such refund: '{rid}'", "id", "resource_missing", status=404)
        return self._json(200, dict(found), request)

    def list_refunds(self, request: Request) -> Response:
        from .app import _matches, _paginate  # one paging rule for every list

        self._authenticate(request)
        params = check_params(REFUND_LIST, self._params(request))
        with self.lock:
            # A filter naming an object that does not exist is refused, not answered with an empty list.
            if "payment_intent" in params and params["payment_intent"] not in self.payment_intents:
                raise invalid_request(f"No such payment_intent: '{params['payment_intent']}'", "payment_intent",
                                      "resource_missing")
            if "charge" in params and params["charge"] not in self.charges:
                raise invalid_request(f"No such charge: '{params['charge']}'", "charge", "resource_missing")
            items = [r for r in reversed(self.refunds.values()) if _matches(r, params, ("charge", "payment_intent"))]
            page, more = _paginate(items, params, "refund")
        return self._json(200, objects.list_object("/v1/refunds", page, more), request)

    # ---- disputes through the API ---------------------------------------------------------------
    def retrieve_dispute(self, request: Request, did: str) -> Response:
        self._authenticate(request)
        check_params(EXPAND, self._params(request))
        with self.lock:
            found = self.disputes.get(did)
        if found is None:
            raise invalid_request(f"No such dispute: '{did}'", "dispute", "resource_missing", status=404)
        return self._json(200, dict(found), request)

    def list_disputes(self, request: Request) -> Response:
        from .app import _matches, _paginate

        self._authenticate(request)
        params = check_params(DISPUTE_LIST, self._params(request))
        with self.lock:
            items = [d for d in reversed(self.disputes.values()) if _matches(d, params, ("charge", "payment_intent"))]
            page, more = _paginate(items, params, "dispute")
        return self._json(200, objects.list_object("/v1/disputes", page, more), request)

    # ---- control hooks (sandbox/gateway.py) ------------------------------------------------------
    def _charge_of(self, payment_id: str) -> dict:
        """The succeeded charge of a PaymentIntent (or a charge id). KeyError: none; ValueError: not paid."""
        intent = self.payment_intents.get(payment_id)
        charge = self.charges.get(intent.get("latest_charge") or "") if intent else self.charges.get(payment_id)
        if charge is None:
            raise KeyError(payment_id)
        if not charge["paid"]:
            raise ValueError(f"{payment_id} has no successful charge")
        return charge

    def dashboard_refund(self, payment_id: str, amount_minor: int | None, reason: str) -> dict:
        with self.lock:
            charge = self._charge_of(payment_id)
            try:
                # The Dashboard offers Stripe's reasons only; other words become its "Other" note.
                return self._refund(charge, amount_minor, reason if reason in REFUND_REASONS else None,
                                    {} if reason in REFUND_REASONS or not reason else {"note": reason[:500]})
            except GatewayError as exc:
                raise ValueError(exc.body["error"]["message"]) from None

    def open_dispute(self, payment_id: str, amount_minor: int | None, reason: str) -> dict:
        with self.lock:
            charge = self._charge_of(payment_id)
            if any(d["charge"] == charge["id"] for d in self.disputes.values()):
                raise ValueError(f"charge {charge['id']} is already disputed")  # one dispute per charge
            amount = charge["amount"] if amount_minor is None else amount_minor
            if amount > charge["amount"]:
                raise ValueError(f"a dispute cannot exceed the charge ({charge['amount']})")
            now = self.now()
            dispute = objects.dispute(dispute_id=self.ids.make("dp_", 24), created=now, charge=charge, amount=amount,
                                      reason=reason if reason in DISPUTE_REASONS else "general",
                                      due_by=now + DISPUTE_RESPONSE_S, balance_transaction=self.ids.make("txn_", 24))
            self.disputes[dispute["id"]] = dispute
            charge["disputed"] = True
            self._emit("charge.dispute.created", dict(dispute))
            self._emit("charge.dispute.funds_withdrawn", dict(dispute))
            return dict(dispute)

    def close_dispute(self, dispute_id: str, outcome: str) -> dict:
        with self.lock:
            dispute = self.disputes[dispute_id]
            if dispute["status"] not in OPEN_CHARGEBACK:
                raise ValueError(f"dispute {dispute_id} is already {dispute['status']}")
            dispute["status"] = outcome
            dispute["evidence_details"]["has_evidence"] = True
            dispute["evidence_details"]["submission_count"] = 1
            if outcome == "won":
                dispute["balance_transactions"].append({
                    "id": self.ids.make("txn_", 24), "object": "balance_transaction", "amount": dispute["amount"],
                    "currency": dispute["currency"], "type": "adjustment", "reporting_category": "dispute_reversal",
                    "created": self.now()})
                self._emit("charge.dispute.funds_reinstated", dict(dispute))
            self._emit("charge.dispute.closed", dict(dispute))
            return dict(dispute)
