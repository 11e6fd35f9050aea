"""Webhook delivery as the gateways do it: asynchronous, signed, retried with backoff, logged.

Every event becomes a *delivery*: the raw body (fixed when the event happens, so every attempt and every
redelivery sends the same bytes) plus a signer that builds the gateway's signature headers for each
attempt (Stripe's signature carries the attempt's timestamp). An attempt succeeds on any 2xx; a non-2xx
answer, a refused connection or a timeout schedules the next attempt after ``backoff * 2**(n-1)``
seconds (capped) until ``webhook_max_attempts`` is reached. Real gateways retry for one to three days;
the sandbox compresses that into seconds.

Webhook fault modes per gateway (``POST /_sandbox/faults`` with a ``webhooks`` key):
- ``ok``: deliver each event once, as soon as possible.
- ``off``: record the event but never send it (status ``dropped``): the webhook that never came.
  ``POST /_sandbox/deliveries/{id}/redeliver`` still sends it.
- ``duplicate``: send every event twice, as two deliveries with the same body and event id.
- ``reorder``: hold events for ``reorder_window_ms`` (default 300) and send them newest first.
- ``delay``: send each event ``delay_ms`` (default 1000) late.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import requests

from .ids import IdFactory

log = logging.getLogger(__name__)

WEBHOOK_MODES = ("ok", "off", "duplicate", "reorder", "delay")

Signer = Callable[[bytes], dict[str, str]]


@dataclass
class Delivery:
    id: str
    gateway: str
    event_id: str
    event_type: str
    url: str
    body: bytes
    signer: Signer
    created: float
    duplicate_of: str | None = None
    status: str = "pending"  # pending | delivered | failed | dropped
    attempts: list[dict] = field(default_factory=list)
    last_headers: dict[str, str] = field(default_factory=dict)

    def describe(self, with_body: bool = True) -> dict:
        out = {
            "id": self.id,
            "gateway": self.gateway,
            "event_id": self.event_id,
            "type": self.event_type,
            "target": self.url,
            "status": self.status,
            "created": self.created,
            "duplicate_of": self.duplicate_of,
            "attempts": list(self.attempts),
            "response_codes": [a["status_code"] for a in self.attempts],
            "headers": dict(self.last_headers),
        }
        if with_body:
            out["body"] = self.body.decode("utf-8")
        return out


@dataclass
class WebhookMode:
    mode: str = "ok"
    delay_ms: int = 1000
    reorder_window_ms: int = 300

    def describe(self) -> dict:
        return {"webhooks": self.mode, "delay_ms": self.delay_ms, "reorder_window_ms": self.reorder_window_ms}


class WebhookDispatcher:
    def __init__(self, ids: IdFactory, *, max_attempts: int, backoff_s: float, backoff_max_s: float,
                 timeout_s: float, workers: int):
        self.ids = ids
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self._lock = threading.Condition()
        self._deliveries: dict[str, Delivery] = {}
        self._order: list[str] = []
        self._modes: dict[str, WebhookMode] = {}
        self._held: dict[str, list[Delivery]] = {}
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox-webhook")
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-webhook-scheduler", daemon=True)
        self._thread.start()

    # ---- configuration -------------------------------------------------------------------------
    def set_mode(self, gateway: str, mode: WebhookMode) -> None:
        if mode.mode not in WEBHOOK_MODES:
            raise ValueError(f"webhooks must be one of {', '.join(WEBHOOK_MODES)}")
        with self._lock:
            self._modes[gateway] = mode

    def mode(self, gateway: str) -> WebhookMode:
        with self._lock:
            return self._modes.get(gateway, WebhookMode())

    # ---- emitting ------------------------------------------------------------------------------
    def emit(self, gateway: str, event_id: str, event_type: str, url: str, body: bytes, signer: Signer) -> Delivery:
        now = time.time()
        delivery = Delivery(self.ids.make("dlv_", 20), gateway, event_id, event_type, url, body, signer, now)
        with self._lock:
            self._remember(delivery)
            mode = self._modes.get(gateway, WebhookMode())
            if mode.mode == "off":
                delivery.status = "dropped"
            elif mode.mode == "reorder":
                held = self._held.setdefault(gateway, [])
                held.append(delivery)
                if len(held) == 1:
                    self._schedule(now + mode.reorder_window_ms / 1000, lambda g=gateway: self._flush_reordered(g))
            elif mode.mode == "delay":
                self._schedule_attempt(delivery, now + mode.delay_ms / 1000)
            else:
                self._schedule_attempt(delivery, now)
                if mode.mode == "duplicate":
                    twin = Delivery(self.ids.make("dlv_", 20), gateway, event_id, event_type, url, body, signer,
                                    now, duplicate_of=delivery.id)
                    self._remember(twin)
                    self._schedule_attempt(twin, now + 0.02)
        return delivery

    def redeliver(self, delivery_id: str) -> Delivery:
        with self._lock:
            original = self._deliveries[delivery_id]
            again = Delivery(self.ids.make("dlv_", 20), original.gateway, original.event_id, original.event_type,
                             original.url, original.body, original.signer, time.time(), duplicate_of=original.id)
            self._remember(again)
            self._schedule_attempt(again, time.time())
        return again

    # ---- reading -------------------------------------------------------------------------------
    def list(self, gateway: str | None = None, with_body: bool = True) -> list[dict]:
        with self._lock:
            return [self._deliveries[i].describe(with_body) for i in self._order
                    if gateway is None or self._deliveries[i].gateway == gateway]

    def get(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            return self._deliveries.get(delivery_id)

    def reset(self) -> None:
        with self._lock:
            self._deliveries.clear()
            self._order.clear()
            self._modes.clear()
            self._held.clear()
            self._heap.clear()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- internals -----------------------------------------------------------------------------
    def _remember(self, delivery: Delivery) -> None:
        self._deliveries[delivery.id] = delivery
        self._order.append(delivery.id)

    def _schedule(self, due: float, job: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), job))
        self._lock.notify_all()

    def _schedule_attempt(self, delivery: Delivery, due: float) -> None:
        self._schedule(due, lambda: self._pool.submit(self._attempt, delivery))

    def _flush_reordered(self, gateway: str) -> None:
        # Called with the lock held, from the scheduler: newest first, a little apart so the order holds.
        held = self._held.pop(gateway, [])
        now = time.time()
        for position, delivery in enumerate(reversed(held)):
            self._schedule_attempt(delivery, now + position * 0.03)

    def _run(self) -> None:
        with self._lock:
            while not self._stopping:
                if not self._heap:
                    self._lock.wait()
                    continue
                due = self._heap[0][0]
                wait = due - time.time()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                _, _, job = heapq.heappop(self._heap)
                try:
                    job()
                except RuntimeError:  # pool already shut down
                    return

    def _attempt(self, delivery: Delivery) -> None:
        headers = {"Content-Type": "application/json", **delivery.signer(delivery.body)}
        started = time.time()
        status_code, error = None, None
        try:
            response = requests.post(delivery.url, data=delivery.body, headers=headers, timeout=self.timeout_s,
                                     allow_redirects=False)
            status_code = response.status_code
        except requests.Timeout:
            error = "timeout"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}"
        elapsed_ms = round((time.time() - started) * 1000, 1)
        ok = status_code is not None and 200 <= status_code < 300
        with self._lock:
            delivery.last_headers = headers
            delivery.attempts.append({"n": len(delivery.attempts) + 1, "at": started, "status_code": status_code,
                                      "error": error, "duration_ms": elapsed_ms})
            log.info("webhook %s %s %s -> %s: attempt %d, %s (%.0f ms)", delivery.gateway, delivery.event_type,
                     delivery.event_id, delivery.url, len(delivery.attempts), status_code or error, elapsed_ms)
            if ok:
                delivery.status = "delivered"
            elif len(delivery.attempts) >= self.max_attempts:
                delivery.status = "failed"
            else:
                delay = min(self.backoff_s * 2 ** (len(delivery.attempts) - 1), self.backoff_max_s)
                self._schedule_attempt(delivery, time.time() + delay)
