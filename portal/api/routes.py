import hashlib

from flask import g, jsonify, request
from sqlalchemy.orm import selectinload

from ..errors import json_error
from ..customers import service as customers
from ..extensions import db
from ..invoices import service
from ..invoices.service import InvoiceInputError
from ..models import STATUSES, Customer, Invoice, InvoiceStateError, Payment
from ..money import Money, MoneyError
from ..merchant import merchant_settings
from ..payments import engine, refunds, registry, routing, stats
from ..statistics import params as statistics_params
from ..statistics.numbers import PeriodError
from ..statistics.numbers import payment_statistics as compute_statistics
from ..validation import MAX_CURSOR_LENGTH, MAX_PAGE, MAX_PER_PAGE, InvalidParameter, query_int, query_text
from . import bp
from .auth import token_required
from .openapi import openapi_document
from .serializers import attempt_json, customer_json, invoice_json, refund_json


def _json_body():
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly deep nesting: the JSON parser gives up, it is not our error
        body = None
    if body is None:
        return None, json_error(400, "invalid_json", "The request body must be a JSON object "
                                "sent with 'Content-Type: application/json'.")
    return body, None


def _invoice_or_404(invoice_id: int):
    invoice = db.session.get(Invoice, invoice_id)  # the `id` converter keeps it inside the column
    if invoice is None:
        return None, json_error(404, "not_found", f"There is no invoice with id {invoice_id}.")
    return invoice, None


def _validation_error(exc: InvoiceInputError):
    return json_error(422, "validation_failed", "Some fields are invalid: " + str(exc), fields=exc.errors)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/invoices")
