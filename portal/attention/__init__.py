from flask import Blueprint

bp = Blueprint("attention", __name__, url_prefix="/attention")

from . import routes  # noqa: E402,F401
