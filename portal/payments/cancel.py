"""Links left behind: once a click has its link, every other link of the invoice is made unpayable in the
background (superseded live links, and abandoned ones once their gateway answers a lookup)."""
from __future__ import annotations

from flask import current_app

from .. import jobs
from ..extensions import db
from ..models import LIVE_STATUSES, Invoice, PaymentLink
from ..models.payments import LINK_ABANDONED, LINK_FAILED
from . import registry
from .base import GatewayError
from .calls import call
from .links import apply, build_request


@jobs.handler("cancel_other_links")
def cancel_other_links(invoice_id: int, keep_id: int | None, abandoned_only: bool = False) -> None:
    """Make every other link of the invoice unpayable: superseded live links, and abandoned ones (outcome
    unknown after a timeout) once their gateway answers a lookup. Runs in the background; what still
    cannot be reached stays `abandoned` for the next run (and reconciliation)."""
    invoice = db.session.get(Invoice, invoice_id)
    # A link paid in part is cancelled too once superseded: what it took is recorded, and it must not
    # take the rest a second time beside its successor.
    statuses = (LINK_ABANDONED,) if abandoned_only else (*LIVE_STATUSES, LINK_ABANDONED)
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
                found = call(gateway, "find", 1, request, None, [],
                             lambda: gateway.find_link(request, timeout))
                if found is None:
                    row.status = LINK_FAILED  # the gateway never made it
                    db.session.commit()
                    continue
                apply(row, found)
            cancelled = call(gateway, "cancel", 1, request, None, [],
                             lambda: gateway.cancel_link(row.link_id, timeout))
            row.status = cancelled.status if cancelled is not None else "cancelled"
            db.session.commit()
        except GatewayError:
            db.session.rollback()  # stays as it is; the attempt log says why
