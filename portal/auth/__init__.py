from flask import Blueprint

bp = Blueprint("auth", __name__)

from .decorators import admin_required  # noqa: E402,F401  (before routes: users.routes imports it)
from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