@token_required
def list_invoices():
    status = query_text("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidParameter(f"'status' must be one of: {', '.join(STATUSES)}.")
    per_page = query_int("per_page", 25, MAX_PER_PAGE)
    cursor = query_text("cursor", max_length=MAX_CURSOR_LENGTH)
    if cursor and request.args.get("page"):
        raise InvalidParameter("'page' and 'cursor' cannot be combined: a cursor already says where the page starts.")
    filters = service.ListFilters(q=query_text("q") or "", status=status or "")
    # Lines, links and payments of the whole page in one query each, not three per invoice.
    options = (selectinload(Invoice.lines), selectinload(Invoice.payment_links), selectinload(Invoice.payments))
    if cursor:
        # Keyset pagination: as fast on the 2,000th page as on the first, and nothing skipped or repeated
        # when invoices are created meanwhile. One more row than asked says whether a next page exists.
        try:
            items = service.invoices_after(filters, cursor, per_page + 1, options=options)
        except service.CursorError as exc:
            raise InvalidParameter(f"'cursor' is {exc}; pass next_cursor from a previous answer.") from None
        page, has_next, items = None, len(items) > per_page, items[:per_page]
        total = service.invoice_count(filters)
    else:
        page = query_int("page", 1, MAX_PAGE)
        pagination = service.invoice_page(filters, page, per_page, options=options)
        items, has_next, total = pagination.items, pagination.has_next, pagination.total
    return jsonify({
        "items": [invoice_json(i) for i in items],
        "page": page,
        "per_page": per_page,
        "total": total,
        "next_cursor": service.newest_first_cursor(items[-1]) if has_next and items else None,
    })


@bp.post("/invoices")
@token_required
def create_invoice():
    body, error = _json_body()
    if error:
        return error
    try:
        parsed = service.parse_invoice_input(body)
    except InvoiceInputError as exc:
        return _validation_error(exc)
    invoice = service.create_invoice(parsed, g.api_user, via="api")
    return jsonify(invoice_json(invoice)), 201, {"Location": f"/api/v1/invoices/{invoice.id}"}


@bp.get("/invoices/<id:invoice_id>")
@token_required
def get_invoice(invoice_id: int):
    invoice, error = _invoice_or_404(invoice_id)
    return error or jsonify(invoice_json(invoice))


@bp.route("/invoices/<id:invoice_id>", methods=["PUT", "PATCH"])
@token_required
def update_invoice(invoice_id: int):
    invoice, error = _invoice_or_404(invoice_id)
    if error:
        return error
    body, error = _json_body()
    if error:
        return error
    if not invoice.is_editable:
        return json_error(409, "invoice_not_editable",
                          f"{invoice.number} is {invoice.status}; only draft invoices can be edited.")
    # A rate archived since the draft was written stays accepted on that draft's own lines.
    keep = frozenset(line.tax_rate_id for line in invoice.lines if line.tax_rate_id)
    try:
        parsed = service.parse_invoice_input(body, keep)
    except InvoiceInputError as exc:
        return _validation_error(exc)
    service.update_invoice(invoice, parsed, g.api_user, via="api")
    return jsonify(invoice_json(invoice))


def _state_change(invoice_id: int, change, code: str):
    invoice, error = _invoice_or_404(invoice_id)
    if error:
        return error
    try:
        change(invoice, g.api_user, via="api")
    except InvoiceStateError as exc:
        db.session.rollback()
        return json_error(409, code, str(exc))
    return jsonify(invoice_json(invoice))


@bp.post("/invoices/<id:invoice_id>/open")
@token_required
def open_invoice(invoice_id: int):
    return _state_change(invoice_id, service.open_invoice, "invalid_transition")


@bp.post("/invoices/<id:invoice_id>/void")
@token_required
def void_invoice(invoice_id: int):
    return _state_change(invoice_id, service.void_invoice, "invalid_transition")


@bp.post("/invoices/<id:invoice_id>/payment-link")
@token_required
def payment_link(invoice_id: int):
    invoice, error = _invoice_or_404(invoice_id)
    if error:
        return error
    body = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(body, dict):
        return json_error(400, "invalid_json", "The request body must be a JSON object (or empty).")
    requested = body.get("gateway")
    if requested is not None and not isinstance(requested, str):
        return json_error(422, "validation_failed", "'gateway' must be a gateway name such as \"stripe\".",
                          fields={"gateway": "must be text"})
    try:
        result = engine.generate_link(invoice, actor_label=f"{g.api_user.email} (api)", requested=requested)
    except engine.LinkRefused as exc:
        return json_error(409, "invoice_not_payable", str(exc))
    except routing.RoutingError as exc:
        return json_error(422, "gateway_unavailable", str(exc))
    except engine.NoGatewayAvailable as exc:
        response = json_error(503, "no_gateway_available", str(exc),
                              attempts=[attempt_json(a) for a in exc.attempts])
        response[0].headers["Retry-After"] = "30"
        return response
    link = result.link
    return jsonify({
        "gateway": link.gateway,
        "url": link.url,
        "link_id": link.link_id,
        "cached": result.cached,
        "expires_at": link.expires_at.isoformat() if link.expires_at else None,
        "amount": link.amount.decimal_string(),
        "amount_minor": link.amount_minor,
        "currency": link.currency,
        "reason": result.reason,
        "fallback": result.fallback,
        "attempts": [attempt_json(a) for a in result.attempts],
    })


def _payment_or_404(payment_row_id: int):
    payment = db.session.get(Payment, payment_row_id)
    if payment is None:
        return None, json_error(404, "not_found", f"There is no payment with id {payment_row_id}.")
    return payment, None


@bp.get("/payments/<id:payment_row_id>/refunds")
@token_required
def list_refunds(payment_row_id: int):
    payment, error = _payment_or_404(payment_row_id)
    if error:
        return error
    return jsonify({"items": [refund_json(r) for r in payment.refunds]})


@bp.post("/payments/<id:payment_row_id>/refunds")
@token_required
def create_refund(payment_row_id: int):
    """Refund part or all of a payment (admins). `Idempotency-Key` makes a retried call answer the first refund.
    201: made (or pending at the gateway); 202: the gateway's answer was lost, the refund is being confirmed;
    422: refused before any gateway call, or refused by the gateway; 503: the gateway could not be reached."""
    if not g.api_user.is_admin:
        return json_error(403, "forbidden", "Only admins can refund payments.")
    payment, error = _payment_or_404(payment_row_id)
    if error:
        return error
    body, error = _json_body()
    if error:
        return error
    if not isinstance(body, dict):
        return json_error(400, "invalid_json", "The request body must be a JSON object.")
    unknown = sorted(set(body) - {"amount", "reason"})
    if unknown:
        return json_error(422, "validation_failed", f"Unknown field(s): {', '.join(unknown)}.",
                          fields={name: "unknown field" for name in unknown})
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        return json_error(422, "validation_failed", "'reason' must be text of at most 500 characters.",
                          fields={"reason": "text, at most 500 characters"})
    if "amount" in body:
        if not isinstance(body["amount"], str):
            return json_error(422, "validation_failed", "'amount' must be a decimal string such as \"100.00\".",
                              fields={"amount": "a decimal string"})
        try:
            amount = Money.parse(body["amount"], payment.currency)
        except MoneyError as exc:
            return json_error(422, "validation_failed", f"'amount': {exc}", fields={"amount": str(exc)})
    else:
        amount = refunds.refundable(payment)  # no amount: everything that is left
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 255:
        return json_error(422, "validation_failed", "Idempotency-Key must be at most 255 characters.")
    request_key = hashlib.sha256(f"api:{g.api_user.id}:{key}".encode()).hexdigest() if key else None
    try:
        row, made = refunds.request_refund(payment.id, amount, reason.strip(), g.api_user, via="api",
                                           request_key=request_key)
    except refunds.RefundRefused as exc:
        status = 404 if exc.code == "not_found" else 409 if exc.code == "payment_disputed" else 422
        return json_error(status, exc.code, exc.message)
    if row.status == "failed":
        kind, _, code = (row.failure_code or "rejected:refund_failed").partition(":")
        if kind in ("unreachable", "server", "rate_limited", "timeout"):
            return json_error(503, "gateway_unavailable", f"Nothing was refunded: {row.failure}",
                              refund=refund_json(row))
        code = code if code == "refund_exceeds_payment" else "refund_failed"
        return json_error(422, code, f"Nothing was refunded: {row.failure}", refund=refund_json(row))
    status = 202 if row.status == "requested" else 201 if made else 200
    return jsonify(refund_json(row)), status


@bp.get("/gateways")
@token_required
def gateways():
    """Each gateway's numbers, plus its state and sentence from the one definition (payments/health.py),
    with times in the merchant's time zone, as the Gateways page and Home say them."""
    from ..merchant import merchant_settings
    from ..payments import health

    states = health.current(merchant_settings().zone)
    return jsonify([{**stats.gateway_health(name), "state": states[name].state, "sentence": states[name].sentence}
                    for name in registry.GATEWAY_CLASSES])


@bp.get("/payments/statistics")
@token_required
def payment_statistics():
    """What the Statistics page shows for ?from=&to=&currency= (no dates: all time)."""
    profile = merchant_settings()
    try:
        selection = statistics_params.api_selection(profile.today())
    except PeriodError as exc:
        return json_error(422, "invalid_period", str(exc))
    return jsonify(compute_statistics(selection.period, selection.currency, selection.all_time))


@bp.get("/customers")
@token_required
def list_customers():
    page = query_int("page", 1, MAX_PAGE)
    per_page = query_int("per_page", 25, MAX_PER_PAGE)
    pagination = db.paginate(customers.search_query(query_text("q")), page=page, per_page=per_page,
                             error_out=False)
    owed = customers.outstanding_by_customer([c.id for c in pagination.items])
    return jsonify({
        "items": [customer_json(c, owed.get(c.id, {})) for c in pagination.items],
        "page": page,
        "per_page": per_page,
        "total": pagination.total,
    })


@bp.get("/customers/<id:customer_id>")
@token_required
def get_customer(customer_id: int):
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        return json_error(404, "not_found", f"There is no customer with id {customer_id}.")
    if not customer.is_current:  # an older version's id answers with the customer as they are now
        customer = db.session.get(Customer, customer.current_id)
    owed = customers.outstanding_by_customer([customer.id])
    return jsonify(customer_json(customer, owed.get(customer.id, {}), customers.totals_of(customer)))
