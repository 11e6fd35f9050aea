"""The customer's side: the Pay Now page, the way to the gateway, and the way back (docs/endpoints.md).

The page asks the engine for a live link only when the customer presses Pay, so a link shared yesterday
still works when a gateway is down today. The return pages never trust the browser: each asks the gateway
(Razorpay signature + fetch, Stripe retrieve, PayPal capture) and applies what it says.
"""
import io
from urllib.parse import quote

import segno
from flask import abort, current_app, make_response, redirect, render_template, request, url_for

from ..extensions import db, limiter
from ..merchant import merchant_settings
from ..models import Invoice, PaymentLink
from ..payments import engine, ledger, registry, routing
from ..payments.base import GatewayError, WebhookRejected
from ..validation import query_text
from . import bp

RETURN_LINK_PARAMS = {"razorpay": "razorpay_payment_link_id", "stripe": "session_id", "paypal": "token"}


def get_invoice_by_token_or_404(token: str) -> Invoice:
    invoice = db.session.scalar(db.select(Invoice).where(Invoice.pay_token == token)) if len(token) < 100 else None
    if invoice is None:
        abort(404, "This payment link is not valid. Ask the merchant for a new one.")
    return invoice


def payment_options(invoice: Invoice) -> list[dict]:
    """Gateways the customer may choose: configured, switched on, healthy, able to take the amount."""
    if invoice.is_final or invoice.status == "draft":
        return []
    candidates, _ = routing.plan(invoice.amount_due, current_app.config, engine.breaker())
    return [{"name": c.name, "label": c.gateway.customer_label} for c in candidates]


def pay_url(invoice: Invoice) -> str:
    return f"{current_app.config['FRONTEND_URL']}/pay/{invoice.pay_token}"


@bp.get("/<token:token>")
def page(token: str):
    invoice = get_invoice_by_token_or_404(token)
    response = make_response(render_template(
        "pay/page.html", invoice=invoice, options=payment_options(invoice),
        merchant=merchant_settings().business_name, returned=query_text("returned", max_length=20)))
    response.headers["Cache-Control"] = "no-store"
    return response


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
        result = engine.generate_link(invoice, actor_label="customer (pay page)", requested=requested)
    except (engine.LinkRefused, routing.RoutingError):
        return redirect(url_for("pay.page", token=token)), 303
    except engine.NoGatewayAvailable:
        return render_template("pay/page.html", invoice=invoice, options=payment_options(invoice),
                               merchant=merchant_settings().business_name, returned=None,
                               error="We could not reach a payment provider just now. Nothing was charged. "
                                     "Please try again in a minute."), 503
    return redirect(result.link.url, code=303)


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
        results = ledger.apply_link_state(link, remote, "return")
        db.session.commit()
        outcome = "paid" if any(r[0] in (ledger.APPLIED, ledger.DUPLICATE) for r in results) else remote.status
    except WebhookRejected:
        db.session.rollback()
        current_app.logger.warning("forged or stale return to %s for %s", gateway, invoice.number)
        outcome = "unverified"
    except GatewayError:
        db.session.rollback()  # the webhook or reconciliation will bring the news
        outcome = "checking"
    return redirect(url_for("pay.page", token=token, returned=outcome)), 303


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


def share_links(invoice: Invoice) -> dict:
    url = pay_url(invoice)
    text = f"Invoice {invoice.number} from {merchant_settings().business_name}: {invoice.amount_due.format()}. Pay here: {url}"
    return {
        "url": url,
        "mailto": f"mailto:{quote(invoice.customer.email)}?subject={quote('Invoice ' + invoice.number)}&body={quote(text)}",
        "whatsapp": f"https://wa.me/?text={quote(text)}",
        "qr": url_for("pay.qr", token=invoice.pay_token),
    }
