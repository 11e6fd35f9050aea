from flask import (Response, abort, current_app, flash, make_response, redirect, render_template, request,
                   url_for)
from flask_login import current_user, login_required

from ..extensions import db
from ..models import STATUSES, AuditEvent, GatewayAttempt, Invoice, InvoiceStateError, LinkClick
from ..payments import engine, registry, routing
from ..pay.routes import share_links
from ..validation import MAX_PAGE, InvalidParameter, query_choice, query_date, query_int, query_text
from . import bp, service
from .service import InvoiceInputError

BLANK_ROWS = 1


def get_invoice_or_404(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404, "There is no such invoice.")
    return invoice


def _form_to_data(form) -> dict:
    """Turn the HTML form's flat fields into the same shape the JSON API takes."""
    rows: dict[int, dict] = {}
    for key, value in form.items():
        if key.startswith("items-") and key.count("-") == 2:
            _, index, name = key.split("-")
            if index.isdigit() and name in ("description", "quantity", "unit_price"):
                rows.setdefault(int(index), {})[name] = value
    # A row left entirely blank is an unused row, not an error.
    items = [rows[i] for i in sorted(rows) if any(v.strip() for v in rows[i].values())]
    return {
        "customer": {
            "name": form.get("customer_name", ""),
            "email": form.get("customer_email", ""),
            "phone": form.get("customer_phone", ""),
        },
        "currency": form.get("currency", ""),
        "items": items,
        "due_date": form.get("due_date", ""),
        "notes": form.get("notes", ""),
        "accept_partial": form.get("accept_partial", ""),
    }


def _data_from_invoice(invoice: Invoice) -> dict:
    return {
        "customer": {"name": invoice.customer.name, "email": invoice.customer.email,
                     "phone": invoice.customer.phone},
        "currency": invoice.currency,
        "items": [
            {"description": line.description, "quantity": str(line.quantity),
             "unit_price": line.unit_price.decimal_string()}
            for line in invoice.lines
        ],
        "due_date": invoice.due_date.isoformat() if invoice.due_date else "",
        "notes": invoice.notes,
        "accept_partial": "on" if invoice.accept_partial else "",
    }


def _render_form(data: dict, errors: dict, invoice: Invoice | None, status: int = 200):
    items = list(data.get("items") or [])
    extra = BLANK_ROWS + (1 if request.form.get("add_line") else 0)
    items += [{"description": "", "quantity": "1", "unit_price": ""} for _ in range(extra)]
    return render_template("invoices/form.html", data=data, items=items, errors=errors,
                           invoice=invoice), status


@bp.get("/")
@login_required
def home():
    return redirect(url_for("invoices.index"))


def list_filters() -> service.ListFilters:
    """The list's filters and order from the query string; a value we cannot use is a 400 naming it."""
    sort = query_choice("sort", tuple(service.SORT_COLUMNS), service.DEFAULT_SORT)
    default_dir = "desc" if sort == service.DEFAULT_SORT else "asc"
    created_from, created_to = query_date("from"), query_date("to")
    if created_from and created_to and created_from > created_to:
        raise InvalidParameter("'from' must be on or before 'to'.")
    status = query_text("status")
    return service.ListFilters(q=query_text("q"), status=status if status in STATUSES else "",
                               created_from=created_from, created_to=created_to,
                               sort=sort, dir=query_choice("dir", service.SORT_DIRECTIONS, default_dir))


def list_args(filters: service.ListFilters, **changes) -> dict:
    """URL arguments that reproduce the list (for links: pages, sort headers, CSV); empty ones left out."""
    args = {"q": filters.q, "status": filters.status,
            "from": filters.created_from.isoformat() if filters.created_from else "",
            "to": filters.created_to.isoformat() if filters.created_to else "",
            "sort": "" if filters.sort == service.DEFAULT_SORT else filters.sort,
            "dir": "" if filters.sort == service.DEFAULT_SORT and filters.dir == "desc" else filters.dir}
    args.update(changes)
    return {key: value for key, value in args.items() if value}


@bp.get("/invoices/")
@login_required
def index():
    filters = list_filters()
    page = query_int("page", 1, MAX_PAGE)
    pagination = db.paginate(service.search_query(None, None, filters), page=page,
                             per_page=current_app.config["INVOICES_PER_PAGE"], error_out=False)
    template = "invoices/_results.html" if request.headers.get("HX-Request") else "invoices/index.html"
    response = make_response(render_template(
        template, pagination=pagination, filters=filters, q=filters.q, status=filters.status,
        statuses=STATUSES, totals=service.totals_by_currency(filters), list_args=list_args))
    response.vary.add("HX-Request")
    return response


