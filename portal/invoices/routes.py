import hashlib
import secrets

from flask import (Response, abort, current_app, flash, make_response, redirect, render_template, request,
                   url_for)
from flask_login import current_user, login_required

from ..extensions import db
from .. import totals as totals_rules
from ..models import (STATUSES, AuditEvent, GatewayAttempt, Invoice, InvoiceStateError, LinkClick, OutboxMessage,
                      TaxRate)
from ..money import Money
from ..mail import reminders
from ..merchant import merchant_settings
from ..payments import engine, registry, routing
from ..pay.routes import share_links
from ..validation import MAX_PAGE, InvalidParameter, query_choice, query_date, query_int, query_text
from . import bp, form_errors, money_back, service
from .service import InvoiceInputError

LINE_FIELDS = ("description", "quantity", "unit_price", "tax_rate_id")
# Offered when no gateway is configured yet: the currencies merchants here bill in most.
FALLBACK_CURRENCIES = ("INR", "USD", "EUR", "GBP", "AED", "SGD", "AUD", "CAD", "JPY", "KWD")


def get_invoice_or_404(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404, "There is no such invoice.")
    return invoice


def _is_unused_row(row: dict) -> bool:
    # A row with no description and no price is an unused row ("Add line" fills in quantity 1 and a
    # tax rate may be preselected), not an error.
    return not (row.get("description") or "").strip() and not (row.get("unit_price") or "").strip()


def _form_to_data(form) -> dict:
    """Turn the HTML form's flat fields into the same shape the JSON API takes."""
    rows: dict[int, dict] = {}
    for key, value in form.items():
        if key.startswith("items-") and key.count("-") == 2:
            _, index, name = key.split("-")
            if index.isdigit() and name in LINE_FIELDS:
                rows.setdefault(int(index), {})[name] = value
    items = [rows[i] for i in sorted(rows) if not _is_unused_row(rows[i])]
    return {
        "customer": {
            "id": form.get("customer_id", ""),  # the picker's choice: a hint, the details decide
            "name": form.get("customer_name", ""),
            "email": form.get("customer_email", ""),
            "phone": form.get("customer_phone", ""),
        },
        "currency": form.get("currency", ""),
        "items": items,
        "discount": {"type": form.get("discount_type", ""), "value": form.get("discount_value", "")},
        "due_date": form.get("due_date", ""),
        "notes": form.get("notes", ""),
        "accept_partial": form.get("accept_partial", ""),
    }


def _data_from_invoice(invoice: Invoice) -> dict:
    if invoice.discount_percent_milli:
        discount = {"type": "percent", "value": totals_rules.format_milli(invoice.discount_percent_milli)}
    elif invoice.discount_amount_minor:
        discount = {"type": "amount",
                    "value": Money(invoice.discount_amount_minor, invoice.currency).decimal_string()}
    else:
        discount = {"type": "", "value": ""}
    return {
        "customer": {"id": invoice.customer.id, "name": invoice.customer.name,
                     "email": invoice.customer.email, "phone": invoice.customer.phone},
        "currency": invoice.currency,
        "items": [
            {"description": line.description, "quantity": line.quantity,
             "unit_price": line.unit_price.decimal_string(),
             "tax_rate_id": str(line.tax_rate_id) if line.tax_rate_id else ""}
            for line in invoice.lines
        ],
        "discount": discount,
        "due_date": invoice.due_date.isoformat() if invoice.due_date else "",
        "notes": invoice.notes,
        "accept_partial": "on" if invoice.accept_partial else "",
    }


def currency_choices(current: str = "") -> list[str]:
    """What the configured gateways can take, the default currency first; a fallback list without any."""
    taken = set()
    for gateway in registry.configured_gateways(current_app.config).values():
        taken |= set(gateway.currencies)
    default = merchant_settings().default_currency
    choices = sorted(taken) if taken else list(FALLBACK_CURRENCIES)
    for code in (current, default):
        if code and code not in choices:
            choices.append(code)
    return sorted(choices, key=lambda c: (c != default, c))


def _keep_rate_ids(invoice: Invoice | None) -> frozenset:
    return frozenset(line.tax_rate_id for line in invoice.lines if line.tax_rate_id) if invoice else frozenset()


def _running_totals(data: dict, invoice: Invoice | None):
    """The totals panel's numbers, from the same function the save uses; None while a line is unfinished."""
    errors: dict[str, str] = {}
    money = service.parse_money_input(data, errors, _keep_rate_ids(invoice))
    if errors or not money.lines:
        return None
    try:
        return money.totals()
    except totals_rules.DiscountTooLarge:
        return None


def _render_form(data: dict, errors: dict, invoice: Invoice | None, status: int = 200):
    items = list(data.get("items") or [])
    # One empty row to start a new invoice, and one more per "Add line" (without JavaScript); never an
    # extra blank row on an invoice that has lines (it used to fail "is required" on every save).
    extra = (0 if items else 1) + (1 if request.form.get("add_line") else 0)
    items += [{"description": "", "quantity": "1", "unit_price": "", "tax_rate_id": ""} for _ in range(extra)]
    summary = form_errors.summary(errors)
    return render_template(
        "invoices/form.html", data=data, items=items, errors=errors, invoice=invoice,
        error_summary=summary, first_error=summary[0][0] if summary else None,
        error_ids=form_errors.field_ids(errors), currencies=currency_choices(data.get("currency") or ""),
        tax_rates=TaxRate.choices(_keep_rate_ids(invoice)), totals=_running_totals(data, invoice),
    ), status


