"""One click, one working link: reuse, routing, fallback without duplicates (issue 4).

generate_link(invoice) either returns a live link that is already there (cache, then the database, which
is the truth) or walks the routing plan: at each gateway it persists a link row with a fresh idempotency
key BEFORE calling (links.py), retries transient failures with the same key (calls.py). While a gateway not
yet asked is left, a refused connection moves on at once (that gateway is asked again last) and so does a
timeout (its row is left `abandoned`, looked up by key and cancelled by cancel.py in the background); at the
last gateway a timed-out call is looked up before it is tried again. Every call is a row in the attempt
log; every click is a LinkClick row (clicks.py). One click at a time per invoice (locking.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from flask import current_app

from .. import jobs
from ..extensions import db
from ..models import AuditEvent, GatewayAttempt, Invoice, PaymentLink
from ..models.payments import LINK_ABANDONED, LINK_FAILED
from . import admin_settings, clicks, links, locking, registry, routing
from .base import UNREACHABLE, GatewayError
from .calls import breaker_allows, create_with_retries, plain_error
from .wiring import breaker, seconds


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


def generate_link(invoice: Invoice, actor_label: str = "", requested: str | None = None,
                  fallback: bool = True) -> LinkResult:
    """fallback=False: only the requested gateway is tried (a customer who chose a way to pay is told
    when it fails, instead of being sent to another gateway's page unasked).

    What a click costs the database: a reuse is one read and one insert; a first click is one transaction
    before the gateway call (lock, the invoice's links, click row, link row with its key) and one after
    (attempt, link, click outcome, audit, lock released). Rows written are kept, not reloaded."""
    started = time.monotonic()
    deadline = started + seconds("PAYMENT_CLICK_DEADLINE_SECONDS")
    if requested and requested not in registry.GATEWAY_CLASSES:  # refused before the click records it
        raise routing.RoutingError(f"There is no gateway called {requested[:40]!r}.")
    if invoice.is_final:
        clicks.record(invoice, actor_label, requested, "refused", started, reason=f"invoice is {invoice.status}")
        raise LinkRefused(f"{invoice.number} is {invoice.status.replace('_', ' ')}: there is nothing to pay.")
    amount = invoice.amount_due
    cached_id, version = links.cached_id_and_settings_version(invoice.id, amount)
    admin = admin_settings.current(version, version_known=True)
    if requested:  # RoutingError before any change
        routing.plan(amount, current_app.config, breaker(), requested, admin.settings, admin.rules)

    with locking.objects_kept_across_commits():
        reused = links.from_cache(invoice.id, amount, cached_id, requested)
        if reused is not None:
            return _reuse(invoice, reused, actor_label, requested, started,
                          "a live link for this amount already exists")
        # Not in the cache: the database decides, under the invoice's lock.
        lock = locking.InvoiceLock(invoice)
        try:
            if not lock.take(deadline):
                # Another click held the invoice past our deadline; whatever it made is the answer.
                reused = links.reusable(links.of_invoice(invoice.id), amount, requested)
                if reused is not None:
                    links.remember(invoice.id, amount, reused)
                    return _reuse(invoice, reused, actor_label, requested, started, "made by a simultaneous request")
                raise NoGatewayAvailable("Another request is still creating this invoice's link; try again.", [])
            if invoice.is_final:  # as of the lock
                lock.let_go()
                clicks.record(invoice, actor_label, requested, "refused", started,
                              reason=f"invoice became {invoice.status}")
                raise LinkRefused(f"{invoice.number} is {invoice.status.replace('_', ' ')}: there is nothing to pay.")
            amount = invoice.amount_due
            earlier = links.of_invoice(invoice.id)
            reused = links.reusable(earlier, amount, requested)
            if reused is not None:
                lock.let_go()
                links.remember(invoice.id, amount, reused)
                return _reuse(invoice, reused, actor_label, requested, started,
                              "made by a simultaneous request" if lock.waited
                              else "a live link for this amount already exists")
            if invoice.status == "draft":
                invoice.open()
                AuditEvent.record(None, "invoice.opened", "invoice", invoice.id,
                                  "issued when its first payment link was generated", via=actor_label or None)
            return _create(invoice, amount, actor_label, requested, started, deadline, fallback, lock, earlier,
                           admin)
        finally:
            lock.release_if_held()


def _reuse(invoice, link, actor_label, requested, started, reason) -> LinkResult:
    clicks.record(invoice, actor_label, requested, "reused", started, link=link, reason=reason)
    return LinkResult(link, cached=True, reason=reason)


def _create(invoice, amount, actor_label, requested, started, deadline, fallback, lock, earlier,
            admin) -> LinkResult:
    click = clicks.record(invoice, actor_label, requested, "pending", started, commit=False)
    settings = admin.settings  # one snapshot for the whole click: routing and every breaker check
    candidates, skipped = routing.plan(amount, current_app.config, breaker(), requested, settings, admin.rules)
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
        # The plan read every breaker a moment ago: the first gateway asked needs no second read when it was
        # closed. Later ones are asked again, since our own failures may have opened them meanwhile.
        if not (candidate is candidates[0] and first_pass and candidate.closed) \
                and not breaker_allows(candidate.name, settings):
            notes.append(f"{candidate.name} skipped: circuit breaker open")
            continue
        row = links.new_row(invoice, candidate.gateway, amount, earlier)
        earlier.append(row)
        db.session.commit()  # lock, click and link row with its key: persisted before the call
        request = links.build_request(invoice, row)
        others_left = first_pass and any(fresh for _, fresh in queue)  # a gateway not yet asked
        try:
            found = create_with_retries(candidate.gateway, request, row, click, attempts, deadline, others_left,
                                        settings)
        except GatewayError as exc:
            failed_before = True
            # Abandoned (a timeout: it may exist): cancel_other_links looks it up by its key in the background.
            row.status = LINK_FAILED if exc.surely_not_applied else LINK_ABANDONED
            notes.append(f"{candidate.name} failed: {plain_error(exc)}")
            if others_left and exc.kind == UNREACHABLE:
                queue.append((candidate, False))
            continue
        links.apply(row, found)
        why = f"{candidate.gateway.display_name}: {candidate.why}"
        if notes:
            why += " (" + "; ".join(notes) + ")"
        click.outcome, click.gateway, click.payment_link_id = "created", candidate.name, row.id
        click.fallback, click.reason = failed_before, why
        click.duration_ms = clicks.ms_since(started)
        AuditEvent.record(None, "invoice.payment_link", "invoice", invoice.id,
                          f"{candidate.gateway.display_name} link for {amount.format()}", via=actor_label or None)
        if links.others_to_cancel(earlier, keep=row):
            jobs.enqueue("cancel_other_links", invoice_id=invoice.id, keep_id=row.id)
        lock.let_go()
        db.session.commit()
        links.remember(invoice.id, amount, row)
        return LinkResult(row, cached=False, reason=why, fallback=failed_before, attempts=attempts)

    click.outcome, click.reason, click.duration_ms = "failed", "; ".join(notes), clicks.ms_since(started)
    if any(row.status == LINK_ABANDONED for row in earlier):
        jobs.enqueue("cancel_other_links", invoice_id=invoice.id, keep_id=None, abandoned_only=True)
    lock.let_go()
    db.session.commit()
    raise NoGatewayAvailable("No payment gateway could create a link right now. " + "; ".join(notes), attempts)
