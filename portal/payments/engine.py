"""One click, one working link: reuse, routing, retries, fallback without duplicates (issue 4).

generate_link(invoice) either returns a live link that is already there (cache, then the database, which
is the truth) or walks the routing plan: at each gateway it persists a link row with a fresh idempotency
key BEFORE calling, retries transient failures with the same key (full-jitter backoff, Retry-After
honoured, bounded by a per-gateway budget and a whole-click deadline). While a gateway not yet asked is
left, a refused connection moves on at once (that gateway is asked again last) and so does a timeout (its
row is left `abandoned`, looked up by key and cancelled by cancel_other_links in the background); at the
last gateway a timed-out call is looked up before it is tried again. Every call is a row in the attempt
log; every click is a LinkClick row.
"""
from __future__ import annotations

import logging
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Mapping
from decimal import Decimal

from flask import current_app
from sqlalchemy import or_, update
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from .. import jobs
from ..extensions import cache, db
from ..models import AuditEvent, GatewayAttempt, GatewaySetting, Invoice, LinkClick, PaymentLink, utcnow
from ..models.payments import LINK_ABANDONED, LINK_FAILED, LINK_PENDING
from ..money import Money
from . import registry, routing
from .base import CONFLICT, RATE_LIMITED, TIMEOUT, UNREACHABLE, Gateway, GatewayError, GatewayLink, LinkRequest
from .breaker import CircuitBreaker, MemoryBreakerStore, RedisBreakerStore, Rule

log = logging.getLogger("portal.payments.engine")

REUSE_MARGIN = timedelta(minutes=5)  # a link about to expire is not handed to a customer


class LinkRefused(Exception):
    """The invoice cannot take a payment link (paid, overpaid, void)."""


class NoGatewayAvailable(Exception):
    def __init__(self, message: str, attempts: list[GatewayAttempt]):
        super().__init__(message)
        self.attempts = attempts


@dataclass
class LinkResult:
    link: PaymentLink
    cached: bool
    reason: str
    fallback: bool = False
    attempts: list[GatewayAttempt] = field(default_factory=list)


# ---- set-up --------------------------------------------------------------------------------------

def init_app(app) -> None:
    # Missing credentials just leave a gateway unconfigured; malformed ones get one clear line.
    for cls in registry.all_classes().values():
        for problem in cls.configuration_problems(app.config):
            app.logger.warning("%s: %s", cls.display_name, problem)
    if app.config.get("REDIS_URL"):
        import redis

        store = RedisBreakerStore(redis.Redis.from_url(app.config["REDIS_URL"]))
    else:
        store = MemoryBreakerStore()
    app.extensions["hisabpro.breaker"] = CircuitBreaker(store, Rule.from_config(app.config))


def breaker() -> CircuitBreaker:
    return current_app.extensions["hisabpro.breaker"]


def _seconds(name: str) -> float:
    return float(Decimal(current_app.config[name]))


# ---- the click -----------------------------------------------------------------------------------

