"""Statistics: payment numbers for a period and currency, as a page, a CSV and the API's
GET /api/v1/payments/statistics, all rendered from numbers.payment_statistics()."""
from flask import Blueprint

bp = Blueprint("statistics", __name__)

from . import numbers, routes  # noqa: E402,F401  (numbers registers the rollup job)
