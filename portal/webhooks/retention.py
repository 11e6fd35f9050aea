"""Old webhook deliveries are deleted after WEBHOOK_RETENTION_DAYS, by a background job the worker queues
every WEBHOOK_PRUNE_INTERVAL_SECONDS (and by `flask --app wsgi payments prune-webhooks`).

Kept however old, until someone has dealt with them:
- `received`: a delivery whose handling never finished (the process died mid-request);
- `unknown_object`: a genuine event about a link we cannot find (a restore from backup, a link made
  elsewhere), which only a person can place;
- `mismatch`, while its invoice has an unresolved mismatch from that gateway (PaymentMismatch).
The events already applied stay remembered in processed_events (without their delivery), so a replay of
a pruned delivery is still answered as a duplicate. PayPal transmission ids are pruned on the same
schedule: a replay of one that old is refused by PAYPAL_WEBHOOK_TOLERANCE_SECONDS anyway.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, delete, exists, not_, or_, update

from .. import jobs
from ..extensions import db
from ..models import PaymentMismatch, ProcessedEvent, WebhookDelivery, WebhookTransmission, utcnow

log = logging.getLogger("portal.webhooks.retention")
UNAPPLIED = ("received", "unknown_object")
BATCH = 500


def _prunable(cutoff):
    D = WebhookDelivery
    open_mismatch = exists().where(PaymentMismatch.invoice_id == D.invoice_id,
                                   PaymentMismatch.gateway == D.gateway, PaymentMismatch.resolved_at.is_(None))
    return and_(D.received_at < cutoff, D.outcome.not_in(UNAPPLIED),
                not_(and_(D.outcome == "mismatch", or_(D.invoice_id.is_(None), open_mismatch))))


def prune(retention_days: int | None = None) -> int:
    """Delete deliveries older than the retention period, a batch per transaction; returns how many."""
    days = retention_days or current_app.config["WEBHOOK_RETENTION_DAYS"]
    cutoff = utcnow() - timedelta(days=days)
    deleted = 0
    while True:
        ids = db.session.scalars(db.select(WebhookDelivery.id).where(_prunable(cutoff))
                                 .order_by(WebhookDelivery.id).limit(BATCH)).all()
        if not ids:
            break
        db.session.execute(update(ProcessedEvent).where(ProcessedEvent.delivery_id.in_(ids))
                           .values(delivery_id=None).execution_options(synchronize_session=False))
        db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                           .execution_options(synchronize_session=False))
        db.session.commit()
        deleted += len(ids)
    db.session.execute(delete(WebhookTransmission).where(WebhookTransmission.received_at < cutoff)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    if deleted:
        log.info("pruned %d webhook deliveries older than %d days", deleted, days)
    return deleted


@jobs.handler("prune_webhook_deliveries")
def prune_job() -> None:
    prune()
