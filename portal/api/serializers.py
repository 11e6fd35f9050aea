"""Invoices as the JSON API shows them (docs/endpoints.md): amounts as decimal strings plus minor units."""
from flask import current_app, url_for

from ..models import Customer, Invoice
from ..money import Money
from ..totals import Totals, format_milli


def _iso(value):
    return value.isoformat() if value else None


def pay_url(invoice: Invoice) -> str:
    return f"{current_app.config['FRONTEND_URL']}/pay/{invoice.pay_token}"


def _quantity(milli: int):
    # Whole quantities stay JSON integers as before; fractions are exact decimal strings ("1.5").
    return milli // 1000 if milli % 1000 == 0 else format_milli(milli)


def totals_json(totals: Totals, currency: str, discount_percent_milli: int = 0) -> dict:
    """Subtotal, discount, tax per rate and total: the same numbers the form and pay page show."""
    def money(minor: int) -> str:
        return Money(minor, currency).decimal_string()

    discount = None
    if totals.discount_minor or discount_percent_milli:
        discount = {"type": "percent" if discount_percent_milli else "amount",
                    "value": format_milli(discount_percent_milli) if discount_percent_milli
                    else money(totals.discount_minor),
                    "amount": money(totals.discount_minor), "amount_minor": totals.discount_minor}
    return {
        "subtotal": money(totals.subtotal_minor),
        "subtotal_minor": totals.subtotal_minor,
        "discount": discount,
        "taxes": [{"name": t.name, "percent": format_milli(t.percent_milli),
                   "taxable": money(t.taxable_minor), "taxable_minor": t.taxable_minor,
                   "amount": money(t.tax_minor), "amount_minor": t.tax_minor} for t in totals.taxes],
        "tax": money(totals.tax_minor),
        "tax_minor": totals.tax_minor,
        "total": money(totals.total_minor),
        "total_minor": totals.total_minor,
    }


def invoice_json(invoice: Invoice) -> dict:
    totals = invoice.totals()
    return {
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "amount": invoice.total.decimal_string(),
        "amount_minor": invoice.total_minor,
        "amount_paid": invoice.amount_paid.decimal_string(),
        "amount_paid_minor": invoice.amount_paid_minor,
        "amount_due_minor": invoice.amount_due.minor,
        "customer": {
            "name": invoice.customer.name,
            "email": invoice.customer.email,
            "phone": invoice.customer.phone or None,
        },
        "items": [
            {
                "description": line.description,
                "quantity": _quantity(line.quantity_milli),
                "quantity_milli": line.quantity_milli,
                "unit_price": line.unit_price.decimal_string(),
                "unit_price_minor": line.unit_price_minor,
                "amount": line.amount.decimal_string(),
                "amount_minor": line.amount.minor,
                "tax_rate_id": line.tax_rate_id,
                "tax_rate": ({"name": line.tax_name, "percent": format_milli(line.tax_percent_milli)}
                             if line.tax_name else None),
                "discount_minor": line_totals.discount_minor,
                "tax_minor": line_totals.tax_minor,
            }
            for line, line_totals in zip(invoice.lines, totals.lines)
        ],
        **totals_json(totals, invoice.currency, invoice.discount_percent_milli),
        "due_date": _iso(invoice.due_date),
        "accept_partial": invoice.accept_partial,
        "notes": invoice.notes,
        "pay_url": pay_url(invoice),
        "html_url": url_for("invoices.detail", invoice_id=invoice.id, _external=True),
        "created_at": _iso(invoice.created_at),
        "opened_at": _iso(invoice.opened_at),
        "paid_at": _iso(invoice.paid_at),
        "voided_at": _iso(invoice.voided_at),
        "links": [link_json(link) for link in invoice.payment_links if link.link_id],
        "payments": [payment_json(p) for p in invoice.payments],
        # Money back (issue 12): what was refunded and lost to disputes, and what the merchant keeps.
        "amount_refunded": invoice.amount_refunded.decimal_string(),
        "amount_refunded_minor": invoice.amount_refunded_minor,
        "amount_charged_back_minor": invoice.amount_charged_back_minor,
        "collected_net": invoice.collected_net.decimal_string(),
        "collected_net_minor": invoice.collected_net.minor,
    }


def payment_json(p) -> dict:
    from ..payments.refunds import refundable

    return {"id": p.id, "gateway": p.gateway, "payment_id": p.payment_id, "amount": p.amount.decimal_string(),
            "amount_minor": p.amount_minor, "currency": p.currency, "status": p.status, "source": p.source,
            "received_at": _iso(p.received_at),
            "amount_refunded": p.amount_refunded.decimal_string(), "amount_refunded_minor": p.amount_refunded_minor,
            "refundable_minor": refundable(p).minor,
            "refunds": [refund_json(r) for r in p.refunds],
            "disputes": [dispute_json(d) for d in p.disputes]}


def refund_json(r) -> dict:
    return {"id": r.id, "payment_id": r.payment_row_id, "gateway": r.gateway, "refund_id": r.refund_id,
            "amount": r.amount.decimal_string(), "amount_minor": r.amount_minor, "currency": r.currency,
            "status": r.public_status, "reason": r.reason, "failure": r.failure or None, "source": r.source,
            "created_at": _iso(r.created_at), "settled_at": _iso(r.settled_at)}


def dispute_json(d) -> dict:
    return {"id": d.id, "gateway": d.gateway, "dispute_id": d.dispute_id, "amount": d.amount.decimal_string(),
            "amount_minor": d.amount_minor, "currency": d.currency, "status": d.status, "reason": d.reason,
            "respond_by": _iso(d.respond_by), "opened_at": _iso(d.opened_at), "closed_at": _iso(d.closed_at)}


def link_json(link) -> dict:
    return {
        "gateway": link.gateway,
        "link_id": link.link_id,
        "url": link.url,
        "status": link.status,
        "amount": link.amount.decimal_string(),
        "amount_minor": link.amount_minor,
        "created_at": _iso(link.created_at),
        "expires_at": _iso(link.expires_at),
    }


def attempt_json(attempt) -> dict:
    return {
        "gateway": attempt.gateway,
        "operation": attempt.operation,
        "attempt": attempt.attempt,
        "outcome": attempt.outcome,
        "error_code": attempt.error_code,
        "duration_ms": attempt.duration_ms,
    }


def customer_json(customer: Customer, outstanding: dict[str, int], totals=None) -> dict:
    """A customer as it is now; `outstanding` is {currency: minor units owed}, `totals` its CurrencyTotals."""
    out = {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone or None,
        "outstanding": [_money_json(minor, currency) for currency, minor in sorted(outstanding.items())],
        "html_url": url_for("customers.detail", customer_id=customer.id, _external=True),
        "created_at": _iso(customer.created_at),
    }
    if totals is not None:
        out["totals"] = [
            {"currency": t.currency,
             "invoiced": Money(t.invoiced, t.currency).decimal_string(), "invoiced_minor": t.invoiced,
             "paid": Money(t.paid, t.currency).decimal_string(), "paid_minor": t.paid,
             "outstanding": Money(t.outstanding, t.currency).decimal_string(), "outstanding_minor": t.outstanding}
            for t in totals
        ]
    return out


def _money_json(minor: int, currency: str) -> dict:
    return {"currency": currency, "amount": Money(minor, currency).decimal_string(), "amount_minor": minor}