def _new_invoice_data() -> dict:
    merchant = merchant_settings()  # the merchant's currency, and terms counted from the merchant's today
    return {"currency": merchant.default_currency, "items": [], "customer": {},
            "discount": {"type": "", "value": ""}, "due_date": merchant.default_due_date().isoformat()}


def list_filters() -> service.ListFilters:
    """The list's filters and order from the query string; a value we cannot use is a 400 naming it."""
    sort = query_choice("sort", tuple(service.SORT_COLUMNS), service.DEFAULT_SORT)
    default_dir = "desc" if sort == service.DEFAULT_SORT else "asc"
    created_from, created_to = query_date("from"), query_date("to")
    if created_from and created_to and created_from > created_to:
        raise InvalidParameter("'from' must be on or before 'to'.")
    status = query_text("status")
    return service.ListFilters(q=query_text("q"), status=status if status in STATUSES else "",
                               created_from=created_from, created_to=created_to, zone=merchant_settings().zone,
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
    totals = service.totals_by_currency(filters)
    pagination = service.invoice_page(filters, page, current_app.config["INVOICES_PER_PAGE"], count=False)
    pagination.total = sum(row["count"] for row in totals)  # the totals already counted every match
    template = "invoices/_results.html" if request.headers.get("HX-Request") else "invoices/index.html"
    response = make_response(render_template(
        template, pagination=pagination, filters=filters, q=filters.q, status=filters.status,
        statuses=STATUSES, totals=totals, list_args=list_args))
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
        return _render_form(_new_invoice_data(), {}, None)
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


@bp.post("/invoices/totals")
@login_required
def running_totals():
    """The form's running total (htmx): the save's own function on what is typed so far, nothing saved."""
    invoice = None
    raw_id = request.form.get("invoice_id", "")
    if raw_id.isascii() and raw_id.isdigit() and int(raw_id) < 2**31:
        invoice = db.session.get(Invoice, int(raw_id))
    data = _form_to_data(request.form)
    currency = (data.get("currency") or "").strip().upper()
    return render_template("invoices/_running_total.html", totals=_running_totals(data, invoice),
                           currency=currency, discount=data["discount"])


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


def live_version(invoice: Invoice, trail: list, audit: list, messages: list = ()) -> str:
    """A short fingerprint of everything the live region shows: equal fingerprints, nothing to swap."""
    parts = [invoice.status, invoice.total_minor, invoice.amount_paid_minor, invoice.amount_refunded_minor,
             invoice.amount_charged_back_minor, invoice.updated_at,
             [p.id for p in invoice.payments], [(link.id, link.status, link.url) for link in invoice.payment_links],
             trail[0][0].id if trail else None, audit[0].id if audit else None, list(messages)]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def live_context(invoice: Invoice, **extra) -> dict:
    """What the invoice page's live region (invoices/_live.html) renders."""
    context = payment_panel(invoice, **extra)
    context.update(money_back.context(invoice))
    context["send_key"] = secrets.token_urlsafe(12)
    context["messages"] = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.invoice_id == invoice.id)
                                             .order_by(OutboxMessage.id.desc()).limit(20)).all()
    context["smtp"] = bool(current_app.config["SMTP_URL"])
    context["reminders"] = reminders.plan(invoice) if invoice.status != "draft" else None
    context["audit"] = AuditEvent.for_subject("invoice", invoice.id)
    context["live_version"] = live_version(invoice, context["trail"], context["audit"],
                                           [(m.id, m.status) for m in context["messages"]] + [context["reminders"]])
    return context


def render_live(invoice: Invoice, **extra):
    """The live region alone: 204 while the poller already shows this version, 286 (stop polling) once final."""
    context = live_context(invoice, **extra)
    if context["keep_polling"] and query_text("v", max_length=32) == context["live_version"] and not extra:
        response = make_response("", 204)
    else:
        response = make_response(render_template("invoices/_live.html", **context))
        if not context["keep_polling"]:
            response.status_code = 286
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("HX-Request")
    return response


@bp.get("/invoices/<id:invoice_id>")
@login_required
def detail(invoice_id: int):
    invoice = get_invoice_or_404(invoice_id)
    if request.headers.get("HX-Request"):
        return render_live(invoice)
    response = make_response(render_template("invoices/detail.html", **live_context(invoice)))
    response.vary.add("HX-Request")
    return response


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
        # htmx swaps the live region; 2xx so the swap happens, the message says what went wrong.
        db.session.refresh(invoice)
        response = render_live(invoice, result=result, error=error)
        response.status_code = 200
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
        parsed = service.parse_invoice_input(data, _keep_rate_ids(invoice))
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
