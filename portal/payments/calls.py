"""Calls to one gateway: each call logged and fed to the breaker; a create retried with the same key
(full-jitter backoff, Retry-After honoured, a per-gateway budget inside the click's deadline); a call whose
outcome is unknown looked up by its key before it is sent again."""
from __future__ import annotations

import logging
import random
import time
from typing import Mapping

from flask import current_app
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from ..extensions import db
from ..models import GatewayAttempt, GatewaySetting, LinkClick, PaymentLink, utcnow
from . import routing
from .base import CONFLICT, RATE_LIMITED, TIMEOUT, UNREACHABLE, Gateway, GatewayError, GatewayLink, LinkRequest
from .clicks import ms_since
from .wiring import breaker, seconds

log = logging.getLogger("portal.payments.engine")

# A gateway error's kind in words a merchant reads, after the gateway's name ("Razorpay could not be reached").
ERROR_WORDS = {
    "unreachable": "could not be reached",
    "timeout": "did not answer in time",
    "server": "had an internal error",
    "rate_limited": "asked us to slow down",
    "conflict": "was still busy with the same request",
    "rejected": "refused the request",
    "auth": "refused our credentials",
    "not_found": "did not know the link",
}


def plain_error(exc: GatewayError) -> str:
    return f"{ERROR_WORDS.get(exc.kind, exc.kind)} ({exc.code})"


def create_with_retries(gateway: Gateway, request: LinkRequest, row: PaymentLink, click: LinkClick,
                        attempts: list, deadline: float, others_left: bool,
                        settings: Mapping[str, GatewaySetting]) -> GatewayLink:
    """Create at one gateway, retrying transient failures with the same key. With `others_left`, a refused
    connection (it never reached the gateway) and a timeout (it may have: its lookup can wait for the
    background) are not retried here, so the click goes to the next gateway at once."""
    budget_end = min(deadline, time.monotonic() + seconds("PAYMENT_GATEWAY_BUDGET_SECONDS"))
    ambiguous = False

    def worth_retrying(exc: BaseException) -> bool:
        if not isinstance(exc, GatewayError) or not exc.transient:
            return False
        return not (others_left and exc.kind in (UNREACHABLE, TIMEOUT))

    retrying = Retrying(
        stop=stop_after_attempt(current_app.config["PAYMENT_RETRY_ATTEMPTS"])
        | stop_before_delay(max(0.0, budget_end - time.monotonic()))
        # Once our own failures have opened the breaker (or a half-open probe failed), stop hammering.
        | (lambda state: not breaker_allows_retry(gateway.name, settings)),
        wait=backoff(seconds("PAYMENT_RETRY_BASE_DELAY")),
        retry=retry_if_exception(worth_retrying),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            number = attempt.retry_state.attempt_number
            timeout = min(gateway.settings.timeout, budget_end - time.monotonic())
            if timeout < 0.05:
                raise GatewayError(gateway.name, TIMEOUT, "budget_exhausted",
                                   "no time left for another call to this gateway")
            if ambiguous:
                # The last call may have created the link: look it up by its key before anything else.
                found = call(gateway, "find", number, request, click, attempts,
                             lambda: gateway.find_link(request, timeout))
                if found is not None:
                    return found
                timeout = min(gateway.settings.timeout, budget_end - time.monotonic())
                if timeout < 0.05:
                    raise GatewayError(gateway.name, TIMEOUT, "budget_exhausted", "lookup used the time left")
            try:
                return call(gateway, "create", number, request, click, attempts,
                            lambda: gateway.create_link(request, timeout))
            except GatewayError as exc:
                if exc.kind in (TIMEOUT, CONFLICT):
                    ambiguous = True
                if exc.code in ("duplicate_reference", "idempotency_error"):
                    # Our key is already there: an earlier call did take effect.
                    found = call(gateway, "find", number, request, click, attempts,
                                 lambda: gateway.find_link(request, timeout))
                    if found is not None:
                        return found
                raise
    raise AssertionError("unreachable: tenacity either returned or raised")


def backoff(base: float):
    """Full-jitter exponential backoff; a 429's Retry-After wins when it is longer."""

    def wait(state: RetryCallState) -> float:
        jitter = random.uniform(0, base * 2 ** (state.attempt_number - 1))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, GatewayError) and exc.kind == RATE_LIMITED and exc.retry_after:
            return max(jitter, float(exc.retry_after))
        return jitter

    return wait


def call(gateway: Gateway, operation: str, number: int, request: LinkRequest | None,
         click: LinkClick | None, attempts: list, fn):
    """Run one gateway call, feed the breaker, and write the call to the attempt log, whatever happens.
    Only a click's calls (`click` given) count as failures for the breaker: background lookups and cancels
    of links left behind keep asking a gateway that is away, and must not turn customers' payments from it."""
    started = time.monotonic()
    row = GatewayAttempt(created_at=utcnow(), click_id=click.id if click else None, invoice_id=request.invoice_id if request else None,
                         gateway=gateway.name, operation=operation, attempt=number,
                         reference=request.reference if request else None)
    try:
        result = fn()
    except GatewayError as exc:
        row.outcome, row.error_kind, row.error_code = "failure", exc.kind, exc.code[:64]
        row.message = exc.message[:500]
        log.info("%s %s attempt %d failed: %s %s", gateway.name, operation, number, exc.kind, exc.code)
        if exc.transient and click is not None:
            breaker().record_failure(gateway.name)  # a refusal (4xx) is an answer, not an outage
        raise
    else:
        row.outcome = "success" if (result is not None or operation != "find") else "not_found"
        breaker().record_success(gateway.name)
        return result
    finally:
        row.duration_ms = ms_since(started)
        db.session.add(row)
        # A failure is written at once; a success rides on the commit that records its link.
        if row.outcome == "failure":
            db.session.commit()
        else:
            db.session.flush()
        attempts.append(row)


def breaker_allows_retry(name: str, settings: Mapping[str, GatewaySetting]) -> bool:
    return routing.breaker_state(name, breaker(), settings) == "closed"


def breaker_allows(name: str, settings: Mapping[str, GatewaySetting]) -> bool:
    return routing.breaker_admits(name, breaker(), settings)
