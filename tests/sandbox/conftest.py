"""Fixtures for the sandbox conformance suite: a webhook receiver that records raw deliveries, and the
official SDK clients. The sandbox itself (`sandbox`, `control`) comes from tests/conftest.py."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


REFERENCE = REPO / "tests" / "reference"  # vendored: tests/reference/README.md


def load_reference(relative: str):
    return json.loads((REFERENCE / relative).read_text())


@pytest.fixture(scope="session")
def reference():
    return load_reference


class Receiver:
    """A tiny webhook endpoint: records every request's raw body and headers; answers from a script of
    status codes (then 200), optionally sleeping first."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.sleep_s = 0.0
        self._cond = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        with self._cond:
            status = self.statuses.pop(0) if self.statuses else 200
            sleep_s = self.sleep_s
        if sleep_s:
            time.sleep(sleep_s)
        with self._cond:
            self.requests.append({"path": request.path, "body": body, "headers": dict(request.headers),
                                  "status": status, "at": time.time()})
            self._cond.notify_all()
        return Response("ok", status=status)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.time() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = deadline - time.time()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} webhook requests, got {len(self.requests)}")
                self._cond.wait(remaining)
            return list(self.requests)

    def events(self) -> list[dict]:
        with self._cond:
            return [json.loads(r["body"]) for r in self.requests]

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver(sandbox):
    """A receiver that every gateway of the sandbox delivers its webhooks to."""
    rec = Receiver()
    for gateway in ("stripe", "razorpay", "paypal"):
        sandbox.set_webhook_target(gateway, rec.url(f"/webhooks/{gateway}"))
    yield rec
    rec.stop()


@pytest.fixture
def stripe_client(sandbox):
    import stripe

    return stripe.StripeClient(sandbox.config.stripe_secret_key,
                               base_addresses={"api": sandbox.servers["stripe"].base_url},
                               http_client=stripe.RequestsClient(timeout=3))


@pytest.fixture
def razorpay_client(sandbox):
    import razorpay

    return razorpay.Client(auth=(sandbox.config.razorpay_key_id, sandbox.config.razorpay_key_secret),
                           base_url=sandbox.servers["razorpay"].base_url)
