"""What every simulated gateway shares: its state lock, ids, webhook emission and a few HTTP helpers."""

from __future__ import annotations

import html
import json
import threading
import time
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from .core import Sandbox


class GatewayError(Exception):
    """An API error answered with the gateway's own error body."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data), status=status, headers=headers, content_type="application/json")


def page(title: str, body_html: str, status: int = 200) -> Response:
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32rem;margin:2rem auto}button{margin:.3rem;padding:.5rem 1rem}"
        ".amount{font-size:1.6rem}.note{color:#666}</style></head>"
        f"<body>{body_html}</body></html>"
    )
    return Response(doc, status=status, content_type="text/html; charset=utf-8")


REFUND_MODES = ("instant", "settle", "pending", "fail")


class Gateway:
    name = ""
    url_map: Map

    def __init__(self, sandbox: "Sandbox"):
        self.sandbox = sandbox
        self.config = sandbox.config
        self.ids = sandbox.ids
        self.lock = threading.RLock()
        self.reset()

    # ---- to implement --------------------------------------------------------------------------
    def reset(self) -> None:
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    def error_body(self, status: int) -> dict:
        """The gateway's body for an injected HTTP error."""
        raise NotImplementedError

    def api_error(self, exc: GatewayError) -> Response:
        return json_response(exc.body, exc.status, exc.headers)

    def pay(self, object_id: str, amount_minor: int | None = None, outcome: str = "success") -> dict:
        raise NotImplementedError

    def expire(self, object_id: str) -> dict:
        raise NotImplementedError

    def sweep(self, now: float) -> None:
        """Expire what is past its expiry time (and, issue 12, end refunds whose settle time has come)."""

    # ---- money back (issue 12; control API in control.py) ---------------------------------------
    # Each gateway keeps `self.refund_mode` / `self.refund_settle_ms` (set_refund_mode) and applies them to
    # every new refund, whether made through its API or by dashboard_refund.
    default_refund_mode = "instant"

    def set_refund_mode(self, mode: str, settle_ms: int) -> None:
        with self.lock:
            self.refund_mode, self.refund_settle_ms = mode, settle_ms

    def dashboard_refund(self, payment_id: str, amount_minor: int | None, reason: str) -> dict:
        """A refund made at the gateway's dashboard: the gateway's refund object; its webhooks follow.
        KeyError: no such payment; ValueError: more than is left, or not refundable."""
        raise NotImplementedError

    # The gateway's own word for a refund that ended `succeeded` or `failed` (Razorpay: processed).
    refund_outcome_words: dict[str, str] = {}

    def settle_refund(self, refund_id: str, outcome: str) -> dict:
        """A pending refund ends (`succeeded` or `failed`); webhooks follow. KeyError / ValueError (not pending).
        Each gateway's `_finish_refund(refund_id, its own outcome word)` does the work."""
        with self.lock:
            if refund_id not in self.refunds:
                raise KeyError(refund_id)
            return self._finish_refund(refund_id, self.refund_outcome_words.get(outcome, outcome))

    def sweep_refunds(self, now: float) -> None:
        """End the refunds whose settle time has come (modes `settle` and `fail`; `_refund_due` holds them)."""
        for refund_id, (when, outcome) in list(self._refund_due.items()):
            if when <= now:
                self._finish_refund(refund_id, outcome)

    def open_dispute(self, payment_id: str, amount_minor: int | None, reason: str) -> dict:
        """The customer's bank disputes the payment; the gateway's dispute object (with `id`); webhooks follow."""
        raise NotImplementedError

    def close_dispute(self, dispute_id: str, outcome: str) -> dict:
        """The dispute is decided, `won` or `lost`; webhooks follow. KeyError / ValueError (already closed)."""
        raise NotImplementedError

    def not_found(self, request: Request) -> Response:
        return json_response({"error": "not found"}, 404)

    # ---- shared --------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.sandbox.servers[self.name].base_url

    def now(self) -> int:
        return int(time.time())

    def emit_webhook(self, event_id: str, event_type: str, body: bytes) -> None:
        """Queue a delivery of ``body`` (final bytes) to this gateway's webhook target."""
        self.sandbox.webhooks.emit(self.name, event_id, event_type, self.sandbox.webhook_url(self.name), body,
                                   self.webhook_signer(event_id))

    def webhook_signer(self, event_id: str):
        """A function body -> signature headers, called for every attempt (secrets read now)."""
        raise NotImplementedError

    def error_response(self, status: int) -> tuple[bytes, str]:
        return json.dumps(self.error_body(status)).encode(), "application/json"

    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
            response = getattr(self, endpoint)(request, **args)
        except GatewayError as exc:
            response = self.api_error(exc)
        except NotFound:
            response = self.not_found(request)
        except HTTPException as exc:
            response = exc.get_response(environ)
        return response(environ, start_response)
