from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..extensions import db
from ..models import Customer
from ..payments import registry
from ..validation import MAX_PAGE, query_int, query_text
from . import bp, service
from .forms import CustomerForm

PER_PAGE = 25


def get_customer_or_404(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        abort(404, "There is no such customer.")
    return customer


def _partial_or_page(partial: str, page: str, **context):
    """The results alone for htmx's active search, the whole page otherwise; caches must tell them apart."""
    template = partial if request.headers.get("HX-Request") else page
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


@bp.get("/")
@login_required
def index():
    q = query_text("q")
    page = query_int("page", 1, MAX_PAGE)
    pagination = db.paginate(service.search_query(q), page=page, per_page=PER_PAGE, error_out=False)
    owed = service.outstanding_by_customer([c.id for c in pagination.items])
    return _partial_or_page("customers/_results.html", "customers/index.html",
                            pagination=pagination, q=q, owed=owed)


@bp.get("/search")
@login_required
def search():
    """Options for the invoice form's customer picker (customers/_picker.html)."""
    q = query_text("q").strip()
    customers = db.session.scalars(service.search_query(q).limit(service.SEARCH_LIMIT)).all() if q else []
    response = make_response(render_template("customers/_options.html", customers=customers, q=q))
    response.vary.add("HX-Request")
    return response


@bp.get("/<id:customer_id>")
@login_required
def detail(customer_id: int):
    customer = get_customer_or_404(customer_id)
    if not customer.is_current:  # an older version's address leads to the customer as they are now
        return redirect(url_for("customers.detail", customer_id=customer.current_id))
    return render_template("customers/detail.html", customer=customer,
                           invoices=service.invoices_of(customer), payments=service.payments_of(customer),
                           totals=service.totals_of(customer), limit=service.RECENT_LIMIT,
                           gateway_names={name: cls.display_name for name, cls in registry.all_classes().items()})


@bp.route("/<id:customer_id>/edit", methods=["GET", "POST"])
@login_required
def edit(customer_id: int):
    customer = get_customer_or_404(customer_id)
    if not customer.is_current:
        return redirect(url_for("customers.edit", customer_id=customer.current_id))
    form = CustomerForm(obj=customer)
    if form.validate_on_submit():
        current = service.update_customer(customer, form.name.data, form.email.data, form.phone.data or "",
                                          current_user)
        flash("Customer saved. Invoices already issued keep the details they were issued with.", "success")
        return redirect(url_for("customers.detail", customer_id=current.id))
    status = 422 if form.errors else 200
    return render_template("customers/edit.html", customer=customer, form=form), status
