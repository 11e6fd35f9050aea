from flask import Blueprint

bp = Blueprint("pay", __name__, url_prefix="/pay")

from . import routes  # noqa: E402,F401
