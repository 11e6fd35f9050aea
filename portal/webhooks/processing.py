"""What happens to a delivery once its event is verified: claim the event id (ProcessedEvent), then apply it
through the ledger, in one place for a live delivery (routes.receive) and for an admin's Reprocess
(portal/inbox). The primary key of processed_events is what makes an event apply once, however many
deliveries, redeliveries or reprocess clicks carry it, on one worker or many.
"""
from __future__ import annotations

import json
import logging

from flask import current_app
from sqlalchemy import inspect
from werkzeug.datastructures import Headers

from ..extensions import db
from ..models import ProcessedEvent, WebhookDelivery
from ..payments import ledger, registry
from ..payments.base import GatewayError, PaymentEvent, WebhookRejected

log = logging.getLogger("portal.webhooks")
FAILED = "failed"  # stored and verified, but applying it raised: kept for the gateway's retry or Reprocess


def apply_verified(delivery: WebhookDelivery, event: PaymentEvent) -> str:
    """Store the delivery, claim its event and apply it, in one transaction with one commit; returns the
    outcome (`duplicate` when the event was already claimed).

    If applying fails, the transaction is rolled back (claim and changes with it) and the delivery alone is
    committed, as `failed`: nothing a gateway gave us is lost, and a retry or Reprocess applies it later. (A
    savepoint would do the same at two more statements on every delivery; failures are rare.)"""
    delivery.verified, delivery.event_id, delivery.event_type = True, event.event_id, event.event_type
    db.session.add(delivery)
    try:
        db.session.flush()  # the delivery's id, for the claim
        # PostgreSQL: a concurrent delivery of the same event waits here until the first one commits.
        if ledger.insert_once(ProcessedEvent, gateway=delivery.gateway, event_id=event.event_id,
                              delivery_id=delivery.id):
            outcome, invoice_id, detail = ledger.apply_event(event, source="webhook")
        else:
            outcome, invoice_id, detail = ledger.DUPLICATE, None, "already processed"
        delivery.outcome, delivery.detail, delivery.invoice_id = outcome, detail[:2000], invoice_id
        db.session.commit()
        return outcome
    except Exception as exc:  # a bug or a constraint we did not foresee: keep the delivery, say what happened
        db.session.rollback()
        log.exception("%s event %s could not be applied", delivery.gateway, event.event_id)
        _keep_failed(delivery, f"{type(exc).__name__}: {exc}")
        return FAILED


def _keep_failed(delivery: WebhookDelivery, detail: str) -> None:
    """Commit the delivery as `failed`: a new row when its INSERT went with the rollback, else the stored one
    (an admin's Reprocess)."""
    if inspect(delivery).persistent:
        delivery.outcome, delivery.detail = FAILED, detail[:2000]
    else:
        db.session.add(WebhookDelivery(
            gateway=delivery.gateway, event_id=delivery.event_id, event_type=delivery.event_type, body=delivery.body,
            body_size=delivery.body_size, body_sha256=delivery.body_sha256, headers=delivery.headers, verified=True,
            outcome=FAILED, detail=detail[:2000]))
    db.session.commit()


class CannotReprocess(Exception):
    """Why a stored delivery cannot be run again, in words for the admin who asked."""


def reprocessable(delivery: WebhookDelivery) -> str | None:
    """None when Reprocess may be offered; otherwise why not, in words."""
    if delivery.body_truncated:
        return "only the first bytes of this delivery were kept, so it cannot be checked again"
    if delivery.outcome == "rejected":
        return "it failed verification: a delivery we cannot trust is never run again"
    if delivery.gateway not in registry.GATEWAY_CLASSES:
        return "this gateway is not known here"
    return None


def reprocess(delivery: WebhookDelivery) -> tuple[str, str]:
    """Run a stored delivery again exactly as a live one: verify its stored bytes and headers, claim its event,
    apply it. Returns (outcome, words). An event already claimed is answered `duplicate` and changes nothing,
    so no click applies money twice. A delivery that had been handled keeps its recorded outcome; one whose
    handling never finished (gateway unreachable while verifying, a crash) takes the new one.

    Raises CannotReprocess when the delivery cannot be verified now (its signature too old for the
    gateway's tolerance, the gateway still unreachable): nothing is changed then."""
    why_not = reprocessable(delivery)
    if why_not:
        raise CannotReprocess(why_not)
    adapter = registry.get_gateway(delivery.gateway, current_app.config)
    if adapter is None:
        raise CannotReprocess(f"{delivery.gateway} is not configured here")
    try:
        headers = Headers(list(json.loads(delivery.headers or "{}").items()))
    except (ValueError, AttributeError):
        raise CannotReprocess("its stored headers cannot be read") from None
    try:
        # Fresh as of when it arrived: a delivery that was on time then is on time now.
        event = adapter.verify_webhook(delivery.body, headers, adapter.settings.timeout, delivery.received_at)
        ledger.claim_transmission(event, delivery.body)
    except WebhookRejected as exc:
        db.session.rollback()
        raise CannotReprocess(f"it does not verify now: {exc}") from None
    except GatewayError as exc:
        db.session.rollback()
        raise CannotReprocess(f"{delivery.gateway} could not be asked now ({exc.kind} {exc.code}); try again later") from None
    if delivery.verified:
        # Handled before: run the same path on a scratch delivery of the same event, so the record of what
        # happened the first time stays as it was. Claimed already, this answers duplicate.
        claimed = db.session.get(ProcessedEvent, (delivery.gateway, event.event_id))
        if claimed is not None:
            return ledger.DUPLICATE, "already processed: nothing changed"
    outcome = apply_verified(delivery, event)
    db.session.refresh(delivery)
    return outcome, delivery.detail
