"""The customer's side: the Pay Now page, the way to the gateway, and the way back (docs/endpoints.md).

The page asks the engine for a live link only when the customer presses Pay, so a link shared yesterday
still works when a gateway is down today. The return pages never trust the browser: each asks the gateway
(Razorpay signature + fetch, Stripe retrieve, PayPal capture) and applies what it says.
"""
import io
from urllib.parse import quote

import segno
from flask import abort, current_app, make_response, redirect, render_template, request, url_for

from .. import pdf
from ..extensions import db, limiter
from ..merchant import merchant_settings
from ..models import Invoice, Payment, PaymentLink
from ..payments import engine, ledger, registry, routing
from ..payments.base import LINK_CANCELLED, GatewayError, WebhookRejected
from ..validation import query_text
from . import bp

CUSTOMER_GAVE_UP = ("cancelled", "declined")
RETURN_LINK_PARAMS = {"razorpay": "razorpay_payment_link_id", "stripe": "session_id", "paypal": "token"}


def get_invoice_by_token_or_404(token: str) -> Invoice:
    invoice = db.session.scalar(db.select(Invoice).where(Invoice.pay_token == token)) if len(token) < 100 else None
    if invoice is None:
        abort(404, "This payment link is not valid. Ask the merchant for a new one.")
    return invoice


def payment_options(invoice: Invoice, leave_out: str | None = None) -> list[dict]:
    """Gateways the customer may choose: configured, switched on, healthy, able to take the amount."""
    if invoice.is_final or invoice.status == "draft":
        return []
    candidates, _ = routing.plan(invoice.amount_due, current_app.config, engine.breaker())
    return [{"name": c.name, "label": c.gateway.customer_label} for c in candidates if c.name != leave_out]


