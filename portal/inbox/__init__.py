from flask import Blueprint

bp = Blueprint("inbox", __name__, url_prefix="/deliveries")

from . import routes  # noqa: E402,F401
