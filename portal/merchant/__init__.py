"""The merchant's settings: details shown to customers, and the defaults the portal works by."""
from flask import Blueprint

bp = Blueprint("merchant", __name__, url_prefix="/settings")

from .profile import MerchantProfile, merchant_settings, offered_currencies  # noqa: E402,F401
from . import routes  # noqa: E402,F401

# Templates call merchant_settings() for the business name, address, tax id and footer.
bp.app_template_global("merchant_settings")(merchant_settings)
