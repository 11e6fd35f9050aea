"""Invoices and receipts as PDF (issue 13): Jinja templates printed by WeasyPrint.

Rendering fetches nothing. Styles are inline, the QR code is a data: URI, and every other URL (an <img> or <link>
someone typed into a line description, were escaping ever to fail) is refused, so a PDF cannot be made to reach
into the network or the file system."""
from __future__ import annotations

import re

import segno
from flask import make_response, render_template
from weasyprint import HTML, default_url_fetcher

from ..extensions import db
from ..merchant import merchant_settings
from ..models import Invoice, Payment
from ..payments import registry

PAYABLE = ("open", "partially_paid")


class FetchRefused(ValueError):
    pass


def _fetch_nothing(url: str, *args, **kwargs):
    if url.startswith("data:"):
        return default_url_fetcher(url, *args, **kwargs)
    raise FetchRefused(f"a PDF fetches nothing from outside ({url[:60]!r})")


def html_to_pdf(html: str) -> bytes:
    return HTML(string=html, base_url="about:blank", url_fetcher=_fetch_nothing).write_pdf()


def _print(template: str, **context) -> bytes:
    return html_to_pdf(render_template(template, merchant=merchant_settings(), **context))


def _stamp(invoice: Invoice) -> str:
    """The word across the top for an invoice that is not simply waiting for money."""
    return {"draft": "Draft", "void": "Void", "paid": "Paid", "overpaid": "Paid",
            "refunded": "Refunded"}.get(invoice.status, "")


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice: merchant and customer, lines with tax, discount, totals, what is paid and due, and for an
    invoice that can be paid its pay page as a link and a QR code."""
    from ..pay.routes import pay_url

    payable = invoice.status in PAYABLE and invoice.amount_due.minor > 0
    url = pay_url(invoice) if payable else ""
    qr = segno.make(url, error="m").svg_data_uri(scale=3, border=1) if url else ""
    return _print("pdf/invoice.html", invoice=invoice, totals=invoice.totals(), pay_url=url, qr=qr,
                  stamp=_stamp(invoice))


def receipt_pdf(payment: Payment) -> bytes:
    """One payment: amount, gateway, the gateway's payment id, when, what went back, and what is still due."""
    invoice = db.session.get(Invoice, payment.invoice_id)
    return _print("pdf/receipt.html", invoice=invoice, payment=payment,
                  gateway=registry.gateway_class(payment.gateway).display_name)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "document"


def invoice_filename(invoice: Invoice) -> str:
    return f"invoice-{_safe(invoice.number)}.pdf"


def receipt_filename(payment: Payment) -> str:
    invoice = db.session.get(Invoice, payment.invoice_id)
    return f"receipt-{_safe(invoice.number)}-{payment.id}.pdf"


def pdf_response(data: bytes, filename: str, public: bool = False):
    """Shown in the browser's PDF viewer, saved under `filename`. A public one (the pay page's) is never cached:
    its URL carries the pay token."""
    response = make_response(data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store" if public else "private, no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
