"""The click trail staff read on an invoice page: a LinkClick row for every click, and for a customer who
came back from a gateway without paying."""
from __future__ import annotations

import time

from ..extensions import db
from ..models import Invoice, LinkClick, PaymentLink
from . import registry


def record(invoice, actor_label, requested, outcome, started, link=None, reason="", commit=True) -> LinkClick:
    click = LinkClick(invoice_id=invoice.id, actor_label=actor_label or "", requested_gateway=requested,
                      outcome=outcome, gateway=link.gateway if link else None,
                      payment_link_id=link.id if link else None, reason=reason, duration_ms=ms_since(started))
    db.session.add(click)
    if commit:
        db.session.commit()
    else:
        db.session.flush()  # its id is needed now; the link row's commit writes it
    return click


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


def ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
