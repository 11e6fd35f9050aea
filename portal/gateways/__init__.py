from flask import Blueprint

bp = Blueprint("gateways", __name__, url_prefix="/gateways")

from . import routes  # noqa: E402,F401
