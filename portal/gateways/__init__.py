from flask import Blueprint

bp = Blueprint("gateways", __name__, url_prefix="/gateways")

from ..payments.health import gateways_in_test_mode  # noqa: E402
from . import routes  # noqa: E402,F401

# base.html shows staff a banner while any configured gateway is in test mode.
bp.app_template_global("gateways_in_test_mode")(gateways_in_test_mode)
