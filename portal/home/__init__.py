"""Home: where the money is, per currency, what needs attention, and how each gateway is doing."""
from flask import Blueprint

bp = Blueprint("home", __name__)

from . import routes  # noqa: E402,F401
