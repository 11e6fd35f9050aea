"""Stripe API routes, idempotency, hosted Checkout page and webhook signing.

Wire format checked against stripe-python 16.1.0: `StripeClient(key, base_addresses={"api": base})`
sends `POST /v1/checkout/sessions` form-encoded with `Authorization: Bearer <key>`, `Stripe-Version` and,
when given, `Idempotency-Key`; errors are mapped by HTTP status in stripe/_api_requestor.py
(`specific_v1_api_error`): 400/404 -> InvalidRequestError (IdempotencyError when type is
`idempotency_error`), 401 -> AuthenticationError, 429 -> RateLimitError, other -> APIError.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import time
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..config import STRIPE_API_VERSION
from ..gateway import Gateway, GatewayError, page
from . import objects, rules
from .refunds import RefundsMixin
from .params import (AnyHash, Bool, Decimal, Int, List, Metadata, Obj, OrEmpty, Str, check_params, decode_form,
                     invalid_request)

# Parameters of POST /v1/checkout/sessions the sandbox understands (https://docs.stripe.com/api/checkout/sessions/create;
# names and choices as in stripe-python 16.1.0's generated stripe/params/checkout/_session_create_params.py). Anything
# else is refused as unknown, as Stripe does, so a misspelt parameter fails here before it fails at Stripe.
PRODUCT_DATA = Obj({"name": Str(), "description": Str(), "images": List(Str()), "metadata": Metadata(),
                    "tax_code": Str(), "unit_label": Str(max_len=12)}, required=("name",))
PRICE_DATA = Obj({"currency": Str(), "unit_amount": Int(), "unit_amount_decimal": Decimal(),
                  "product_data": PRODUCT_DATA, "product": Str(),
                  "tax_behavior": Str(choices=("exclusive", "inclusive", "unspecified"))},
                 required=("currency",))
LINE_ITEM = Obj({"price_data": PRICE_DATA, "price": Str(), "quantity": Int(), "metadata": Metadata(),
                 "adjustable_quantity": Obj({"enabled": Bool(), "minimum": Int(), "maximum": Int()},
                                            required=("enabled",))})
UI_MODES = ("elements", "embedded_page", "form", "hosted_page")  # hosted_page is the default
LIABILITY = Obj({"account": Str(), "type": Str(choices=("account", "self"))}, required=("type",))
CUSTOM_TEXT = OrEmpty(Obj({"message": Str(max_len=1200)}, required=("message",)))
# Options per payment method type; the sandbox only takes cards, so it keeps these without reading them.
PAYMENT_METHOD_OPTIONS = Obj({name: AnyHash() for name in (
    "acss_debit", "affirm", "afterpay_clearpay", "alipay", "alma", "amazon_pay", "au_becs_debit", "bacs_debit",
    "bancontact", "billie", "blik", "boleto", "card", "cashapp", "crypto", "customer_balance", "demo_pay", "eps",
    "fpx", "giropay", "grabpay", "ideal", "kakao_pay", "klarna", "konbini", "kr_card", "link", "mobilepay",
    "multibanco", "naver_pay", "oxxo", "p24", "pay_by_bank", "payco", "paynow", "paypal", "payto", "pix",
    "revolut_pay", "samsung_pay", "satispay", "scalapay", "sepa_debit", "sequra", "sofort", "sunbit", "swish",
    "twint", "upi", "us_bank_account", "wechat_pay")})
SESSION_CREATE = Obj({
    "mode": Str(choices=("payment", "setup", "subscription")),
    "line_items": List(LINE_ITEM),
    "success_url": Str(), "cancel_url": Str(), "return_url": Str(),
    "client_reference_id": Str(max_len=200),
    "metadata": Metadata(),
    "expires_at": Int(),
    "customer": Str(), "customer_email": Str(),
    "customer_creation": Str(choices=("always", "if_required")),
    "currency": Str(),
    "locale": Str(),
    "payment_method_types": List(Str()),
    "submit_type": Str(choices=("auto", "book", "donate", "pay", "subscribe")),
    "billing_address_collection": Str(choices=("auto", "required")),
    "phone_number_collection": Obj({"enabled": Bool()}, required=("enabled",)),
    "allow_promotion_codes": Bool(),
    "ui_mode": Str(choices=UI_MODES),
    "payment_intent_data": Obj({"description": Str(), "metadata": Metadata(), "receipt_email": Str(),
                                "statement_descriptor": Str(max_len=22), "statement_descriptor_suffix": Str(max_len=22),
                                "capture_method": Str(choices=("automatic", "automatic_async", "manual"))}),
    "automatic_tax": Obj({"enabled": Bool(), "liability": LIABILITY}, required=("enabled",)),
    "invoice_creation": Obj({"enabled": Bool(), "invoice_data": Obj({
        "account_tax_ids": List(Str()),
        "custom_fields": List(Obj({"name": Str(max_len=40), "value": Str(max_len=140)}, required=("name", "value"))),
        "description": Str(max_len=1500), "footer": Str(max_len=5000), "issuer": LIABILITY, "metadata": Metadata(),
        "rendering_options": OrEmpty(Obj({"amount_tax_display": Str(choices=("exclude_tax", "include_inclusive_tax")),
                                          "template": Str()})),
    })}, required=("enabled",)),
    "payment_method_options": PAYMENT_METHOD_OPTIONS,
    "custom_text": Obj({"after_submit": CUSTOM_TEXT, "shipping_address": CUSTOM_TEXT, "submit": CUSTOM_TEXT,
                        "terms_of_service_acceptance": CUSTOM_TEXT}),
    "after_expiration": Obj({"recovery": Obj({"allow_promotion_codes": Bool(), "enabled": Bool()},
                                             required=("enabled",))}),
    "consent_collection": Obj({"payment_method_reuse_agreement": Obj({"position": Str(choices=("auto", "hidden"))},
                                                                     required=("position",)),
                               "promotions": Str(choices=("auto", "none")),
                               "terms_of_service": Str(choices=("none", "required"))}),
    "expand": List(Str()),
})
EXPAND_ONLY = Obj({"expand": List(Str())})
CREATED_FILTER = Obj({"gt": Int(), "gte": Int(), "lt": Int(), "lte": Int()})
PAGINATION = {"limit": Int(), "starting_after": Str(), "ending_before": Str(), "expand": List(Str())}
SESSION_LIST = Obj({**PAGINATION, "status": Str(choices=("complete", "expired", "open")), "payment_intent": Str(),
                    "customer": Str(), "payment_link": Str(), "created": CREATED_FILTER})
EVENT_LIST = Obj({**PAGINATION, "type": Str(), "types": List(Str()), "created": CREATED_FILTER,
                  "delivery_success": Bool()})

MIN_EXPIRY_S = 30 * 60  # expires_at: 30 minutes to 24 hours after creation, default 24 h
MAX_EXPIRY_S = 24 * 3600
IDEMPOTENCY_TTL_S = 24 * 3600  # keys may be pruned after 24 h (https://docs.stripe.com/api/idempotent_requests)


class StripeGateway(RefundsMixin, Gateway):
    name = "stripe"
    url_map = Map([
        Rule("/v1/checkout/sessions", methods=["POST"], endpoint="create_session"),
        Rule("/v1/checkout/sessions", methods=["GET"], endpoint="list_sessions"),
        Rule("/v1/checkout/sessions/<sid>", methods=["GET"], endpoint="retrieve_session"),
        Rule("/v1/checkout/sessions/<sid>/expire", methods=["POST"], endpoint="expire_session"),
        Rule("/v1/checkout/sessions/<sid>/line_items", methods=["GET"], endpoint="session_line_items"),
        Rule("/v1/events", methods=["GET"], endpoint="list_events"),
        Rule("/v1/events/<eid>", methods=["GET"], endpoint="retrieve_event"),
        Rule("/v1/payment_intents/<pid>", methods=["GET"], endpoint="retrieve_payment_intent"),
        Rule("/v1/charges/<cid>", methods=["GET"], endpoint="retrieve_charge"),
        Rule("/v1/refunds", methods=["POST"], endpoint="create_refund"),
        Rule("/v1/refunds", methods=["GET"], endpoint="list_refunds"),
        Rule("/v1/refunds/<rid>", methods=["GET"], endpoint="retrieve_refund"),
        Rule("/v1/disputes", methods=["GET"], endpoint="list_disputes"),
        Rule("/v1/disputes/<did>", methods=["GET"], endpoint="retrieve_dispute"),
        Rule("/c/pay/<sid>", methods=["GET"], endpoint="hosted_page"),
        Rule("/c/pay/<sid>/<action>", methods=["POST"], endpoint="hosted_action"),
    ])

    def reset(self) -> None:
        with self.lock:
            self.sessions: dict[str, dict] = {}
            self.line_items: dict[str, list[dict]] = {}
            self.payment_intents: dict[str, dict] = {}
            self.events: list[dict] = []
            self.idempotency: dict[tuple[str, str], dict] = {}
            self._in_flight: set[tuple[str, str]] = set()
            self._pi_data: dict[str, dict] = {}  # payment_intent_data per session, applied when paid
            self.reset_money_back()

    def state(self) -> dict:
        with self.lock:
            return {
                "sessions": [dict(s) for s in self.sessions.values()],
                "payment_intents": [dict(p) for p in self.payment_intents.values()],
                "events": [{"id": e["id"], "type": e["type"]} for e in self.events],
                **self.money_back_state(),
            }

    # ---- errors ------------------------------------------------------------------------------------
    def error_body(self, status: int) -> dict:
        if status == 429:
            return {"error": {"message": "Too many requests hit the API too quickly. We recommend an exponential "
                                         "backoff of your requests.", "type": "invalid_request_error"}}
        return {"error": {"message": "An unknown error occurred. Please try again later.", "type": "api_error"}}

    def not_found(self, request: Request) -> Response:
        return self._json(404, {"error": {
            "message": f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                       "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            "type": "invalid_request_error"}}, request)

    def api_error(self, exc: GatewayError) -> Response:
        return self._json(exc.status, exc.body, None, exc.headers)

    # ---- HTTP plumbing -----------------------------------------------------------------------------
    def _json(self, status: int, body: Any, request: Request | None, extra: dict | None = None) -> Response:
        headers = {"Request-Id": self.ids.make("req_", 14),
                   "Stripe-Version": (request.headers.get("Stripe-Version") if request else None) or STRIPE_API_VERSION}
        headers.update(extra or {})
        # Stripe pretty-prints its JSON.
        return Response(json.dumps(body, indent=2), status=status, headers=headers, content_type="application/json")

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        key = ""
        if header.startswith("Bearer "):
            key = header[7:].strip()
        elif header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
            except ValueError:
                key = ""
        if not key:
            raise GatewayError(401, {"error": {
                "message": "You did not provide an API key. You need to provide your API key in the Authorization "
                           "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                           "https://stripe.com/docs/api#authentication for details, or we can help at "
                           "https://support.stripe.com/.",
                "type": "invalid_request_error"}})
        if not hmac.compare_digest(key, self.config.stripe_secret_key):
            raise GatewayError(401, {"error": {
                "message": f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}",
                "type": "invalid_request_error"}})
        return key

    def _params(self, request: Request) -> dict:
        raw = request.get_data(as_text=True) if request.method == "POST" else request.query_string.decode()
        return decode_form(raw)

    def _idempotent(self, request: Request, api_key: str, params: dict, handler) -> Response:
        """Run a POST once per Idempotency-Key: same key + same params replays the saved response byte for byte;
        different params -> 400 idempotency_error. Validation failures are not saved (Stripe saves results
        only once the endpoint starts executing)."""
        key = request.headers.get("Idempotency-Key")
        if not key:
            return handler(None)
        if len(key) > 255:
            raise invalid_request("Idempotency keys can be up to 255 characters long.", None)
        store_key = (api_key, key)
        fingerprint = (request.method, request.path, json.dumps(params, sort_keys=True))
        with self.lock:
            self._prune_idempotency()
            saved = self.idempotency.get(store_key)
            if saved is None and store_key in self._in_flight:
                raise GatewayError(409, {"error": {
                    "message": "There is currently another in-progress request using this Idempotent Key (that "
                               "probably means you submitted twice, and the other request is still going through): "
                               f"{key}. Please try again later.", "type": "idempotency_error"}})
            if saved is None:
                self._in_flight.add(store_key)
        if saved is not None:
            if saved["fingerprint"][:2] != fingerprint[:2]:
                raise GatewayError(400, {"error": {
                    "message": "Keys for idempotent requests can only be used for the same endpoint they were first "
                               f"used for ('{saved['fingerprint'][0]} {saved['fingerprint'][1]}' vs "
                               f"'{fingerprint[0]} {fingerprint[1]}'). Try using a key other than '{key}' if you "
                               "meant to execute a different request.", "type": "idempotency_error"}})
            if saved["fingerprint"] != fingerprint:
                raise GatewayError(400, {"error": {
                    "message": "Keys for idempotent requests can only be used with the same parameters they were "
                               f"first used with. Try using a key other than '{key}' if you meant to execute a "
                               "different request.", "type": "idempotency_error"}})
            headers = {"Idempotency-Key": key, "Idempotent-Replayed": "true",
                       "Original-Request": saved["request_id"]}
            response = Response(saved["body"], status=saved["status"], content_type="application/json",
                                headers={"Request-Id": self.ids.make("req_", 14), "Stripe-Version":
                                         saved["stripe_version"], **headers})
            return response
        try:
            response = handler(key)
        except GatewayError as exc:
            if not exc.body.get("_executed"):
                raise
            exc.body.pop("_executed")
            response = self.api_error(exc)
        finally:
            with self.lock:
                self._in_flight.discard(store_key)
        response.headers["Idempotency-Key"] = key
        with self.lock:
            self.idempotency[store_key] = {
                "fingerprint": fingerprint, "status": response.status_code, "body": response.get_data(),
                "request_id": response.headers["Request-Id"], "stripe_version": response.headers["Stripe-Version"],
                "created": time.time(),
            }
        return response

    def _prune_idempotency(self) -> None:
        cutoff = time.time() - IDEMPOTENCY_TTL_S
        for k in [k for k, v in self.idempotency.items() if v["created"] < cutoff]:
            del self.idempotency[k]

    # ---- Checkout Sessions -------------------------------------------------------------------------
    def create_session(self, request: Request) -> Response:
        api_key = self._authenticate(request)
        raw = self._params(request)
        return self._idempotent(request, api_key, raw, lambda key: self._create_session(request, raw, key))

    def _create_session(self, request: Request, raw: dict, idempotency_key: str | None) -> Response:
        params = check_params(SESSION_CREATE, raw)
        mode = params.get("mode")
        if mode is None:
            raise invalid_request("Missing required param: mode.", "mode", "parameter_missing")
        if mode != "payment":
            raise invalid_request("The sandbox supports mode=payment only.", "mode")
        if params.get("ui_mode", "hosted_page") != "hosted_page":
            raise invalid_request("The sandbox supports ui_mode=hosted_page only (Stripe's hosted Checkout page).",
                                  "ui_mode")
        items = params.get("line_items") or []
        if not items:
            raise invalid_request("You must specify either `line_items` when `mode` is `payment`.", "line_items",
                                  "parameter_missing")
        currency, total, unit_amounts = None, 0, []
        for index, item in enumerate(items):
            prefix = f"line_items[{index}]"
            if "price" in item:
                raise invalid_request(f"No such price: '{item['price']}'", f"{prefix}[price]", "resource_missing")
            if "price_data" not in item:
                raise invalid_request(f"Missing required param: {prefix}[price_data].", f"{prefix}[price_data]",
                                      "parameter_missing")
            if "quantity" not in item:
                raise invalid_request(f"Missing required param: {prefix}[quantity].", f"{prefix}[quantity]",
                                      "parameter_missing")
            price = item["price_data"]
            unit_amount = self._unit_amount(price, f"{prefix}[price_data]")
            if "product_data" not in price and "product" not in price:
                raise invalid_request(f"Missing required param: {prefix}[price_data][product_data].",
                                      f"{prefix}[price_data][product_data]", "parameter_missing")
            if "product" in price:
                raise invalid_request(f"No such product: '{price['product']}'", f"{prefix}[price_data][product]",
                                      "resource_missing")
            item_currency = rules.check_currency(price["currency"], f"{prefix}[price_data][currency]")
            rules.check_unit_amount(unit_amount, item_currency, f"{prefix}[price_data][unit_amount]")
            if item["quantity"] < 1:
                raise invalid_request("This value must be greater than or equal to 1.", f"{prefix}[quantity]")
            if currency is not None and item_currency != currency:
                raise invalid_request("All line items must have the same currency.", f"{prefix}[price_data][currency]")
            currency = item_currency
            total += unit_amount * item["quantity"]
            unit_amounts.append(unit_amount)
        rules.check_total(total, currency)

        now = self.now()
        expires_at = params.get("expires_at", now + MAX_EXPIRY_S)
        if expires_at < now + MIN_EXPIRY_S:
            raise invalid_request("The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
                                  "creation.", "expires_at")
        if expires_at > now + MAX_EXPIRY_S:
            raise invalid_request("The `expires_at` timestamp must be less than 24 hours from Checkout Session "
                                  "creation.", "expires_at")

        session_id = self.ids.make("cs_test_a1", 56)
        session = objects.checkout_session(session_id=session_id, created=now, expires_at=expires_at,
                                           url=f"{self.base_url}/c/pay/{session_id}", params=params,
                                           currency=currency, amount_total=total)
        # Each price_data makes a one-time Price (and its Product), as at Stripe.
        items_out = [objects.line_item(item_id=self.ids.make("li_", 24), price_id=self.ids.make("price_", 24),
                                       product_id=self.ids.make("prod_", 14), created=now, params=item,
                                       unit_amount=unit_amount)
                     for item, unit_amount in zip(items, unit_amounts)]
        with self.lock:
            self.sessions[session_id] = session
            self.line_items[session_id] = items_out
            self._pi_data[session_id] = params.get("payment_intent_data", {})
            body = self._expanded(dict(session), params.get("expand", []))
        return self._json(200, body, request)

    @staticmethod
    def _unit_amount(price_data: dict, param: str) -> int:
        """`unit_amount`, or `unit_amount_decimal` when it is a whole number of minor units (Stripe takes
        fractions of a minor unit there; the sandbox's charges are whole, so it refuses those)."""
        if "unit_amount" in price_data and "unit_amount_decimal" in price_data:
            raise invalid_request("You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
                                  f"{param}[unit_amount]")
        if "unit_amount" in price_data:
            return price_data["unit_amount"]
        decimal = price_data.get("unit_amount_decimal")
        if decimal is None:
            raise invalid_request(f"Missing required param: {param}[unit_amount].", f"{param}[unit_amount]",
                                  "parameter_missing")
        whole, _, fraction = decimal.partition(".")
        if fraction.strip("0"):
            raise invalid_request("The sandbox supports whole numbers of minor units in unit_amount_decimal only.",
                                  f"{param}[unit_amount_decimal]")
        return int(whole)

    def _session_or_404(self, sid: str) -> dict:
        session = self.sessions.get(sid)
        if session is None:
            raise invalid_request(f"No such checkout.session: '{sid}'", "session", "resource_missing", status=404)
        return session

    def retrieve_session(self, request: Request, sid: str) -> Response:
        self._authenticate(request)
        params = check_params(EXPAND_ONLY, self._params(request))
        with self.lock:
            body = self._expanded(dict(self._session_or_404(sid)), params.get("expand", []))
        return self._json(200, body, request)

    def _expanded(self, session: dict, expand: list[str]) -> dict:
        """`expand[]=line_items` and `expand[]=payment_intent` (https://docs.stripe.com/expand)."""
        for field in expand:
            if field == "line_items":
                session["line_items"] = objects.list_object(f"/v1/checkout/sessions/{session['id']}/line_items",
                                                            list(self.line_items.get(session["id"], [])), False)
            elif field == "payment_intent":
                if session["payment_intent"]:
                    session["payment_intent"] = dict(self.payment_intents[session["payment_intent"]])
            else:
                raise invalid_request(f"This property cannot be expanded ({field}).", "expand")
        return session

    def session_line_items(self, request: Request, sid: str) -> Response:
        self._authenticate(request)
        check_params(Obj(PAGINATION), self._params(request))
        with self.lock:
            self._session_or_404(sid)
            data = list(self.line_items.get(sid, []))
        return self._json(200, objects.list_object(f"/v1/checkout/sessions/{sid}/line_items", data, False), request)

    def list_sessions(self, request: Request) -> Response:
        self._authenticate(request)
        params = check_params(SESSION_LIST, self._params(request))
        with self.lock:
            items = list(reversed(self.sessions.values()))  # newest first
            items = [s for s in items if _matches(s, params, ("status", "payment_intent", "customer", "payment_link"))]
            page_, more = _paginate(items, params, "session")
        return self._json(200, objects.list_object("/v1/checkout/sessions", page_, more), request)

    def expire_session(self, request: Request, sid: str) -> Response:
        api_key = self._authenticate(request)
        raw = self._params(request)

        def run(key):
            check_params(EXPAND_ONLY, raw)
            with self.lock:
                self._session_or_404(sid)
                body = self._expire(sid, request_id=None, idempotency_key=key, strict=True)
            return self._json(200, body, request)

        return self._idempotent(request, api_key, raw, run)

    def _expire(self, sid: str, *, request_id: str | None = None, idempotency_key: str | None = None,
                strict: bool = False) -> dict:
        session = self.sessions[sid]
        if session["status"] != "open":
            if strict:
                err = invalid_request(
                    f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a '
                    f'status of "{session["status"]}".', None)
                err.body["_executed"] = True
                raise err
            return dict(session)
        session["status"] = "expired"
        session["url"] = None
        self._emit("checkout.session.expired", dict(session), request_id, idempotency_key)
        return dict(session)

    # ---- events & payment intents ------------------------------------------------------------------
    def list_events(self, request: Request) -> Response:
        self._authenticate(request)
        params = check_params(EVENT_LIST, self._params(request))
        types = params.get("types") or ([params["type"]] if "type" in params else [])
        with self.lock:
            items = [e for e in reversed(self.events) if not types or any(_type_matches(e["type"], t) for t in types)]
            items = [e for e in items if _created_matches(e["created"], params.get("created"))]
            page_, more = _paginate(items, params, "event")
        return self._json(200, objects.list_object("/v1/events", page_, more), request)

    def retrieve_event(self, request: Request, eid: str) -> Response:
        self._authenticate(request)
        with self.lock:
            found = next((e for e in self.events if e["id"] == eid), None)
        if found is None:
            raise invalid_request(f"No such event: '{eid}'", "id", "resource_missing", status=404)
        return self._json(200, found, request)

    def retrieve_payment_intent(self, request: Request, pid: str) -> Response:
        self._authenticate(request)
        with self.lock:
            found = self.payment_intents.get(pid)
        if found is None:
            raise invalid_request(f"No such payment_intent: '{pid}'", "intent", "resource_missing", status=404)
        return self._json(200, found, request)

    def _emit(self, event_type: str, obj: dict, request_id: str | None = None,
              idempotency_key: str | None = None) -> dict:
        evt = objects.event(event_id=self.ids.make("evt_", 24), created=self.now(), event_type=event_type, obj=obj,
                            request_id=request_id, idempotency_key=idempotency_key)
        self.events.append(evt)
        self.emit_webhook(evt["id"], event_type, json.dumps(evt, indent=2).encode())
        return evt

    def webhook_signer(self, event_id: str):
        secret = self.sandbox.webhook_secret("stripe", self.config.stripe_webhook_secret)

        def sign(body: bytes) -> dict[str, str]:
            # Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body"> (https://docs.stripe.com/webhooks#verify-manually;
            # verified by stripe/_webhook.py WebhookSignature.verify_header).
            timestamp = int(time.time())
            signed = f"{timestamp}.".encode() + body
            sig = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
            return {"Stripe-Signature": f"t={timestamp},v1={sig}", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}

        return sign

    # ---- paying (hosted page and control API) ------------------------------------------------------
    def pay(self, object_id: str, amount_minor: int | None = None, outcome: str = "success") -> dict:
        with self.lock:
            if object_id not in self.sessions:
                raise KeyError(object_id)
            session = self.sessions[object_id]
            if session["status"] != "open":
                raise ValueError(f"checkout session is {session['status']}")
            if amount_minor is not None and amount_minor != session["amount_total"]:
                raise ValueError(f"a Checkout Session is paid in full ({session['amount_total']})")
            pi_data = self._pi_data.get(object_id, {})
            now = self.now()
            pi_id = session["payment_intent"] or self.ids.make("pi_", 24)
            if outcome == "decline":
                intent = objects.payment_intent(
                    pi_id=pi_id, secret=self.ids.token(25), created=now, session=session,
                    status="requires_payment_method", payment_method=None, latest_charge=self.ids.make("ch_", 24),
                    last_payment_error={"code": "card_declined", "decline_code": "generic_decline",
                                        "message": "Your card was declined.", "type": "card_error"},
                    description=pi_data.get("description"), metadata=pi_data.get("metadata"))
                session["payment_intent"] = pi_id
                self.payment_intents[pi_id] = intent
                self.make_charge(intent, failure=intent["last_payment_error"])
                self._emit("payment_intent.payment_failed", dict(intent))
                return dict(session)
            intent = objects.payment_intent(
                pi_id=pi_id, secret=self.ids.token(25), created=now, session=session, status="succeeded",
                payment_method=self.ids.make("pm_", 24), latest_charge=self.ids.make("ch_", 24),
                description=pi_data.get("description"), metadata=pi_data.get("metadata"))
            self.payment_intents[pi_id] = intent
            self.make_charge(intent)
            session.update({
                "status": "complete", "payment_status": "paid", "payment_intent": pi_id, "url": None,
                "customer_details": {
                    "address": {"city": None, "country": "IN", "line1": None, "line2": None, "postal_code": None,
                                "state": None},
                    "business_name": None, "email": session.get("customer_email") or "customer@example.com",
                    "individual_name": None, "name": "Sandbox Customer", "phone": None, "tax_exempt": "none",
                    "tax_ids": [],
                },
            })
            # Paid: checkout.session.completed (payment_status "paid") and payment_intent.succeeded
            # (https://docs.stripe.com/checkout/fulfillment). Stripe does not guarantee their order.
            self._emit("checkout.session.completed", dict(session))
            self._emit("payment_intent.succeeded", dict(intent))
            return dict(session)

    def expire(self, object_id: str) -> dict:
        with self.lock:
            if object_id not in self.sessions:
                raise KeyError(object_id)
            return self._expire(object_id)

    def sweep(self, now: float) -> None:
        with self.lock:
            for sid, session in list(self.sessions.items()):
                if session["status"] == "open" and session["expires_at"] <= now:
                    self._expire(sid)
            self.sweep_refunds(now)

    def hosted_page(self, request: Request, sid: str) -> Response:
        with self.lock:
            session = self.sessions.get(sid)
            items = list(self.line_items.get(sid, []))
            session = dict(session) if session else None
        if session is None:
            return page("Stripe Checkout", "<h1>Something went wrong</h1><p>The page you were looking for could not "
                                           "be found.</p>", 404)
        if session["status"] == "complete":
            return page("Stripe Checkout", "<h1 id='status'>Thanks for your payment. This Checkout Session is no "
                                           "longer active (paid).</h1>")
        if session["status"] != "open":
            return page("Stripe Checkout", "<h1 id='status'>This Checkout Session is no longer active (expired).</h1>")
        notice = "<p id='declined' role='alert'>Your card was declined.</p>" if request.args.get("declined") else ""
        rows = "".join(f"<li>{html.escape(i['description'])} × {i['quantity']}: "
                       f"{rules.format_major(i['amount_total'], i['currency'])}</li>" for i in items)
        amount = f"{rules.format_major(session['amount_total'], session['currency'])} {session['currency'].upper()}"
        cancel = (f"<form method='post' action='/c/pay/{sid}/cancel'><button id='cancel'>Cancel</button></form>"
                  if session.get("cancel_url") else "")
        body = (f"<h1>Stripe Checkout (sandbox)</h1>{notice}<ul>{rows}</ul>"
                f"<p class='amount' id='amount'>{html.escape(amount)}</p>"
                f"<form method='post' action='/c/pay/{sid}/pay'><button id='pay'>Pay</button></form>"
                f"<form method='post' action='/c/pay/{sid}/decline'><button id='decline'>Decline</button></form>"
                f"{cancel}<p class='note'>Test mode: no card is charged.</p>")
        return page("Stripe Checkout", body)

    def hosted_action(self, request: Request, sid: str, action: str) -> Response:
        with self.lock:
            session = self.sessions.get(sid)
            session = dict(session) if session else None
        if session is None or action not in ("pay", "decline", "cancel"):
            return page("Stripe Checkout", "<h1>Not found</h1>", 404)
        if session["status"] != "open":
            return redirect(f"/c/pay/{sid}", 303)
        if action == "cancel":
            return redirect(session["cancel_url"], 303)
        if action == "decline":
            self.pay(sid, outcome="decline")
            return redirect(f"/c/pay/{sid}?declined=1", 303)
        self.pay(sid)
        target = (session.get("success_url") or f"/c/pay/{sid}").replace("{CHECKOUT_SESSION_ID}", sid)
        return redirect(target, 303)


def _matches(obj: dict, params: dict, keys: tuple[str, ...]) -> bool:
    return all(obj.get(k) == params[k] for k in keys if k in params) and _created_matches(obj["created"],
                                                                                             params.get("created"))


def _created_matches(created: int, cond: dict | None) -> bool:
    if not cond:
        return True
    return all([
        "gt" not in cond or created > cond["gt"], "gte" not in cond or created >= cond["gte"],
        "lt" not in cond or created < cond["lt"], "lte" not in cond or created <= cond["lte"],
    ])


def _type_matches(event_type: str, pattern: str) -> bool:
    # `type` accepts wildcards such as "checkout.session.*" (https://docs.stripe.com/api/events/list).
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern


def _paginate(items: list[dict], params: dict, what: str) -> tuple[list[dict], bool]:
    limit = params.get("limit", 10)
    if not 1 <= limit <= 100:
        raise invalid_request("This value must be between 1 and 100 (it currently is " + str(limit) + ").", "limit")
    ids = [i["id"] for i in items]
    if "starting_after" in params:
        if params["starting_after"] not in ids:
            raise invalid_request(f"No such {what}: '{params['starting_after']}'", "starting_after", "resource_missing")
        items = items[ids.index(params["starting_after"]) + 1:]
    elif "ending_before" in params:
        if params["ending_before"] not in ids:
            raise invalid_request(f"No such {what}: '{params['ending_before']}'", "ending_before", "resource_missing")
        items = items[:ids.index(params["ending_before"])]
        return [dict(i) for i in items[-limit:]], len(items) > limit
    return [dict(i) for i in items[:limit]], len(items) > limit
