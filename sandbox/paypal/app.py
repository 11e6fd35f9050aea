"""PayPal REST routes: OAuth2 client-credentials tokens, Orders v2 (create / get / capture) with
PayPal-Request-Id idempotency, Payments v2 GET /v2/payments/captures/{id}, capture refunds and disputes
(refunds.py), the buyer approval page, webhook signing and POST /v1/notifications/verify-webhook-signature.

Facts: https://developer.paypal.com/docs/api/orders/v2/ and tests/reference/paypal/*.json
(request/response schemas), https://developer.paypal.com/api/rest/authentication/ (tokens),
https://developer.paypal.com/api/rest/reference/idempotency/ (PayPal-Request-Id),
https://developer.paypal.com/api/rest/webhooks/rest/ (signature headers and verification).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hmac
import html
import json
import time
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..gateway import Gateway, GatewayError, json_response, page
from ..ids import UPPER_ALNUM
from . import rules
from .refunds import RefundsMixin
from .rules import Problem, error_body
from .signing import WebhookSigner

# PayPal account ids (payer_id, merchant_id): 13 of [2-9A-HJ-NP-Z] (schema account_id in checkout_orders_v2.json).
ACCOUNT_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
REQUEST_ID_TTL_S = 6 * 3600  # PayPal-Request-Id is remembered for 6 hours (idempotency doc above)
# ... and for 45 days on Payments v2 calls such as captures.refund (payments_payment_v2.json, `paypal_request_id`).
PAYMENTS_REQUEST_ID_TTL_S = 45 * 24 * 3600
ORDER_APPROVAL_TTL_S = 3 * 3600  # an unapproved order lapses after some hours (approximation)


def iso(ts: float | None = None) -> str:
    return dt.datetime.fromtimestamp(ts if ts is not None else time.time(), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PayPalGateway(RefundsMixin, Gateway):
    name = "paypal"
    url_map = Map([
        Rule("/v1/oauth2/token", methods=["POST"], endpoint="token"),
        Rule("/v2/checkout/orders", methods=["POST"], endpoint="create_order"),
        Rule("/v2/checkout/orders/<order_id>", methods=["GET"], endpoint="get_order"),
        Rule("/v2/checkout/orders/<order_id>/capture", methods=["POST"], endpoint="capture_order"),
        Rule("/v2/payments/captures/<capture_id>", methods=["GET"], endpoint="get_capture"),
        Rule("/v2/payments/captures/<capture_id>/refund", methods=["POST"], endpoint="refund_capture_route"),
        Rule("/v2/payments/refunds/<refund_id>", methods=["GET"], endpoint="get_refund"),
        Rule("/v1/customer/disputes/<dispute_id>", methods=["GET"], endpoint="get_dispute"),
        Rule("/v1/notifications/verify-webhook-signature", methods=["POST"], endpoint="verify_signature"),
        Rule("/v1/notifications/certs/<cert_name>", methods=["GET"], endpoint="cert"),
        Rule("/checkoutnow", methods=["GET"], endpoint="approval_page"),
        Rule("/checkoutnow/<action>", methods=["POST"], endpoint="approval_action"),
    ])

    def __init__(self, sandbox):
        self.signer = WebhookSigner()
        self.cert_name = "CERT-360caa42-fca2a594-sandbox"  # fixed, so seeded id sequences do not depend on it
        super().__init__(sandbox)

    def reset(self) -> None:
        with self.lock:
            self.tokens: dict[str, float] = {}
            self.orders: dict[str, dict] = {}
            self.capture_orders: dict[str, str] = {}  # capture id -> the order it was taken on
            self.meta: dict[str, dict] = {}  # per order: urls, style, outcome, created
            self.invoice_ids: set[str] = set()
            self.request_ids: dict[tuple[str, str], dict] = {}
            self.events: list[dict] = []
            self.merchant_id = self.ids.token(13, ACCOUNT_ID_ALPHABET)
            self.reset_money_back()

    def state(self) -> dict:
        with self.lock:
            return {"orders": [copy.deepcopy(o) for o in self.orders.values()],
                    "events": [{"id": e["id"], "type": e["event_type"]} for e in self.events],
                    "cert_url": self.cert_url, **self.money_back_state()}

    @property
    def cert_url(self) -> str:
        return f"{self.base_url}/v1/notifications/certs/{self.cert_name}"

    def _debug_id(self) -> str:
        return self.ids.token(13, "0123456789abcdef")

    # ---- errors ------------------------------------------------------------------------------------
    def error_body(self, status: int) -> dict:
        return error_body(status, self._debug_id())

    def not_found(self, request: Request) -> Response:
        debug_id = self._debug_id()
        return json_response(error_body(404, debug_id), 404, {"Paypal-Debug-Id": debug_id})

    def _fail(self, problem: Problem) -> GatewayError:
        return problem.to_error(self._debug_id())

    # ---- auth --------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        client_id = secret = ""
        if header.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                pass
        if not (hmac.compare_digest(client_id, self.config.paypal_client_id)
                and hmac.compare_digest(secret, self.config.paypal_client_secret)):
            # OAuth errors use the OAuth2 shape, not the REST error shape.
            return json_response({"error": "invalid_client", "error_description": "Client Authentication failed"}, 401)
        if request.form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type",
                                  "error_description": "Grant Type is NULL" if not request.form.get("grant_type")
                                  else "unsupported grant_type"}, 400)
        access_token = "A21AA" + self.ids.token(92, UPPER_ALNUM + "abcdefghijklmnopqrstuvwxyz-_")
        ttl = self.config.paypal_token_ttl_s
        with self.lock:
            self.tokens[access_token] = time.time() + ttl
        return json_response({
            "scope": "https://uri.paypal.com/services/payments/payment/authcapture openid "
                     "https://uri.paypal.com/services/checkout/one-click-with-merchant-issued-token "
                     "https://uri.paypal.com/services/payments/refund https://uri.paypal.com/services/notifications",
            "access_token": access_token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": ttl,
            "nonce": f"{iso()}{self.ids.token(43)}",
        })

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        with self.lock:
            expires = self.tokens.get(token)
        if expires is None or expires < time.time():
            debug_id = self._debug_id()
            raise GatewayError(401, error_body(401, debug_id), {"Paypal-Debug-Id": debug_id})

    @staticmethod
    def _json(request: Request):
        raw = request.get_data(as_text=True)
        rules.check_media_type(request.mimetype, bool(raw))
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise Problem(400, "MALFORMED_REQUEST_JSON")

    def _with_request_id(self, request: Request, run) -> Response:
        """PayPal-Request-Id: a repeated id on the same call returns the stored response, byte for byte."""
        request_id = request.headers.get("PayPal-Request-Id")
        if not request_id:
            return run()
        try:
            rules.check_request_id(request_id)
        except Problem as problem:
            raise self._fail(problem)
        store_key = (request.path, request_id)
        with self.lock:
            now = time.time()
            for key in [k for k, v in self.request_ids.items() if v["at"] < now - _request_id_ttl(k[0])]:
                del self.request_ids[key]
            saved = self.request_ids.get(store_key)
        if saved:
            return Response(saved["body"], status=saved["status"], content_type="application/json",
                            headers={"Paypal-Debug-Id": self._debug_id()})
        response = run()
        if response.status_code < 500:
            with self.lock:
                self.request_ids[store_key] = {"body": response.get_data(), "status": response.status_code,
                                               "at": time.time()}
        return response

    # ---- orders ------------------------------------------------------------------------------------
    def create_order(self, request: Request) -> Response:
        self._authenticate(request)
        return self._with_request_id(request, lambda: self._create_order(request))

    def _create_order(self, request: Request) -> Response:
        try:
            data = self._json(request)
            urls = rules.check_order_request(data)
        except Problem as problem:
            raise self._fail(problem)
        with self.lock:
            for index, unit in enumerate(data["purchase_units"]):
                if unit.get("invoice_id") in self.invoice_ids:
                    raise self._fail(Problem(422, "DUPLICATE_INVOICE_ID", f"/purchase_units/{index}/invoice_id",
                                             unit["invoice_id"]))
            order_id = self.ids.token(17, UPPER_ALNUM)
            now = time.time()
            units = []
            for unit in data["purchase_units"]:
                out = {"reference_id": unit.get("reference_id", "default"),
                       "amount": {"currency_code": unit["amount"]["currency_code"], "value": unit["amount"]["value"]},
                       "payee": {"email_address": "merchant@hisabpro.example", "merchant_id": self.merchant_id}}
                for key in ("description", "custom_id", "invoice_id", "soft_descriptor"):
                    if key in unit:
                        out[key] = unit[key]
                units.append(out)
                if "invoice_id" in unit:
                    self.invoice_ids.add(unit["invoice_id"])
            # experience_context -> PAYER_ACTION_REQUIRED + payer-action link; application_context (or nothing)
            # -> CREATED + approve link (Orders v2 create, docs above).
            modern = urls["style"] == "payment_source"
            order = {
                "id": order_id,
                "intent": data["intent"],
                "status": "PAYER_ACTION_REQUIRED" if modern else "CREATED",
                "purchase_units": units,
                "create_time": iso(now),
                "links": self._links(order_id, "PAYER_ACTION_REQUIRED" if modern else "CREATED", modern),
            }
            if modern:
                order["payment_source"] = {"paypal": {}}
            self.orders[order_id] = order
            self.meta[order_id] = {**urls, "created": now, "outcome": "success"}
            full = copy.deepcopy(order)
        prefer = request.headers.get("Prefer", "return=minimal")
        if "return=representation" in prefer:
            body = full
        else:
            body = {k: full[k] for k in ("id", "status", "links")}
            if "payment_source" in full:
                body["payment_source"] = full["payment_source"]
        return json_response(body, 201, {"Paypal-Debug-Id": self._debug_id()})

    def _links(self, order_id: str, status: str, modern: bool) -> list[dict]:
        api = f"{self.base_url}/v2/checkout/orders/{order_id}"
        links = [{"href": api, "rel": "self", "method": "GET"}]
        if status in ("CREATED", "PAYER_ACTION_REQUIRED"):
            approval = f"{self.base_url}/checkoutnow?token={order_id}"
            links.append({"href": approval, "rel": "payer-action" if modern else "approve", "method": "GET"})
            if not modern:
                links.append({"href": api, "rel": "update", "method": "PATCH"})
        if status in ("CREATED", "APPROVED") and not modern:
            links.append({"href": f"{api}/capture", "rel": "capture", "method": "POST"})
        elif status == "APPROVED":
            links.append({"href": f"{api}/capture", "rel": "capture", "method": "POST"})
        return links

    def _order_or_404(self, order_id: str) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            raise self._fail(Problem(404, "INVALID_RESOURCE_ID", None))
        return order

    def get_order(self, request: Request, order_id: str) -> Response:
        self._authenticate(request)
        with self.lock:
            order = copy.deepcopy(self._order_or_404(order_id))
        return json_response(order, 200, {"Paypal-Debug-Id": self._debug_id()})

    def capture_order(self, request: Request, order_id: str) -> Response:
        self._authenticate(request)
        return self._with_request_id(request, lambda: self._capture(request, order_id))

    def _capture(self, request: Request, order_id: str) -> Response:
        try:
            self._json(request)
        except Problem as problem:
            raise self._fail(problem)
        with self.lock:
            order = self._order_or_404(order_id)
            return json_response(self._capture_locked(order), 201, {"Paypal-Debug-Id": self._debug_id()})

    def _capture_locked(self, order: dict) -> dict:
        if order["status"] == "COMPLETED":
            raise self._fail(Problem(422, "ORDER_ALREADY_CAPTURED", None))
        if order["status"] == "VOIDED":
            raise self._fail(Problem(422, "ORDER_EXPIRED", None))
        if order["status"] != "APPROVED":
            raise self._fail(Problem(422, "ORDER_NOT_APPROVED", None))
        if order["intent"] != "CAPTURE":
            raise self._fail(Problem(422, "ACTION_DOES_NOT_MATCH_INTENT", None))
        meta = self.meta[order["id"]]
        denied = meta["outcome"] == "deny"
        now = iso()
        captures = []
        for unit in order["purchase_units"]:
            currency, gross = unit["amount"]["currency_code"], rules.to_minor(unit["amount"]["value"],
                                                                              unit["amount"]["currency_code"])
            fee = gross * 349 // 10000 + 49  # PayPal's standard rate, 3.49 % + fixed fee, in minor units
            capture_id = self.ids.token(17, UPPER_ALNUM)
            capture_api = f"{self.base_url}/v2/payments/captures/{capture_id}"
            capture = {
                "id": capture_id,
                "status": "DECLINED" if denied else "COMPLETED",
                "amount": dict(unit["amount"]),
                "final_capture": True,
                "seller_protection": {"status": "ELIGIBLE",
                                      "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
                "seller_receivable_breakdown": {
                    "gross_amount": dict(unit["amount"]),
                    "paypal_fee": {"currency_code": currency, "value": rules.format_value(fee, currency)},
                    "net_amount": {"currency_code": currency, "value": rules.format_value(gross - fee, currency)},
                },
                "links": [{"href": capture_api, "rel": "self", "method": "GET"},
                          {"href": f"{capture_api}/refund", "rel": "refund", "method": "POST"},
                          {"href": f"{self.base_url}/v2/checkout/orders/{order['id']}", "rel": "up", "method": "GET"}],
                "create_time": now,
                "update_time": now,
            }
            for key in ("invoice_id", "custom_id"):
                if key in unit:
                    capture[key] = unit[key]
            unit["payments"] = {"captures": [capture]}
            captures.append(capture)
            self.capture_orders[capture_id] = order["id"]
        order["status"] = "COMPLETED"
        order["update_time"] = now
        order["links"] = [{"href": f"{self.base_url}/v2/checkout/orders/{order['id']}", "rel": "self", "method": "GET"}]
        for capture in captures:
            resource = copy.deepcopy(capture)
            resource["supplementary_data"] = {"related_ids": {"order_id": order["id"]}}
            money = f"{capture['amount']['value']} {capture['amount']['currency_code']}"
            if denied:
                self._emit("PAYMENT.CAPTURE.DENIED", "capture", resource, f"A payment capture for {money} was denied")
            else:
                self._emit("PAYMENT.CAPTURE.COMPLETED", "capture", resource, f"Payment completed for {money}")
        return copy.deepcopy(order)

    def get_capture(self, request: Request, capture_id: str) -> Response:
        """Payments v2 `captures.get` (payments_payment_v2.json, schema `capture-2`): the capture as it stands,
        with the order it belongs to in supplementary_data.related_ids and the payee."""
        self._authenticate(request)
        with self.lock:
            order_id = self.capture_orders.get(capture_id)
            if order_id is None:
                raise self._fail(Problem(404, "INVALID_RESOURCE_ID", None))
            order = self.orders[order_id]
            for unit in order["purchase_units"]:
                for capture in unit.get("payments", {}).get("captures", []):
                    if capture["id"] == capture_id:
                        answer = copy.deepcopy(capture)
                        answer["supplementary_data"] = {"related_ids": {"order_id": order_id}}
                        answer["payee"] = copy.deepcopy(unit["payee"])
        return json_response(answer, 200, {"Paypal-Debug-Id": self._debug_id()})

    # ---- buyer approval ----------------------------------------------------------------------------
    def pay(self, object_id: str, amount_minor: int | None = None, outcome: str = "success",
            capture: bool = False) -> dict:
        with self.lock:
            order = self.orders.get(object_id)
            if order is None:
                raise KeyError(object_id)
            unit = order["purchase_units"][0]["amount"]
            if amount_minor is not None and amount_minor != rules.to_minor(unit["value"], unit["currency_code"]):
                raise ValueError("a PayPal order is approved for its full amount")
            self._approve_locked(order, outcome)
            result = copy.deepcopy(order)
            if capture:
                try:
                    result = self._capture_locked(order)
                except GatewayError as exc:
                    raise ValueError(exc.body["details"][0]["issue"])
        meta = self.meta[object_id]
        result_with_redirect = dict(result)
        result_with_redirect["redirect"] = self._return_redirect(object_id, meta)
        return result_with_redirect

    def _approve_locked(self, order: dict, outcome: str) -> None:
        if order["status"] not in ("CREATED", "PAYER_ACTION_REQUIRED"):
            raise ValueError(f"order is {order['status']}")
        meta = self.meta[order["id"]]
        meta["outcome"] = outcome
        payer_id = self.ids.token(13, ACCOUNT_ID_ALPHABET)
        meta["payer_id"] = payer_id
        name = {"given_name": "Sandbox", "surname": "Buyer"}
        email = "buyer@example.com"
        order["status"] = "APPROVED"
        order["payer"] = {"name": name, "email_address": email, "payer_id": payer_id,
                          "address": {"country_code": "US"}}
        if "payment_source" in order:
            order["payment_source"] = {"paypal": {"email_address": email, "account_id": payer_id,
                                                  "account_status": "VERIFIED", "name": name,
                                                  "address": {"country_code": "US"}}}
        order["update_time"] = iso()
        order["links"] = self._links(order["id"], "APPROVED", meta["style"] == "payment_source")
        self._emit("CHECKOUT.ORDER.APPROVED", "checkout-order", copy.deepcopy(order),
                   "An order has been approved by buyer")

    def _return_redirect(self, order_id: str, meta: dict) -> str | None:
        if not meta.get("return_url"):
            return None
        separator = "&" if "?" in meta["return_url"] else "?"
        return f"{meta['return_url']}{separator}{urlencode({'token': order_id, 'PayerID': meta['payer_id']})}"

    def expire(self, object_id: str) -> dict:
        with self.lock:
            order = self.orders.get(object_id)
            if order is None:
                raise KeyError(object_id)
            if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED", "APPROVED"):
                order["status"] = "VOIDED"
                order["update_time"] = iso()
                order["links"] = self._links(object_id, "VOIDED", False)
            return copy.deepcopy(order)

    def sweep(self, now: float) -> None:
        with self.lock:
            for order_id, order in self.orders.items():
                if (order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED")
                        and self.meta[order_id]["created"] + ORDER_APPROVAL_TTL_S <= now):
                    order["status"] = "VOIDED"
            self.sweep_refunds(now)

    def approval_page(self, request: Request) -> Response:
        order_id = request.args.get("token", "")
        with self.lock:
            order = copy.deepcopy(self.orders.get(order_id))
        if order is None:
            return page("PayPal", "<h1>This checkout session is not valid</h1>", 404)
        if order["status"] not in ("CREATED", "PAYER_ACTION_REQUIRED"):
            return page("PayPal", f"<h1 id='status'>This order is {html.escape(order['status'].lower())}.</h1>")
        amount = order["purchase_units"][0]["amount"]
        token = html.escape(order_id)
        body = (f"<h1>PayPal (sandbox)</h1><p>Pay with PayPal as buyer@example.com</p>"
                f"<p class='amount' id='amount'>{html.escape(amount['value'])} {html.escape(amount['currency_code'])}</p>"
                f"<form method='post' action='/checkoutnow/approve'><input type='hidden' name='token' value='{token}'>"
                "<button id='pay'>Pay Now</button></form>"
                f"<form method='post' action='/checkoutnow/deny'><input type='hidden' name='token' value='{token}'>"
                "<button id='deny'>Pay (capture will be denied)</button></form>"
                f"<form method='post' action='/checkoutnow/cancel'><input type='hidden' name='token' value='{token}'>"
                "<button id='cancel'>Cancel and return to merchant</button></form>")
        return page("PayPal", body)

    def approval_action(self, request: Request, action: str) -> Response:
        order_id = request.form.get("token", "")
        with self.lock:
            meta = self.meta.get(order_id)
        if meta is None or action not in ("approve", "deny", "cancel"):
            return page("PayPal", "<h1>This checkout session is not valid</h1>", 404)
        if action == "cancel":
            if meta.get("cancel_url"):
                separator = "&" if "?" in meta["cancel_url"] else "?"
                return redirect(f"{meta['cancel_url']}{separator}{urlencode({'token': order_id})}", 303)
            return page("PayPal", "<h1 id='status'>You cancelled this payment.</h1>")
        try:
            result = self.pay(order_id, outcome="deny" if action == "deny" else "success")
        except ValueError as exc:
            return page("PayPal", f"<h1 id='status'>{html.escape(str(exc))}</h1>", 409)
        if result["redirect"]:
            return redirect(result["redirect"], 303)
        return page("PayPal", "<h1 id='status'>Approved. You can close this window.</h1>")

    # ---- webhooks ----------------------------------------------------------------------------------
    def _emit(self, event_type: str, resource_type: str, resource: dict, summary: str) -> None:
        event_id = f"WH-{self.ids.token(17, UPPER_ALNUM)}-{self.ids.token(17, UPPER_ALNUM)}"
        api = f"{self.base_url}/v1/notifications/webhooks-events/{event_id}"
        event = {
            "id": event_id,
            "event_version": "1.0",
            "create_time": iso(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": summary,
            "resource": resource,
            "links": [{"href": api, "rel": "self", "method": "GET"},
                      {"href": f"{api}/resend", "rel": "resend", "method": "POST"}],
        }
        self.events.append(event)
        self.emit_webhook(event_id, event_type, json.dumps(event, separators=(",", ":")).encode())

    def webhook_signer(self, event_id: str):
        webhook_id = self.sandbox.webhook_secret("paypal", self.config.paypal_webhook_id)

        def sign(body: bytes) -> dict[str, str]:
            transmission_id = self.ids.uuid()
            transmission_time = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            return {
                "PAYPAL-TRANSMISSION-ID": transmission_id,
                "PAYPAL-TRANSMISSION-TIME": transmission_time,
                "PAYPAL-TRANSMISSION-SIG": self.signer.sign(transmission_id, transmission_time, webhook_id, body),
                "PAYPAL-CERT-URL": self.cert_url,
                "PAYPAL-AUTH-ALGO": "SHA256withRSA",
                "PAYPAL-AUTH-VERSION": "v2",
                "User-Agent": "PayPal/AUHD-214.0-58843224",
            }

        return sign

    def cert(self, request: Request, cert_name: str) -> Response:
        if cert_name != self.cert_name:
            return self.not_found(request)
        return Response(self.signer.pem, content_type="application/x-pem-file")

    def verify_signature(self, request: Request) -> Response:
        """Checks a delivery the way PayPal's postback does; `webhook_event` must be the delivered body,
        spliced in unchanged, because the CRC covers the exact bytes."""
        self._authenticate(request)
        raw = request.get_data(as_text=True)
        try:
            rules.check_media_type(request.mimetype, bool(raw))
        except Problem as problem:
            raise self._fail(problem)
        try:
            data = json.loads(raw)
            raw_event = raw_member(raw, "webhook_event")
        except ValueError:
            raise self._fail(Problem(400, "MALFORMED_REQUEST_JSON"))
        required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time",
                    "webhook_id", "webhook_event")
        for key in required:
            if key not in data:
                debug_id = self._debug_id()
                body = {"name": "VALIDATION_ERROR", "message": "Invalid request - see details", "debug_id": debug_id,
                        "details": [{"field": key, "location": "body", "issue": "Required field is missing"}],
                        "links": []}
                raise GatewayError(400, body, {"Paypal-Debug-Id": debug_id})
        webhook_id = self.sandbox.webhook_secret("paypal", self.config.paypal_webhook_id)
        ok = (data["auth_algo"] == "SHA256withRSA" and data["cert_url"] == self.cert_url
              and data["webhook_id"] == webhook_id
              and self.signer.verify(str(data["transmission_sig"]), str(data["transmission_id"]),
                                     str(data["transmission_time"]), webhook_id, raw_event.encode()))
        return json_response({"verification_status": "SUCCESS" if ok else "FAILURE"})


def _request_id_ttl(path: str) -> int:
    return PAYMENTS_REQUEST_ID_TTL_S if path.startswith("/v2/payments/") else REQUEST_ID_TTL_S


def raw_member(document: str, key: str) -> str:
    """The exact text of a top-level member's value in a JSON object (no re-encoding)."""
    decoder = json.JSONDecoder()
    index = _skip(document, 0)
    if document[index:index + 1] != "{":
        raise ValueError("not an object")
    index = _skip(document, index + 1)
    while index < len(document) and document[index] != "}":
        name, index = decoder.raw_decode(document, index)
        index = _skip(document, index)
        if document[index] != ":":
            raise ValueError("expected ':'")
        start = _skip(document, index + 1)
        _, end = decoder.raw_decode(document, start)
        if name == key:
            return document[start:end]
        index = _skip(document, end)
        if document[index:index + 1] == ",":
            index = _skip(document, index + 1)
    raise ValueError(f"missing {key}")


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index
