from flask import Blueprint

bp = Blueprint("invoices", __name__)

from . import documents, emailing, routes, tax_rates  # noqa: E402,F401
