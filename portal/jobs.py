"""Background work that must not hold up a click (cancelling links left behind at other gateways).

In-process threads for now; issue 5 moves durable jobs to RQ on Redis. Each job runs in its own app
context and logs its own failures: the click that queued it has already answered.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from flask import Flask

log = logging.getLogger("portal.jobs")
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hisabpro-job")
_pending: set[Future] = set()
_lock = threading.Lock()


def submit(app: Flask, fn, *args, **kwargs) -> Future:
    def run():
        with app.app_context():
            try:
                return fn(*args, **kwargs)
            except Exception:
                log.exception("background job %s failed", getattr(fn, "__name__", fn))
            finally:
                from .extensions import db
                db.session.remove()

    future = _executor.submit(run)
    with _lock:
        _pending.add(future)
    future.add_done_callback(lambda f: _discard(f))
    return future


def _discard(future: Future) -> None:
    with _lock:
        _pending.discard(future)


def wait_idle(timeout: float = 10.0) -> None:
    """Block until queued jobs have run (tests, and a clean shutdown)."""
    with _lock:
        futures = list(_pending)
    for future in futures:
        future.result(timeout=timeout)
