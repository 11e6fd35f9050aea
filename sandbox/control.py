"""Control API (docs/endpoints.md), JSON in and out, on its own port.

| call | does |
| --- | --- |
| GET  /_sandbox/state | every object per gateway, its port, fault and webhook settings |
| POST /_sandbox/faults | `{"gateway", "mode": "ok|down|error|hang|slow", "error_rate", "status", "latency_ms", "seed",
|                       |  "retry_after", "effect", "body"}` (`effect`: a hung request still takes effect;
|                       |  `"body": "html"`: errors come as a proxy's HTML page) |; and/or webhook faults `{"gateway", "webhooks": "ok|off|duplicate|reorder|delay",
|                       |  "delay_ms", "reorder_window_ms"}`. `"gateway": "all"` applies to every gateway. |
| POST /_sandbox/webhooks | `{"gateway", "url", "secret"?}`: where (and with which secret) that gateway delivers |
| POST /_sandbox/pay | `{"gateway", "id", "amount_minor"?, "outcome"?}`: the customer pays. Stripe: the session is paid
|                    | (`"outcome": "decline"` declines the card instead). Razorpay: a payment of `amount_minor` (default:
|                    | what is due; `"outcome": "decline"`: the bank refuses it, `payment.failed`). PayPal: the buyer approves the order (`"outcome": "deny"` makes its capture DENIED;
|                    | `"capture": true` also captures it, as the merchant would). |
| POST /_sandbox/expire | `{"gateway", "id"}`: fast-forward that session / link / order to its expiry |
| GET  /_sandbox/deliveries | every webhook delivery (`?gateway=` filters): event id, type, target, attempts, codes, body |
| POST /_sandbox/deliveries/{id}/redeliver | sends that delivery again (same body bytes, freshly signed headers) |
| POST /_sandbox/refunds | `{"gateway", "payment_id", "amount_minor"?, "reason"?}`: a refund made at the gateway's own
|                        | dashboard (default: all that is left); the gateway's refund object back, webhooks follow |
| POST /_sandbox/refunds/mode | `{"gateway", "mode": "instant|settle|pending|fail", "settle_ms"?}`: how new refunds end.
|                        | instant: done in the create's answer; settle: pending, done `settle_ms` later (default 300);
|                        | pending: pending until /_sandbox/refunds/settle; fail: pending, then failed `settle_ms` later.
|                        | Defaults as the gateways behave for cards: Stripe and PayPal instant, Razorpay settle |
| POST /_sandbox/refunds/settle | `{"gateway", "id", "outcome": "succeeded|failed"}`: a pending refund ends; webhooks follow |
| POST /_sandbox/disputes | `{"gateway", "payment_id", "amount_minor"?, "reason"?}`: the customer's bank opens a dispute
|                         | (default: the whole payment); the gateway's dispute object back (with its `id`), webhooks follow |
| POST /_sandbox/disputes/close | `{"gateway", "id", "outcome": "won|lost"}`: the dispute is decided; webhooks follow |
| POST /_sandbox/reset | forgets all objects, deliveries, faults and webhook targets |
"""

from __future__ import annotations

import json

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .config import GATEWAYS
from .gateway import REFUND_MODES
from .faults import MODES, Fault
from .webhooks import WEBHOOK_MODES, WebhookMode


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _json(data, status: int = 200) -> Response:
    return Response(json.dumps(data, indent=1), status=status, content_type="application/json")