def render_page(invoice: Invoice, status: int = 200, error: str | None = None, leave_out: str | None = None,
                returned: str | None = None, via: str | None = None):
    options = payment_options(invoice, leave_out)
    # A discreet mark when the customer's payment would go to a gateway in test mode (test keys, a sandbox).
    test_payment = any(getattr(registry.get_gateway(o["name"], current_app.config), "test_mode", False)
                       for o in options)
    response = make_response(render_template(
        "pay/page.html", invoice=invoice, options=options, merchant=merchant_settings().business_name,
        test_payment=test_payment,
        returned=returned, via=gateway_label(via), error=error,
        # After a problem the customer picks a way to pay by name, even when one way is left.
        labelled=bool(error or returned in CUSTOMER_GAVE_UP)), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def gateway_label(name: str | None) -> str | None:
    return registry.gateway_class(name).display_name if name in registry.GATEWAY_CLASSES else None


def pay_url(invoice: Invoice) -> str:
    return f"{current_app.config['FRONTEND_URL']}/pay/{invoice.pay_token}"


@bp.get("/<token:token>")
def page(token: str):
    invoice = get_invoice_by_token_or_404(token)
    return render_page(invoice, returned=query_text("returned", max_length=20), via=query_text("via", max_length=20))


@bp.get("/<token:token>/status")
def status(token: str):
    """The self-updating status; answers 286 (htmx: stop polling) once the state is final."""
    invoice = get_invoice_by_token_or_404(token)
    response = make_response(render_template("pay/_status.html", invoice=invoice))
    response.headers["Cache-Control"] = "no-store"
    if invoice.is_final:
        response.status_code = 286
    return response


@bp.post("/<token:token>")
@limiter.limit("20 per minute")
def start(token: str):
    invoice = get_invoice_by_token_or_404(token)
    requested = request.form.get("gateway") or None
    if requested and requested not in registry.GATEWAY_CLASSES:
        abort(400, "Choose one of the payment methods shown.")
    if invoice.status == "draft":
        abort(404, "This invoice has not been issued yet.")
    try:
        # The customer chose this way to pay: if it fails they are told and choose again, never moved to
        # another gateway's page unasked. A plain "Pay now" (one way shown) lets the engine fall back.
        result = engine.generate_link(invoice, actor_label="customer (pay page)", requested=requested,
                                      fallback=requested is None)
    except engine.LinkRefused:
        return redirect(url_for("pay.page", token=token)), 303  # paid or void meanwhile: the page says so
    except (routing.RoutingError, engine.NoGatewayAvailable):
        return render_page(invoice, 503, chosen_failed_message(invoice, requested), leave_out=requested)
    return redirect(result.link.url, code=303)


def chosen_failed_message(invoice: Invoice, requested: str | None) -> str:
    others = payment_options(invoice, leave_out=requested)
    if requested is None or not others:
        return ("We could not reach a payment provider just now. Nothing was charged. "
                "Please try again in a minute.")
    label = registry.gateway_class(requested).customer_label
    return (f"{label} is not working just now. Nothing was charged: "
            "pay another way below, or try again in a few minutes.")


@bp.get("/<token:token>/cancelled/<gateway>")
@limiter.limit("20 per minute")
def cancelled(token: str, gateway: str):
    """The customer left the gateway's page by its cancel link: nothing was paid. The gateway tells whether
    a payment was refused first (then it is a decline). Staff see either in the invoice's trail; the
    customer sees the buttons again."""
    invoice = get_invoice_by_token_or_404(token)
    if gateway not in registry.GATEWAY_CLASSES:
        abort(404)
    link = db.session.scalar(db.select(PaymentLink).where(
        PaymentLink.invoice_id == invoice.id, PaymentLink.gateway == gateway, PaymentLink.link_id.is_not(None))
        .order_by(PaymentLink.id.desc()).limit(1))
    outcome = "cancelled"
    if link is not None and not invoice.is_final:
        adapter = registry.get_gateway(gateway, current_app.config)
        try:
            if adapter.attempt_declined(adapter.fetch_link(link.link_id, adapter.settings.timeout)):
                outcome = "declined"
        except GatewayError:
            pass  # a cancel is the safe thing to report
        name = adapter.display_name
        reason = (f"{name} declined the payment, then the customer left {name}'s page; nothing was charged"
                  if outcome == "declined" else f"cancelled on {name}'s page and came back; nothing was charged")
        engine.record_customer_outcome(invoice, gateway, outcome, reason, link=link)
    return redirect(url_for("pay.page", token=token, returned=outcome, via=gateway)), 303


@bp.get("/<token:token>/return/<gateway>")
def returned(token: str, gateway: str):
    """The customer is back from the gateway. Ask the gateway what happened and apply it."""
    invoice = get_invoice_by_token_or_404(token)
    param = RETURN_LINK_PARAMS.get(gateway)
    link_id = query_text(param, max_length=255) if param else ""
    link = db.session.scalar(db.select(PaymentLink).where(
        PaymentLink.invoice_id == invoice.id, PaymentLink.gateway == gateway, PaymentLink.link_id == link_id)
    ) if param and link_id else None
    if link is None:
        return redirect(url_for("pay.page", token=token)), 303
    adapter = registry.get_gateway(gateway, current_app.config)
    outcome = "checking"
    try:
        remote = adapter.verify_return(request.args, link.link_id, adapter.settings.timeout)
        known_cancelled = link.status == LINK_CANCELLED
        results = ledger.apply_link_state(link, remote, "return")
        db.session.commit()
        outcome = "paid" if any(r[0] in (ledger.APPLIED, ledger.DUPLICATE) for r in results) else remote.status
        if outcome == LINK_CANCELLED:
            # Back from the gateway's pay step, yet the link can no longer be paid: the gateway said no
            # (PayPal: the capture was declined). Staff see it in the trail.
            outcome = "declined"
            if not known_cancelled:  # a reload of the return URL is not a second decline
                engine.record_customer_outcome(invoice, gateway, "declined",
                                               f"{adapter.display_name} declined the payment; nothing was charged",
                                               link=link)
    except WebhookRejected:
        db.session.rollback()
        current_app.logger.warning("forged or stale return to %s for %s", gateway, invoice.number)
        outcome = "unverified"
    except GatewayError:
        db.session.rollback()  # the webhook or reconciliation will bring the news
        outcome = "checking"
    return redirect(url_for("pay.page", token=token, returned=outcome, via=gateway)), 303


@bp.get("/<token:token>/invoice.pdf")
@limiter.limit("30 per minute")  # each one is rendered afresh: a few a minute is all a customer needs
def invoice_pdf(token: str):
    invoice = get_invoice_by_token_or_404(token)
    if invoice.status == "draft":
        abort(404, "This payment link is not valid. Ask the merchant for a new one.")
    return pdf.pdf_response(pdf.invoice_pdf(invoice), pdf.invoice_filename(invoice), public=True)


@bp.get("/<token:token>/receipts/<id:payment_row_id>.pdf")
@limiter.limit("30 per minute")
def receipt_pdf(token: str, payment_row_id: int):
    invoice = get_invoice_by_token_or_404(token)
    payment = db.session.get(Payment, payment_row_id)
    if payment is None or payment.invoice_id != invoice.id:
        abort(404, "There is no such receipt for this invoice.")
    return pdf.pdf_response(pdf.receipt_pdf(payment), pdf.receipt_filename(payment), public=True)


@bp.get("/<token:token>/qr.svg")
def qr(token: str):
    invoice = get_invoice_by_token_or_404(token)
    buffer = io.BytesIO()
    segno.make(pay_url(invoice), error="m").save(buffer, kind="svg", scale=6, border=2,
                                                  title=f"Pay invoice {invoice.number}")
    response = make_response(buffer.getvalue())
    response.headers["Content-Type"] = "image/svg+xml"
    response.headers["Cache-Control"] = "private, max-age=3600"  # the URL carries the pay token
    return response


def whatsapp_number(phone: str | None) -> str | None:
    """wa.me wants the full international number, digits only: '+91 98765-43210' -> '919876543210'.
    A number without its country code ('98765 43210', '098765 43210') is not guessed at: WhatsApp then
    lets staff pick the contact."""
    phone = (phone or "").strip()
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0") or len(digits) <= 10:
        return None
    return digits if 8 <= len(digits) <= 15 and not digits.startswith("0") else None


def share_links(invoice: Invoice) -> dict:
    url = pay_url(invoice)
    text = f"Invoice {invoice.number} from {merchant_settings().business_name}: {invoice.amount_due.format()}. Pay here: {url}"
    number = whatsapp_number(invoice.customer.phone)
    return {
        "url": url,
        "mailto": f"mailto:{quote(invoice.customer.email)}?subject={quote('Invoice ' + invoice.number)}&body={quote(text)}",
        "whatsapp": f"https://wa.me/{number or ''}?text={quote(text)}",
        "whatsapp_to": invoice.customer.phone if number else None,
        "qr": url_for("pay.qr", token=invoice.pay_token),
    }