def generate_link(invoice: Invoice, actor_label: str = "", requested: str | None = None,
                  fallback: bool = True) -> LinkResult:
    """fallback=False: only the requested gateway is tried (a customer who chose a way to pay is told
    when it fails, instead of being sent to another gateway's page unasked)."""
    started = time.monotonic()
    deadline = started + _seconds("PAYMENT_CLICK_DEADLINE_SECONDS")
    if requested and requested not in registry.GATEWAY_CLASSES:  # refused before the click records it
        raise routing.RoutingError(f"There is no gateway called {requested[:40]!r}.")
    if invoice.is_final:
        _record_click(invoice, actor_label, requested, "refused", started, reason=f"invoice is {invoice.status}")
        raise LinkRefused(f"{invoice.number} is {invoice.status.replace('_', ' ')}: there is nothing to pay.")
    amount = invoice.amount_due
    if requested:
        routing.plan(amount, current_app.config, breaker(), requested)  # RoutingError before any change

    reused = _reusable_link(invoice, amount, requested)
    if reused is not None:
        click = _record_click(invoice, actor_label, requested, "reused", started, link=reused,
                              reason="a live link for this amount already exists")
        return LinkResult(reused, cached=True, reason=click.reason)

    if not _acquire_lock(invoice.id, deadline):
        # Another click held the invoice past our deadline; whatever it made is the answer.
        reused = _reusable_link(invoice, amount, requested)
        if reused is not None:
            click = _record_click(invoice, actor_label, requested, "reused", started, link=reused,
                                  reason="made by a simultaneous request")
            return LinkResult(reused, cached=True, reason=click.reason)
        raise NoGatewayAvailable("Another request is still creating this invoice's link; try again.", [])
    try:
        with _objects_kept_across_commits():
            db.session.refresh(invoice)  # what is true now that we hold the invoice
            if invoice.is_final:
                _record_click(invoice, actor_label, requested, "refused", started,
                              reason=f"invoice became {invoice.status}")
                raise LinkRefused(f"{invoice.number} is {invoice.status.replace('_', ' ')}: there is nothing to pay.")
            amount = invoice.amount_due
            reused = _reusable_link(invoice, amount, requested)  # made while we waited for the lock
            if reused is not None:
                click = _record_click(invoice, actor_label, requested, "reused", started, link=reused,
                                      reason="made by a simultaneous request")
                return LinkResult(reused, cached=True, reason=click.reason)
            if invoice.status == "draft":
                invoice.open()
                AuditEvent.record(None, "invoice.opened", "invoice", invoice.id,
                                  "issued when its first payment link was generated", via=actor_label or None)
                db.session.commit()
            return _create(invoice, amount, actor_label, requested, started, deadline, fallback)
    finally:
        _release_lock(invoice.id)


@contextmanager
def _objects_kept_across_commits():
    """While we hold the invoice, the rows we write are ours: skip reloading them after every commit."""
    session = db.session()
    previous, session.expire_on_commit = session.expire_on_commit, False
    try:
        yield
    finally:
        session.expire_on_commit = previous


def _create(invoice, amount, actor_label, requested, started, deadline, fallback=True) -> LinkResult:
    click = _record_click(invoice, actor_label, requested, "pending", started, commit=False)
    settings = routing.settings_by_name()  # read once for the whole click: routing and every breaker check
    candidates, skipped = routing.plan(amount, current_app.config, breaker(), requested, settings)
    notes = [f"{s.name} skipped: {s.why}" for s in skipped]
    if requested and not fallback:
        candidates = [c for c in candidates if c.name == requested]
    attempts: list[GatewayAttempt] = []
    failed_before = False
    # A gateway that refused the connection is not retried while others may answer: it goes to the back of
    # the queue and is tried again (with retries) only once every other candidate has failed.
    queue = [(candidate, True) for candidate in candidates]
    while queue:
        candidate, first_pass = queue.pop(0)
        if time.monotonic() >= deadline:
            notes.append(f"{candidate.name} not tried: the click's time budget ran out")
            break
        if not _breaker_allows(candidate.name, settings):
            notes.append(f"{candidate.name} skipped: circuit breaker open")
            continue
        row = _new_link_row(invoice, candidate.gateway, amount)
        request = build_request(invoice, row)
        others_left = first_pass and any(fresh for _, fresh in queue)  # a gateway not yet asked
        try:
            found = _create_with_retries(candidate.gateway, request, row, click, attempts, deadline, others_left,
                                         settings)
        except GatewayError as exc:
            failed_before = True
            # Abandoned (a timeout: it may exist): cancel_other_links looks it up by its key in the background.
            row.status = LINK_FAILED if exc.surely_not_applied else LINK_ABANDONED
            db.session.commit()
            notes.append(f"{candidate.name} failed: {_plain_error(exc)}")
            if others_left and exc.kind == UNREACHABLE:
                queue.append((candidate, False))
            continue
        _apply(row, found)
        why = f"{candidate.gateway.display_name}: {candidate.why}"
        if notes:
            why += " (" + "; ".join(notes) + ")"
        click.outcome, click.gateway, click.payment_link_id = "created", candidate.name, row.id
        click.fallback, click.reason = failed_before, why
        click.duration_ms = _ms_since(started)
        AuditEvent.record(None, "invoice.payment_link", "invoice", invoice.id,
                          f"{candidate.gateway.display_name} link for {amount.format()}", via=actor_label or None)
        if _links_to_cancel(invoice.id, row.id):
            jobs.enqueue("cancel_other_links", invoice_id=invoice.id, keep_id=row.id)
        db.session.commit()
        cache.set(_cache_key(invoice.id, amount), row.id, timeout=current_app.config["PAYMENT_LINK_CACHE_SECONDS"])
        return LinkResult(row, cached=False, reason=why, fallback=failed_before, attempts=attempts)

    click.outcome, click.reason, click.duration_ms = "failed", "; ".join(notes), _ms_since(started)
    if any(row.status == LINK_ABANDONED for row in invoice.payment_links):
        jobs.enqueue("cancel_other_links", invoice_id=invoice.id, keep_id=None, abandoned_only=True)
    db.session.commit()
    raise NoGatewayAvailable("No payment gateway could create a link right now. " + "; ".join(notes), attempts)


