from flask import Blueprint

bp = Blueprint("webhooks", __name__)

from . import retention, routes  # noqa: E402,F401  (retention registers its background job)
