from flask import make_response, render_template, request
from flask_login import login_required

from ..merchant import merchant_settings
from ..payments import registry
from ..payments.status import gateway_lines
from . import bp
from .chart import build_chart
from .summary import build_home


@bp.get("/")
@login_required
def index():
    """The full page, or (htmx polling) only the live part; Vary keeps caches from mixing the two."""
    profile = merchant_settings()
    home = build_home(profile)
    context = {
        "home": home, "profile": profile, "now": profile.now(),
        "gateways": gateway_lines(profile.zone),
        "gateway_names": {name: cls.display_name for name, cls in registry.all_classes().items()},
        "charts": {c.currency: build_chart(c.currency, home.days, c.daily) for c in home.currencies},
    }
    template = "home/_live.html" if request.headers.get("HX-Request") else "home/index.html"
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    response.headers["Cache-Control"] = "no-store"
    return response
