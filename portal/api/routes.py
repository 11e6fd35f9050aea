from flask import g, jsonify, request
from sqlalchemy.orm import selectinload

from ..errors import json_error
from ..customers import service as customers
from ..extensions import db
from ..invoices import service
from ..invoices.service import InvoiceInputError
from ..models import STATUSES, Customer, Invoice, InvoiceStateError
from ..merchant import merchant_settings
from ..payments import engine, registry, routing, stats
from ..statistics import params as statistics_params
from ..statistics.numbers import PeriodError
from ..statistics.numbers import payment_statistics as compute_statistics
from ..validation import MAX_CURSOR_LENGTH, MAX_PAGE, MAX_PER_PAGE, InvalidParameter, query_int, query_text
from . import bp
from .auth import token_required
from .openapi import openapi_document
from .serializers import attempt_json, customer_json, invoice_json


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
