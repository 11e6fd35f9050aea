"""Razorpay API routes, hosted payment-link page, callback and webhook signing.

Wire format checked against razorpay-python 2.0.1: `razorpay.Client(auth=(id, secret), base_url=host)`
prefixes paths with `/v1` (razorpay/constants/url.py), sends JSON with HTTP Basic auth, and picks its
exception from `error.code` only (razorpay/client.py `request`): BAD_REQUEST_ERROR -> BadRequestError,
GATEWAY_ERROR -> GatewayError, anything else -> ServerError; a non-JSON error body raises a JSON decode error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..gateway import Gateway, json_response, page
from . import objects, rules
from .refunds import RefundsMixin
from .rules import bad_request


def _major(amount: int, currency: str) -> str:
    exp = 0 if currency in rules.ZERO_DECIMAL else 3 if currency in rules.THREE_DECIMAL else 2
    if exp == 0:
        return str(amount)
    whole, frac = divmod(amount, 10 ** exp)
    return f"{whole}.{frac:0{exp}d}"


class RazorpayGateway(RefundsMixin, Gateway):
    name = "razorpay"
    # Normal-speed refunds are pending, then processed (https://razorpay.com/docs/api/refunds/entity/).
    default_refund_mode = "settle"
    url_map = Map([
        Rule("/v1/payment_links", methods=["POST"], endpoint="create_link"),
        Rule("/v1/payment_links/", methods=["POST"], endpoint="create_link"),
        Rule("/v1/payment_links", methods=["GET"], endpoint="list_links"),
        Rule("/v1/payment_links/", methods=["GET"], endpoint="list_links"),
        Rule("/v1/payment_links/<link_id>", methods=["GET"], endpoint="fetch_link"),
        Rule("/v1/payment_links/<link_id>", methods=["PATCH"], endpoint="edit_link"),
        Rule("/v1/payment_links/<link_id>/cancel", methods=["POST"], endpoint="cancel_link"),
        Rule("/v1/payments/<payment_id>", methods=["GET"], endpoint="fetch_payment"),
        Rule("/v1/payments/<payment_id>/refund", methods=["POST"], endpoint="create_refund"),
        Rule("/v1/payments/<payment_id>/refunds", methods=["GET"], endpoint="list_payment_refunds"),
        Rule("/v1/payments/<payment_id>/refunds/<refund_id>", methods=["GET"], endpoint="fetch_payment_refund"),
        Rule("/v1/refunds", methods=["GET"], endpoint="list_refunds"),
        Rule("/v1/refunds/<refund_id>", methods=["GET"], endpoint="fetch_refund"),
        Rule("/v1/disputes", methods=["GET"], endpoint="list_disputes"),
        Rule("/v1/disputes/<dispute_id>", methods=["GET"], endpoint="fetch_dispute"),
        Rule("/i/<code>", methods=["GET"], endpoint="hosted_page"),
        Rule("/i/<code>/pay", methods=["POST"], endpoint="hosted_pay"),
    ], strict_slashes=False)

    def reset(self) -> None:
        with self.lock:
            self.links: dict[str, dict] = {}
            self.short_codes: dict[str, str] = {}
            self.orders: dict[str, dict] = {}
            self.payments: dict[str, dict] = {}
            self.events: list[dict] = []
            self.account_id = "acc_" + self.ids.token(14)
            self.user_id = self.ids.token(14)
            self.reset_money_back()

    def state(self) -> dict:
        with self.lock:
            return {"payment_links": [dict(l) for l in self.links.values()],
                    "orders": [dict(o) for o in self.orders.values()],
                    "payments": [dict(p) for p in self.payments.values()],
                    "events": [{"id": e_id, "type": e["event"]} for e_id, e in self.events],
                    **self.money_back_state()}

    # ---- errors ------------------------------------------------------------------------------------
    def error_body(self, status: int) -> dict:
        # Error codes: BAD_REQUEST_ERROR, GATEWAY_ERROR, SERVER_ERROR, SERVICE_UNAVAILABLE (razorpay.com/docs/errors).
        if status == 429:
            code, text = "BAD_REQUEST_ERROR", "Too many requests. Please try after some time."
        elif status in (502, 504):
            code, text = "GATEWAY_ERROR", "Payment processing failed due to error at bank or wallet gateway"
        elif status == 503:
            code, text = "SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again later."
        else:
            code, text = "SERVER_ERROR", "The server encountered an error. The incident has been reported to admins."
        return {"error": {"code": code, "description": text, "field": None, "source": "NA", "step": "NA",
                          "reason": "NA", "metadata": {}}}

    def not_found(self, request: Request) -> Response:
        return json_response({"error": {"code": "BAD_REQUEST_ERROR", "description":
                                        "The requested URL was not found on the server.", "field": None,
                                        "source": "NA", "step": "NA", "reason": "NA", "metadata": {}}}, 404)

    # ---- plumbing ----------------------------------------------------------------------------------
    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        key_id = secret = ""
        if header.startswith("Basic "):
            try:
                key_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                pass
        if not (hmac.compare_digest(key_id, self.config.razorpay_key_id)
                and hmac.compare_digest(secret, self.config.razorpay_key_secret)):
            err = bad_request("The api key provided is invalid", None, status=401)
            err.body["error"].update(source="NA", step="NA", reason="NA")
            raise err

    @staticmethod
    def _json_body(request: Request):
        raw = request.get_data(as_text=True)
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request("The request body is not valid JSON", None)

    def _link_or_error(self, link_id: str) -> dict:
        link = self.links.get(link_id)
        if link is None:
            raise bad_request("The id provided does not exist", "id")
        return link

    # ---- API ---------------------------------------------------------------------------------------
    def create_link(self, request: Request) -> Response:
        self._authenticate(request)
        now = self.now()
        data = rules.check_create(self._json_body(request), now)
        with self.lock:
            reference_id = data.get("reference_id")
            if reference_id and any(l["reference_id"] == reference_id for l in self.links.values()):
                # reference_id must be unique per payment link (Razorpay Payment Links create docs).
                raise bad_request(f"Payment Link with reference_id {reference_id} already exists", "reference_id")
            link_id = self.ids.make("plink_", 14)
            code = self.ids.token(9)
            link = objects.payment_link(link_id=link_id, now=now, data=data, short_url=f"{self.base_url}/i/{code}",
                                        user_id=self.user_id)
            self.links[link_id] = link
            self.short_codes[code] = link_id
            return json_response(link)

    def fetch_link(self, request: Request, link_id: str) -> Response:
        self._authenticate(request)
        with self.lock:
            return json_response(self._link_or_error(link_id))

    def list_links(self, request: Request) -> Response:
        self._authenticate(request)
        allowed = {"reference_id", "payment_id", "count", "skip", "from", "to"}
        for key in request.args:
            if key not in allowed:
                raise bad_request(f"{key} is/are not required and should not be sent", key)
        with self.lock:
            links = list(reversed(self.links.values()))  # newest first
            if "reference_id" in request.args:
                links = [l for l in links if l["reference_id"] == request.args["reference_id"]]
            if "payment_id" in request.args:
                links = [l for l in links if any(p["payment_id"] == request.args["payment_id"]
                                                 for p in l["payments"] or [])]
            return json_response({"payment_links": [dict(l) for l in links]})

    def edit_link(self, request: Request, link_id: str) -> Response:
        self._authenticate(request)
        data = self._json_body(request)
        with self.lock:
            link = self._link_or_error(link_id)
            rules.check_edit(data, link, self.now())
            if "reference_id" in data and any(l["reference_id"] == data["reference_id"] and l["id"] != link_id
                                              for l in self.links.values()):
                raise bad_request(f"Payment Link with reference_id {data['reference_id']} already exists",
                                  "reference_id")
            link.update(data)
            link["updated_at"] = self.now()
            return json_response(link)

    def cancel_link(self, request: Request, link_id: str) -> Response:
        self._authenticate(request)
        with self.lock:
            link = self._link_or_error(link_id)
            if link["status"] not in ("created", "partially_paid"):
                # Only links that are not yet paid, expired or cancelled can be cancelled.
                raise bad_request(f"Payment link cannot be cancelled as it is already {link['status']}", None)
            now = self.now()
            link.update(status="cancelled", cancelled_at=now, updated_at=now)
            self._emit("payment_link.cancelled", {"payment_link": dict(link)})
            return json_response(link)

    # ---- events ------------------------------------------------------------------------------------
    def _emit(self, event_type: str, entities: dict[str, dict]) -> None:
        evt = objects.event(event_type=event_type, account_id=self.account_id, now=self.now(), entities=entities)
        event_id = self.ids.token(14)
        self.events.append((event_id, evt))
        self.emit_webhook(event_id, event_type, json.dumps(evt, separators=(",", ":")).encode())

    def webhook_signer(self, event_id: str):
        secret = self.sandbox.webhook_secret("razorpay", self.config.razorpay_webhook_secret)

        def sign(body: bytes) -> dict[str, str]:
            # X-Razorpay-Signature: hex HMAC-SHA256 of the raw body with the webhook secret; verified by
            # razorpay/utility/utility.py verify_webhook_signature. X-Razorpay-Event-Id dedupes retries.
            return {"X-Razorpay-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
                    "X-Razorpay-Event-Id": event_id, "User-Agent": "Razorpay-Webhook/v1"}

        return sign

    def callback_signature(self, link: dict, payment_id: str) -> str:
        # "{link_id}|{reference_id}|{status}|{payment_id}" signed with the key secret
        # (razorpay/utility/utility.py verify_payment_link_signature).
        message = f"{link['id']}|{link['reference_id']}|{link['status']}|{payment_id}"
        return hmac.new(self.config.razorpay_key_secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    # ---- paying ------------------------------------------------------------------------------------
    def pay(self, object_id: str, amount_minor: int | None = None, outcome: str = "success") -> dict:
        with self.lock:
            link = self.links.get(object_id)
            if link is None:
                raise KeyError(object_id)
            if link["status"] not in ("created", "partially_paid"):
                raise ValueError(f"payment link is {link['status']}")
            due = link["amount"] - link["amount_paid"]
            amount = due if amount_minor is None else amount_minor
            if amount > due:
                raise ValueError(f"amount exceeds the amount due ({due})")
            if amount < due:
                if not link["accept_partial"]:
                    raise ValueError("this payment link does not accept partial payments")
                if link["amount_paid"] == 0 and amount < (link["first_min_partial_amount"] or rules.MIN_AMOUNT):
                    raise ValueError("the first payment must be at least first_min_partial_amount")
            now = self.now()
            if "order_id" not in link:
                order_id = self.ids.make("order_", 14)
                link["order_id"] = order_id
                self.orders[order_id] = objects.order(order_id=order_id, link=link, now=now)
            order = self.orders[link["order_id"]]
            payment_id = self.ids.make("pay_", 14)
            payment = objects.payment(payment_id=payment_id, link=link, order_id=order["id"], amount=amount, now=now)
            if outcome == "decline":
                return self._decline(link, order, payment)
            self.payments[payment_id] = payment
            link["payments"] = (link["payments"] or []) + [{
                "amount": amount, "created_at": now, "method": payment["method"], "payment_id": payment_id,
                "plink_id": link["id"], "status": "captured", "updated_at": now}]
            link["amount_paid"] += amount
            link["status"] = "paid" if link["amount_paid"] >= link["amount"] else "partially_paid"
            link["updated_at"] = now
            order.update(amount_paid=link["amount_paid"], amount_due=link["amount"] - link["amount_paid"],
                         attempts=order["attempts"] + 1,
                         status="paid" if link["status"] == "paid" else "attempted")
            # payment_link.paid / payment_link.partially_paid carry payment_link, order and payment
            # (https://razorpay.com/docs/webhooks/payloads/payment-links/).
            self._emit(f"payment_link.{link['status']}",
                       {"payment_link": dict(link), "order": dict(order), "payment": dict(payment)})
            return {"payment_link": dict(link), "payment": dict(payment),
                    "callback": self._callback_params(link, payment_id)}

    def _decline(self, link: dict, order: dict, payment: dict) -> dict:
        """The bank refuses: a failed payment on the link's order, `payment.failed` (it carries the payment
        alone, with the link's notes), and the link stays open for another try. Razorpay keeps the
        customer on its page; nothing comes back to callback_url."""
        payment.update(objects.declined())
        self.payments[payment["id"]] = payment
        order["attempts"] += 1
        order["status"] = "attempted"
        self._emit("payment.failed", {"payment": dict(payment)})
        return {"payment_link": dict(link), "payment": dict(payment), "callback": None}

    def _callback_params(self, link: dict, payment_id: str) -> dict[str, str]:
        return {
            "razorpay_payment_id": payment_id,
            "razorpay_payment_link_id": link["id"],
            "razorpay_payment_link_reference_id": link["reference_id"],
            "razorpay_payment_link_status": link["status"],
            "razorpay_signature": self.callback_signature(link, payment_id),
        }

    def expire(self, object_id: str) -> dict:
        with self.lock:
            link = self.links.get(object_id)
            if link is None:
                raise KeyError(object_id)
            return self._expire(link)

    def _expire(self, link: dict) -> dict:
        if link["status"] in ("created", "partially_paid"):
            now = self.now()
            link.update(status="expired", expired_at=now, updated_at=now)
            self._emit("payment_link.expired", {"payment_link": dict(link)})
        return dict(link)

    def sweep(self, now: float) -> None:
        with self.lock:
            for link in self.links.values():
                if link["expire_by"] and link["expire_by"] <= now and link["status"] in ("created", "partially_paid"):
                    self._expire(link)
            self.sweep_refunds(now)

    # ---- hosted page -------------------------------------------------------------------------------
    def hosted_page(self, request: Request, code: str) -> Response:
        with self.lock:
            link = self.links.get(self.short_codes.get(code, ""))
            link = dict(link) if link else None
        if link is None:
            return page("Razorpay", "<h1>Payment link not found</h1>", 404)
        if link["status"] not in ("created", "partially_paid"):
            return page("Razorpay", f"<h1 id='status'>This payment link is {html.escape(link['status'])}.</h1>")
        due = link["amount"] - link["amount_paid"]
        partial = ""
        if link["accept_partial"]:
            partial = (f"<label>Amount to pay (in {link['currency']} minor units) "
                       f"<input id='amount_minor' name='amount_minor' type='number' value='{due}'></label>")
        body = (f"<h1>Razorpay (sandbox)</h1><p>{html.escape(link['description'] or '')}</p>"
                f"<p class='amount' id='amount'>{link['currency']} {_major(due, link['currency'])}</p>"
                f"<form method='post' action='/i/{code}/pay'>{partial}<button id='pay'>Pay</button>"
                "<button id='decline' name='outcome' value='decline'>Pay with a card the bank declines</button></form>"
                "<p class='note'>Test mode: UPI success@razorpay.</p>")
        return page("Razorpay", body)

    def hosted_pay(self, request: Request, code: str) -> Response:
        link_id = self.short_codes.get(code)
        if link_id is None:
            return page("Razorpay", "<h1>Payment link not found</h1>", 404)
        amount = request.form.get("amount_minor")
        outcome = "decline" if request.form.get("outcome") == "decline" else "success"
        try:
            result = self.pay(link_id, int(amount) if amount else None, outcome)
        except ValueError as exc:
            return page("Razorpay", f"<h1>Payment failed</h1><p id='error'>{html.escape(str(exc))}</p>", 400)
        if outcome == "decline":
            return page("Razorpay", f"<h1 id='status'>Payment failed</h1><p id='error'>"
                                    f"{html.escape(result['payment']['error_description'])}</p>"
                                    f"<p><a id='retry' href='/i/{code}'>Try again</a></p>", 200)
        link = result["payment_link"]
        if link.get("callback_url"):
            separator = "&" if "?" in link["callback_url"] else "?"
            return redirect(link["callback_url"] + separator + urlencode(result["callback"]), 303)
        return page("Razorpay", f"<h1 id='status'>Payment successful</h1><p>{result['payment']['id']}</p>")
