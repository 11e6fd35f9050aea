"""Outage drills per gateway, applied in front of each gateway's WSGI app.

Modes (docs/endpoints.md, ``POST /_sandbox/faults``):
- ``ok``: normal service.
- ``down``: the gateway's listening socket is closed (handled by ``server.GatewayServer``): clients get
  connection refused.
- ``error``: with probability ``error_rate`` (default 1.0) answer ``status`` (default 503) with that
  gateway's own error body; 429 carries ``Retry-After``.
- ``hang``: accept the request and never answer: the connection is held until the fault is cleared or
  ``hang_max_s`` passes (so threads cannot pile up), then closed without a response; the client sees a
  read timeout. By default the request has no effect; with ``"effect": true`` it is processed first and
  only the answer is lost (the ambiguous timeout-after-send case).
- ``slow``: add ``latency_ms`` before handling the request normally.

With ``"body": "html"`` an ``error`` answers an HTML page instead of the gateway's JSON, as a load
balancer or proxy in front of the gateway does (Razorpay's SDK then raises a JSON decode error,
stripe-python an APIError about an invalid response body).
"""

from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

MODES = ("ok", "down", "error", "hang", "slow")


@dataclass
class Fault:
    mode: str = "ok"
    error_rate: float = 1.0
    status: int = 503
    latency_ms: int = 0
    seed: int | None = None
    retry_after: int = 1
    effect: bool = False  # hang only: process the request, then lose the answer
    body: str = "json"  # error only: "json" (the gateway's error body) or "html" (a proxy's error page)

    def describe(self) -> dict:
        return asdict(self)


class FaultController:
    """Holds one gateway's current fault and applies it to requests."""

    def __init__(self, hang_max_s: float):
        self.hang_max_s = hang_max_s
        self._lock = threading.Lock()
        self.fault = Fault()
        self._dice = random.Random()
        self._release = threading.Event()
        self.hung_requests = 0

    def set(self, fault: Fault) -> None:
        if fault.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        with self._lock:
            old_release = self._release
            self.fault = fault
            self._dice = random.Random(fault.seed)
            self._release = threading.Event()
        old_release.set()  # wake every request held by a previous `hang`

    def release_all(self) -> None:
        with self._lock:
            self._release.set()

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return self._dice.random() < rate

    def wrap(self, app: Callable, error_response: Callable[[int], tuple[bytes, str]]) -> Callable:
        """WSGI middleware applying the current fault before ``app``."""

        def faulty_app(environ, start_response):
            fault, release = self.fault, self._release
            if fault.mode == "hang":
                if fault.effect:
                    _drain(app(environ, lambda *a, **k: (lambda data: None)))
                else:
                    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                with self._lock:
                    self.hung_requests += 1
                try:
                    release.wait(self.hang_max_s)
                finally:
                    with self._lock:
                        self.hung_requests -= 1
                _close(environ)
                start_response("504 Gateway Timeout", [("Content-Length", "0")])
                return [b""]
            elif fault.mode == "slow":
                time.sleep(fault.latency_ms / 1000)
            elif fault.mode == "error" and self._roll(fault.error_rate):
                # Read the body so the client is not cut off mid-send.
                environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                if fault.body == "html":
                    body, content_type = _html_error(fault.status), "text/html"
                else:
                    body, content_type = error_response(fault.status)
                headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
                if fault.status == 429:
                    headers.append(("Retry-After", str(fault.retry_after)))
                start_response(f"{fault.status} {_reason(fault.status)}", headers)
                return [body]
            return app(environ, start_response)

        return faulty_app


def _html_error(status: int) -> bytes:
    title = f"{status} {_reason(status)}"
    return f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>".encode()


def _drain(body) -> None:
    try:
        for _ in body:
            pass
    finally:
        if hasattr(body, "close"):
            body.close()


def _close(environ) -> None:
    """Drop the client's connection without answering (werkzeug exposes the socket in the environ)."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