# ---- one gateway: retries with the same key ------------------------------------------------------

def _create_with_retries(gateway: Gateway, request: LinkRequest, row: PaymentLink, click: LinkClick,
                         attempts: list, deadline: float, others_left: bool,
                         settings: Mapping[str, GatewaySetting]) -> GatewayLink:
    """Create at one gateway, retrying transient failures with the same key. With `others_left`, a refused
    connection (it never reached the gateway) and a timeout (it may have: its lookup can wait for the
    background) are not retried here, so the click goes to the next gateway at once."""
    budget_end = min(deadline, time.monotonic() + _seconds("PAYMENT_GATEWAY_BUDGET_SECONDS"))
    ambiguous = False

    def worth_retrying(exc: BaseException) -> bool:
        if not isinstance(exc, GatewayError) or not exc.transient:
            return False
        return not (others_left and exc.kind in (UNREACHABLE, TIMEOUT))

    retrying = Retrying(
        stop=stop_after_attempt(current_app.config["PAYMENT_RETRY_ATTEMPTS"])
        | stop_before_delay(max(0.0, budget_end - time.monotonic()))
        # Once our own failures have opened the breaker (or a half-open probe failed), stop hammering.
        | (lambda state: not _breaker_allows_retry(gateway.name, settings)),
        wait=_backoff(_seconds("PAYMENT_RETRY_BASE_DELAY")),
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
                found = _call(gateway, "find", number, request, click, attempts,
                              lambda: gateway.find_link(request, timeout))
                if found is not None:
                    return found
                timeout = min(gateway.settings.timeout, budget_end - time.monotonic())
                if timeout < 0.05:
                    raise GatewayError(gateway.name, TIMEOUT, "budget_exhausted", "lookup used the time left")
            try:
                return _call(gateway, "create", number, request, click, attempts,
                             lambda: gateway.create_link(request, timeout))
            except GatewayError as exc:
                if exc.kind in (TIMEOUT, CONFLICT):
                    ambiguous = True
                if exc.code in ("duplicate_reference", "idempotency_error"):
                    # Our key is already there: an earlier call did take effect.
                    found = _call(gateway, "find", number, request, click, attempts,
                                  lambda: gateway.find_link(request, timeout))
                    if found is not None:
                        return found
                raise
    raise AssertionError("unreachable: tenacity either returned or raised")


def _backoff(base: float):
    """Full-jitter exponential backoff; a 429's Retry-After wins when it is longer."""
    import random

    def wait(state: RetryCallState) -> float:
        jitter = random.uniform(0, base * 2 ** (state.attempt_number - 1))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, GatewayError) and exc.kind == RATE_LIMITED and exc.retry_after:
            return max(jitter, float(exc.retry_after))
        return jitter

    return wait


