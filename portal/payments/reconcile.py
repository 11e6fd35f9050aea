"""Reconciliation: ask each gateway about every link still open here, and apply what the webhooks missed.

Run by `flask --app wsgi payments reconcile`, by the job worker every RECONCILE_INTERVAL_SECONDS, and for one
invoice by its return page. Paid at the gateway but open here -> the payment is applied (once: payments are
unique per gateway id); amount or currency differs -> a mismatch for staff; expired or cancelled at the
gateway -> closed here too. Refunds still open here are asked about too (refunds.reconcile_refunds): pending
ones until they end, requested ones whose answer was lost by our reference.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import current_app

from .. import jobs
from ..extensions import db
from ..models import PaymentLink, PaymentMismatch
from . import ledger, refunds, registry
from .base import GatewayError

log = logging.getLogger("portal.payments.reconcile")
OPEN_STATES = ("created", "partially_paid", "abandoned")


@dataclass
class Report:
    checked: int = 0
    applied: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    refunds: list[str] = field(default_factory=list)


def reconcile(invoice_id: int | None = None) -> Report:
    report = Report()
    stmt = db.select(PaymentLink).where(PaymentLink.status.in_(OPEN_STATES), PaymentLink.link_id.is_not(None))
    if invoice_id is not None:
        stmt = stmt.where(PaymentLink.invoice_id == invoice_id)
    for link_row_id in db.session.scalars(stmt.with_only_columns(PaymentLink.id).order_by(PaymentLink.id)).all():
        row = db.session.get(PaymentLink, link_row_id)
        adapter = registry.get_gateway(row.gateway, current_app.config)
        if adapter is None:
            continue
        label = f"{row.invoice.number} {row.gateway} {row.link_id}"
        report.checked += 1
        try:
            remote = adapter.fetch_link(row.link_id, adapter.settings.timeout)
        except GatewayError as exc:
            db.session.rollback()
            report.unreachable.append(f"{label}: {exc.kind} {exc.code}")
            continue
        for outcome, detail in ledger.apply_link_state(row, remote, "reconcile"):
            if outcome == ledger.APPLIED:
                report.applied.append(f"{label}: {detail}")
            elif outcome == ledger.MISMATCH:
                report.mismatches.append(f"{label}: {detail}")
            elif outcome == ledger.LINK_CLOSED:
                report.closed.append(f"{label}: {detail}")
        db.session.commit()
    if invoice_id is None:
        report.refunds = refunds.reconcile_refunds()
    log.info("reconciled %d links: %d payments applied, %d closed, %d mismatches, %d unreachable",
             report.checked, len(report.applied), len(report.closed), len(report.mismatches),
             len(report.unreachable))
    return report


def open_mismatches() -> list[PaymentMismatch]:
    return list(db.session.scalars(db.select(PaymentMismatch).where(PaymentMismatch.resolved_at.is_(None))
                                   .order_by(PaymentMismatch.id.desc())))


@jobs.handler("reconcile")
def reconcile_job(invoice_id: int | None = None) -> None:
    reconcile(invoice_id)