@bp.get("/invoices/export.csv")
@login_required
def export_csv():
    filters = list_filters()
    if query_text("status") and filters.status != query_text("status"):
        raise InvalidParameter(f"'status' must be one of: {', '.join(STATUSES)}.")
    return Response(
        service.export_csv(service.search_query(None, None, filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=invoices.csv"},
    )


@bp.route("/invoices/new", methods=["GET", "POST"])
@login_required
def create():
    if request.method == "GET":
        return _render_form({"currency": "INR", "items": [], "customer": {}}, {}, None)
    data = _form_to_data(request.form)
    if request.form.get("add_line"):
        return _render_form(data, {}, None)
    try:
        parsed = service.parse_invoice_input(data)
    except InvoiceInputError as exc:
        return _render_form(data, exc.errors, None, 422)
    invoice = service.create_invoice(parsed, current_user)
    flash(f"Invoice {invoice.number} saved as a draft.", "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id))


def payment_panel(invoice: Invoice, **extra) -> dict:
    """What the payment-link panel shows: the live link, and the trail of recent clicks and calls."""
    live = [link for link in invoice.payment_links if link.is_live()]
    clicks = db.session.scalars(
        db.select(LinkClick).where(LinkClick.invoice_id == invoice.id).order_by(LinkClick.id.desc()).limit(5)
    ).all()
    calls = db.session.scalars(
        db.select(GatewayAttempt).where(GatewayAttempt.click_id.in_([c.id for c in clicks]))
        .order_by(GatewayAttempt.id)
    ).all() if clicks else []
    trail = [(click, [c for c in calls if c.click_id == click.id]) for click in clicks]
    names = {name: registry.gateway_class(name).display_name for name in registry.GATEWAY_CLASSES}
    return {"invoice": invoice, "live_link": live[-1] if live else None, "trail": trail,
            "gateway_names": names, "result": None, "error": None, "share": share_links(invoice), **extra}


@bp.get("/invoices/<id:invoice_id>")
@login_required
def detail(invoice_id: int):
    invoice = get_invoice_or_404(invoice_id)
    audit = AuditEvent.for_subject("invoice", invoice.id)
    return render_template("invoices/detail.html", audit=audit, **payment_panel(invoice))


@bp.get("/invoices/<id:invoice_id>/status")
@login_required
def status(invoice_id: int):
    """The live status badge; htmx stops polling (286) once the status is final."""
    invoice = get_invoice_or_404(invoice_id)
    response = make_response(render_template("invoices/_status.html", invoice=invoice))
    if invoice.is_final:
        response.status_code = 286
    return response


@bp.post("/invoices/<id:invoice_id>/payment-link")
@login_required
def payment_link(invoice_id: int):
    invoice = get_invoice_or_404(invoice_id)
    requested = request.form.get("gateway") or None
    result, error = None, None
    try:
        result = engine.generate_link(invoice, actor_label=current_user.email, requested=requested)
    except (engine.LinkRefused, routing.RoutingError) as exc:
        error = str(exc)
    except engine.NoGatewayAvailable:
        error = ("No payment gateway could create a link right now. Nothing was charged and no link "
                 "was sent; try again in a minute. The trail below shows what each gateway said.")
    if request.headers.get("HX-Request"):
        # htmx swaps only the panel; 2xx so the swap happens, the message says what went wrong.
        db.session.refresh(invoice)
        response = make_response(render_template("invoices/_payment_link.html",
                                                 **payment_panel(invoice, result=result, error=error)))
        response.headers["HX-Trigger"] = "invoice-changed"
        return response
    if error:
        flash(error, "error")
    else:
        flash(f"Payment link ready ({result.link.gateway}).", "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id)), 303


@bp.route("/invoices/<id:invoice_id>/edit", methods=["GET", "POST"])
@login_required
def edit(invoice_id: int):
    invoice = get_invoice_or_404(invoice_id)
    if not invoice.is_editable:
        flash(f"{invoice.number} is {invoice.status.replace('_', ' ')}: only drafts can be edited.", "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id)), 303
    if request.method == "GET":
        return _render_form(_data_from_invoice(invoice), {}, invoice)
    data = _form_to_data(request.form)
    if request.form.get("add_line"):
        return _render_form(data, {}, invoice)
    try:
        parsed = service.parse_invoice_input(data)
    except InvoiceInputError as exc:
        return _render_form(data, exc.errors, invoice, 422)
    try:
        service.update_invoice(invoice, parsed, current_user)
    except InvoiceStateError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id)), 303
    flash(f"Invoice {invoice.number} updated.", "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id))


def _state_change(invoice_id: int, change, done_message: str):
    invoice = get_invoice_or_404(invoice_id)
    try:
        change(invoice, current_user)
    except InvoiceStateError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id)), 303
    flash(done_message.format(number=invoice.number), "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id)), 303


@bp.post("/invoices/<id:invoice_id>/open")
@login_required
def open_(invoice_id: int):
    return _state_change(invoice_id, service.open_invoice, "Invoice {number} is now open for payment.")


@bp.post("/invoices/<id:invoice_id>/void")
@login_required
def void(invoice_id: int):
    return _state_change(invoice_id, service.void_invoice, "Invoice {number} has been voided.")