def _call(gateway: Gateway, operation: str, number: int, request: LinkRequest | None,
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
        row.duration_ms = _ms_since(started)
        db.session.add(row)
        # A failure is written at once; a success rides on the commit that records its link.
        if row.outcome == "failure":
            db.session.commit()
        else:
            db.session.flush()
        attempts.append(row)


# ---- link rows, requests, reuse ------------------------------------------------------------------

GATEWAY_CODES = {"razorpay": "rp", "stripe": "st", "paypal": "pp"}


def _new_link_row(invoice: Invoice, gateway: Gateway, amount: Money) -> PaymentLink:
    sequence = 1 + db.session.scalar(
        db.select(db.func.count(PaymentLink.id)).where(PaymentLink.invoice_id == invoice.id,
                                                        PaymentLink.gateway == gateway.name))
    code = GATEWAY_CODES.get(gateway.name, gateway.name[:2])
    # Unique per (invoice, gateway, attempt); the random tail keeps two databases that share one gateway
    # account (staging and production, say) from colliding on Razorpay's unique reference_id.
    reference = f"{invoice.number}-{code}{sequence}-{secrets.token_hex(3)}"[:40]
    expires_at = (utcnow() + timedelta(seconds=current_app.config["PAYMENT_LINK_TTL_SECONDS"])).replace(microsecond=0)
    row = PaymentLink(invoice_id=invoice.id, gateway=gateway.name, reference=reference, status=LINK_PENDING,
                      currency=amount.currency, amount_minor=amount.minor, amount_paid_minor=0,
                      expires_at=expires_at)
    db.session.add(row)
    db.session.commit()  # persisted before the call: the key survives a crash mid-call
    return row


def build_request(invoice: Invoice, row: PaymentLink) -> LinkRequest:
    """The gateway request for a link row: a pure function of the row and invoice, so a retry or a later
    lookup sends byte-identical parameters under the same key."""
    base = current_app.config["FRONTEND_URL"]
    return LinkRequest(
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        amount=row.amount,
        reference=row.reference,
        description=f"Invoice {invoice.number} from {current_app.config['MERCHANT_NAME']}",
        customer_name=invoice.customer.name,
        customer_email=invoice.customer.email,
        customer_phone=invoice.customer.phone,
        return_url=f"{base}/pay/{invoice.pay_token}/return/{row.gateway}",
        cancel_url=f"{base}/pay/{invoice.pay_token}/cancelled/{row.gateway}",
        expires_at=row.expires_at,
        accept_partial=invoice.accept_partial,
        metadata={"invoice_id": str(invoice.id), "invoice_number": invoice.number},
    )


def _apply(row: PaymentLink, link: GatewayLink) -> None:
    row.link_id, row.url, row.status = link.link_id, link.url, link.status
    row.amount_paid_minor = link.amount_paid.minor
    if link.expires_at is not None:
        row.expires_at = link.expires_at


def _cache_key(invoice_id: int, amount: Money) -> str:
    return f"paylink:{invoice_id}:{amount.currency}:{amount.minor}"


def _reusable_link(invoice: Invoice, amount: Money, requested: str | None) -> PaymentLink | None:
    """A live link for this invoice and amount; the cache saves the query, the database decides."""
    fresh_until = utcnow() + REUSE_MARGIN
    cached_id = cache.get(_cache_key(invoice.id, amount))
    if cached_id is not None:
        row = db.session.get(PaymentLink, cached_id)
        if row is not None and row.is_live(fresh_until) and (requested in (None, row.gateway)):
            return row
        cache.delete(_cache_key(invoice.id, amount))
    # A link whose unpaid part is exactly what is due: a fresh one, or one already paid in part (Razorpay
    # partial payments), which the customer can keep paying instead of getting a second live link.
    stmt = (db.select(PaymentLink)
            .where(PaymentLink.invoice_id == invoice.id, PaymentLink.currency == amount.currency,
                   PaymentLink.amount_minor - PaymentLink.amount_paid_minor == amount.minor,
                   PaymentLink.status.in_(("created", "partially_paid")),
                   PaymentLink.expires_at > fresh_until)
            .order_by(PaymentLink.id.desc()))
    if requested:
        stmt = stmt.where(PaymentLink.gateway == requested)
    row = db.session.scalars(stmt).first()
    if row is not None:
        cache.set(_cache_key(invoice.id, amount), row.id, timeout=current_app.config["PAYMENT_LINK_CACHE_SECONDS"])
    return row


# ---- one click at a time per invoice ------------------------------------------------------------

def _acquire_lock(invoice_id: int, deadline: float) -> bool:
    """Compare-and-set on invoices.link_lock_until: works across processes on SQLite and PostgreSQL."""
    hold = timedelta(seconds=_seconds("PAYMENT_CLICK_DEADLINE_SECONDS") + 1)
    while True:
        now = utcnow()
        taken = db.session.execute(
            update(Invoice)
            .where(Invoice.id == invoice_id,
                   or_(Invoice.link_lock_until.is_(None), Invoice.link_lock_until < now))
            .values(link_lock_until=now + hold)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if taken == 1:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _release_lock(invoice_id: int) -> None:
    db.session.rollback()
    db.session.execute(update(Invoice).where(Invoice.id == invoice_id).values(link_lock_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _breaker_allows_retry(name: str, settings: Mapping[str, GatewaySetting]) -> bool:
    return routing.breaker_state(name, breaker(), settings) == "closed"


def _breaker_allows(name: str, settings: Mapping[str, GatewaySetting]) -> bool:
    return routing.breaker_admits(name, breaker(), settings)


# ---- links left behind ---------------------------------------------------------------------------

def _links_to_cancel(invoice_id: int, keep_id: int) -> bool:
    return db.session.scalar(
        db.select(db.func.count(PaymentLink.id)).where(
            PaymentLink.invoice_id == invoice_id, PaymentLink.id != keep_id,
            PaymentLink.status.in_(("created", "partially_paid", LINK_ABANDONED)))) > 0


@jobs.handler("cancel_other_links")
def cancel_other_links(invoice_id: int, keep_id: int | None, abandoned_only: bool = False) -> None:
    """Make every other link of the invoice unpayable: superseded live links, and abandoned ones (outcome
    unknown after a timeout) once their gateway answers a lookup. Runs in the background; what still
    cannot be reached stays `abandoned` for the next run (and reconciliation)."""
    invoice = db.session.get(Invoice, invoice_id)
    # A link paid in part is cancelled too once superseded: what it took is recorded, and it must not
    # take the rest a second time beside its successor.
    statuses = (LINK_ABANDONED,) if abandoned_only else ("created", "partially_paid", LINK_ABANDONED)
    rows = db.session.scalars(
        db.select(PaymentLink).where(PaymentLink.invoice_id == invoice_id, PaymentLink.id != (keep_id or -1),
                                     PaymentLink.status.in_(statuses))
    ).all()
    for row in rows:
        gateway = registry.get_gateway(row.gateway, current_app.config)
        if gateway is None:
            continue
        timeout = gateway.settings.timeout
        request = build_request(invoice, row)
        try:
            if row.status == LINK_ABANDONED:
                found = _call(gateway, "find", 1, request, None, [],
                              lambda: gateway.find_link(request, timeout))
                if found is None:
                    row.status = LINK_FAILED  # the gateway never made it
                    db.session.commit()
                    continue
                _apply(row, found)
            cancelled = _call(gateway, "cancel", 1, request, None, [],
                              lambda: gateway.cancel_link(row.link_id, timeout))
            row.status = cancelled.status if cancelled is not None else "cancelled"
            db.session.commit()
        except GatewayError:
            db.session.rollback()  # stays as it is; the attempt log says why


# ---- bookkeeping ---------------------------------------------------------------------------------

def record_customer_outcome(invoice: Invoice, gateway: str, outcome: str, reason: str,
                            link: PaymentLink | None = None, commit: bool = True) -> LinkClick:
    """A customer came back from a gateway without paying ("cancelled", "declined"): a row in the same
    click trail staff read on the invoice page, next to the clicks that made the link. The same outcome
    right after itself (a reload, a replayed URL) is not written twice: a real second try passes through
    the Pay button, which leaves a click of its own in between."""
    latest = db.session.scalar(db.select(LinkClick).where(LinkClick.invoice_id == invoice.id)
                               .order_by(LinkClick.id.desc()).limit(1))
    if latest is not None and (latest.outcome, latest.gateway, latest.payment_link_id) == (
            outcome, gateway, link.id if link else None):
        return latest
    click = LinkClick(invoice_id=invoice.id, actor_label=f"customer (at {registry.gateway_class(gateway).display_name})",
                      requested_gateway=gateway, outcome=outcome, gateway=gateway,
                      payment_link_id=link.id if link else None, reason=reason, duration_ms=0)
    db.session.add(click)
    if commit:
        db.session.commit()
    return click


def _record_click(invoice, actor_label, requested, outcome, started, link=None, reason="",
                  commit=True) -> LinkClick:
    click = LinkClick(invoice_id=invoice.id, actor_label=actor_label or "", requested_gateway=requested,
                      outcome=outcome, gateway=link.gateway if link else None,
                      payment_link_id=link.id if link else None, reason=reason, duration_ms=_ms_since(started))
    db.session.add(click)
    if commit:
        db.session.commit()
    else:
        db.session.flush()  # its id is needed now; the link row's commit writes it
    return click


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


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


def _plain_error(exc: GatewayError) -> str:
    return f"{ERROR_WORDS.get(exc.kind, exc.kind)} ({exc.code})"
