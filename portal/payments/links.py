"""Link rows: a new row with its idempotency key, the gateway request built from it, the gateway's answer
applied to it, and finding a live one to hand out again (the cache saves the read, the database decides)."""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app

from ..extensions import cache, db
from ..models import LIVE_STATUSES, Invoice, PaymentLink, utcnow
from ..models.payments import LINK_ABANDONED, LINK_PENDING
from ..money import Money
from . import admin_settings
from .base import Gateway, GatewayLink, LinkRequest

REUSE_MARGIN = timedelta(minutes=5)  # a link about to expire is not handed to a customer
GATEWAY_CODES = {"razorpay": "rp", "stripe": "st", "paypal": "pp"}


def new_row(invoice: Invoice, gateway: Gateway, amount: Money, earlier: list[PaymentLink]) -> PaymentLink:
    """A pending row with its idempotency key; `earlier`: the invoice's links, which number this one. The
    caller commits it before calling the gateway: the key survives a crash mid-call."""
    sequence = 1 + sum(1 for row in earlier if row.gateway == gateway.name)
    code = GATEWAY_CODES.get(gateway.name, gateway.name[:2])
    # Unique per (invoice, gateway, attempt); the random tail keeps two databases that share one gateway
    # account (staging and production, say) from colliding on Razorpay's unique reference_id.
    reference = f"{invoice.number}-{code}{sequence}-{secrets.token_hex(3)}"[:40]
    expires_at = (utcnow() + timedelta(seconds=current_app.config["PAYMENT_LINK_TTL_SECONDS"])).replace(microsecond=0)
    row = PaymentLink(invoice_id=invoice.id, gateway=gateway.name, reference=reference, status=LINK_PENDING,
                      currency=amount.currency, amount_minor=amount.minor, amount_paid_minor=0,
                      expires_at=expires_at)
    db.session.add(row)
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


def apply(row: PaymentLink, link: GatewayLink) -> None:
    """What the gateway answered, onto our row."""
    row.link_id, row.url, row.status = link.link_id, link.url, link.status
    row.amount_paid_minor = link.amount_paid.minor
    if link.expires_at is not None:
        row.expires_at = link.expires_at


def cache_key(invoice_id: int, amount: Money) -> str:
    return f"paylink:{invoice_id}:{amount.currency}:{amount.minor}"


def cached_id_and_settings_version(invoice_id: int, amount: Money) -> tuple[int | None, str | None]:
    """The cached link id for this amount and the admins' settings version, in one cache round trip."""
    cached_id, version = cache.get_many(cache_key(invoice_id, amount), admin_settings.VERSION_KEY)
    return cached_id, version


def remember(invoice_id: int, amount: Money, row: PaymentLink) -> None:
    cache.set(cache_key(invoice_id, amount), row.id, timeout=current_app.config["PAYMENT_LINK_CACHE_SECONDS"])


def from_cache(invoice_id: int, amount: Money, cached_id: int | None, requested: str | None) -> PaymentLink | None:
    """The cached link when it is still live (and from the requested gateway): one primary-key read."""
    if cached_id is None:
        return None
    row = db.session.get(PaymentLink, cached_id)
    if row is not None and row.is_live(utcnow() + REUSE_MARGIN) and requested in (None, row.gateway):
        return row
    cache.delete(cache_key(invoice_id, amount))
    return None


def of_invoice(invoice_id: int) -> list[PaymentLink]:
    """Every link of an invoice, oldest first: one read that answers reuse, numbering and what to cancel."""
    return list(db.session.scalars(db.select(PaymentLink).where(PaymentLink.invoice_id == invoice_id)
                                   .order_by(PaymentLink.id)))


def reusable(rows: list[PaymentLink], amount: Money, requested: str | None) -> PaymentLink | None:
    """The newest live link whose unpaid part is exactly what is due: a fresh one, or one already paid in
    part (Razorpay partial payments), which the customer can keep paying instead of getting a second link."""
    fresh_until = utcnow() + REUSE_MARGIN
    for row in reversed(rows):
        if (row.currency == amount.currency and row.amount_minor - row.amount_paid_minor == amount.minor
                and row.expires_at is not None and row.is_live(fresh_until) and requested in (None, row.gateway)):
            return row
    return None


def others_to_cancel(rows: list[PaymentLink], keep: PaymentLink | None) -> bool:
    """Is any other link still payable, or of unknown outcome? Then cancel_other_links has work."""
    return any(row is not keep and row.status in (*LIVE_STATUSES, LINK_ABANDONED) for row in rows)