class ControlApp:
    url_map = Map([
        Rule("/_sandbox/state", methods=["GET"], endpoint="state"),
        Rule("/_sandbox/faults", methods=["POST"], endpoint="faults"),
        Rule("/_sandbox/webhooks", methods=["POST"], endpoint="webhooks"),
        Rule("/_sandbox/pay", methods=["POST"], endpoint="pay"),
        Rule("/_sandbox/expire", methods=["POST"], endpoint="expire"),
        Rule("/_sandbox/deliveries", methods=["GET"], endpoint="deliveries"),
        Rule("/_sandbox/deliveries/<delivery_id>/redeliver", methods=["POST"], endpoint="redeliver"),
        Rule("/_sandbox/refunds", methods=["POST"], endpoint="refund"),
        Rule("/_sandbox/refunds/mode", methods=["POST"], endpoint="refund_mode"),
        Rule("/_sandbox/refunds/settle", methods=["POST"], endpoint="settle_refund"),
        Rule("/_sandbox/disputes", methods=["POST"], endpoint="open_dispute"),
        Rule("/_sandbox/disputes/close", methods=["POST"], endpoint="close_dispute"),
        Rule("/_sandbox/reset", methods=["POST"], endpoint="reset"),
    ])

    def __init__(self, sandbox):
        self.sandbox = sandbox

    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, endpoint)(request, **args)
        except ControlError as exc:
            response = _json({"error": exc.message}, exc.status)
        except HTTPException as exc:
            response = _json({"error": exc.description}, exc.code or 500)
        return response(environ, start_response)

    # ---- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _body(request: Request) -> dict:
        try:
            data = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            raise ControlError(400, "body must be JSON")
        if not isinstance(data, dict):
            raise ControlError(400, "body must be a JSON object")
        return data

    @staticmethod
    def _gateways(data: dict, allow_all: bool = False) -> list[str]:
        name = data.get("gateway")
        if allow_all and name == "all":
            return list(GATEWAYS)
        if name not in GATEWAYS:
            raise ControlError(400, f"gateway must be one of {', '.join(GATEWAYS)}")
        return [name]

    # ---- endpoints -----------------------------------------------------------------------------
    def state(self, request: Request) -> Response:
        return _json({"ports": self.sandbox.ports, **self.sandbox.state()})

    def faults(self, request: Request) -> Response:
        data = self._body(request)
        gateways = self._gateways(data, allow_all=True)
        if "mode" not in data and "webhooks" not in data:
            raise ControlError(400, "give `mode` and/or `webhooks`")
        if "mode" in data:
            if data["mode"] not in MODES:
                raise ControlError(400, f"mode must be one of {', '.join(MODES)}")
            if data.get("body", "json") not in ("json", "html"):
                raise ControlError(400, "body must be json or html")
            try:
                fault = Fault(mode=data["mode"], error_rate=float(data.get("error_rate", 1.0)),
                              status=int(data.get("status", 503)), latency_ms=int(data.get("latency_ms", 0)),
                              seed=data.get("seed"), retry_after=int(data.get("retry_after", 1)),
                              effect=bool(data.get("effect", False)), body=str(data.get("body", "json")))
            except (TypeError, ValueError):
                raise ControlError(400, "error_rate, status, latency_ms and retry_after must be numbers")
            for name in gateways:
                self.sandbox.set_fault(name, fault)
        if "webhooks" in data:
            if data["webhooks"] not in WEBHOOK_MODES:
                raise ControlError(400, f"webhooks must be one of {', '.join(WEBHOOK_MODES)}")
            mode = WebhookMode(mode=data["webhooks"], delay_ms=int(data.get("delay_ms", 1000)),
                               reorder_window_ms=int(data.get("reorder_window_ms", 300)))
            for name in gateways:
                self.sandbox.set_webhook_mode(name, mode)
        state = self.sandbox.state()
        return _json({name: {"fault": state[name]["fault"], "webhooks": state[name]["webhooks"],
                             "up": state[name]["up"]} for name in gateways})

    def webhooks(self, request: Request) -> Response:
        data = self._body(request)
        (name,) = self._gateways(data)
        if not isinstance(data.get("url"), str) or not data["url"].startswith(("http://", "https://")):
            raise ControlError(400, "url must be an http(s) URL")
        self.sandbox.set_webhook_target(name, data["url"], data.get("secret"))
        return _json({"gateway": name, "url": data["url"], "secret_set": bool(data.get("secret"))})

    def pay(self, request: Request) -> Response:
        data = self._body(request)
        (name,) = self._gateways(data)
        amount = data.get("amount_minor")
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0):
            raise ControlError(400, "amount_minor must be a positive integer of minor units")
        gateway = self.sandbox.gateways[name]
        try:
            if name == "paypal":
                result = gateway.pay(str(data.get("id")), amount, data.get("outcome", "success"),
                                     capture=bool(data.get("capture")))
            else:
                result = gateway.pay(str(data.get("id")), amount, data.get("outcome", "success"))
        except KeyError:
            raise ControlError(404, f"no such {name} object: {data.get('id')}")
        except ValueError as exc:
            raise ControlError(409, str(exc))
        return _json(result)

    def expire(self, request: Request) -> Response:
        data = self._body(request)
        (name,) = self._gateways(data)
        try:
            return _json(self.sandbox.gateways[name].expire(str(data.get("id"))))
        except KeyError:
            raise ControlError(404, f"no such {name} object: {data.get('id')}")
        except ValueError as exc:
            raise ControlError(409, str(exc))

    def deliveries(self, request: Request) -> Response:
        gateway = request.args.get("gateway")
        return _json(self.sandbox.webhooks.list(gateway))

    def redeliver(self, request: Request, delivery_id: str) -> Response:
        try:
            again = self.sandbox.webhooks.redeliver(delivery_id)
        except KeyError:
            raise ControlError(404, f"no such delivery: {delivery_id}")
        return _json(again.describe())

    # ---- money back (issue 12): each gateway's own objects, statuses and webhooks ----------------
    @staticmethod
    def _amount(data: dict) -> int | None:
        amount = data.get("amount_minor")
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0):
            raise ControlError(400, "amount_minor must be a positive integer of minor units")
        return amount

    @staticmethod
    def _run(name: str, what: str, key, action) -> Response:
        try:
            return _json(action())
        except KeyError:
            raise ControlError(404, f"no such {name} {what}: {key}")
        except ValueError as exc:
            raise ControlError(409, str(exc))

    def refund(self, request: Request) -> Response:
        data = self._body(request)
        (name,) = self._gateways(data)
        amount, payment_id = self._amount(data), str(data.get("payment_id"))
        gateway = self.sandbox.gateways[name]
        return self._run(name, "payment", payment_id,
                         lambda: gateway.dashboard_refund(payment_id, amount, str(data.get("reason") or "")))

    def refund_mode(self, request: Request) -> Response:
        data = self._body(request)
        (name,) = self._gateways(data)
        if data.get("mode") not in REFUND_MODES:
            raise ControlError(400, f"mode must be one of {', '.join(REFUND_MODES)}")
        settle_ms = data.get("settle_ms", 300)
        if not isinstance(settle_ms, int) or isinstance(settle_ms, bool) or settle_ms < 0:
            raise ControlError(400, "settle_ms must be a whole number of milliseconds")
        self.sandbox.gateways[name].set_refund_mode(data["mode"], settle_ms)
        return _json({"gateway": name, "mode": data["mode"], "settle_ms": settle_ms})

    def settle_refund(self, request: Request) -> Response:
        data = self._body(request)
        (name,) = self._gateways(data)
        if data.get("outcome") not in ("succeeded", "failed"):
            raise ControlError(400, "outcome must be succeeded or failed")
        refund_id = str(data.get("id"))
        return self._run(name, "refund", refund_id,
                         lambda: self.sandbox.gateways[name].settle_refund(refund_id, data["outcome"]))

    def open_dispute(self, request: Request) -> Response:
        data = self._body(request)
        (name,) = self._gateways(data)
        amount, payment_id = self._amount(data), str(data.get("payment_id"))
        gateway = self.sandbox.gateways[name]
        return self._run(name, "payment", payment_id,
                         lambda: gateway.open_dispute(payment_id, amount, str(data.get("reason") or "")))

    def close_dispute(self, request: Request) -> Response:
        data = self._body(request)
        (name,) = self._gateways(data)
        if data.get("outcome") not in ("won", "lost"):
            raise ControlError(400, "outcome must be won or lost")
        dispute_id = str(data.get("id"))
        return self._run(name, "dispute", dispute_id,
                         lambda: self.sandbox.gateways[name].close_dispute(dispute_id, data["outcome"]))

    def reset(self, request: Request) -> Response:
        self.sandbox.reset()
        return _json({"reset": True})
