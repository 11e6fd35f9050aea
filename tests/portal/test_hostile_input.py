"""Every route of the app, walked with hostile path, query and form values, as anyone, staff and admin.

Whatever a client puts in a URL or a form, the answer is a clear 4xx (or the normal page), never a 5xx.
The walk reads `app.url_map`, so a route added later is walked too. It first calls each route with good
values and notes which query and form parameters the view reads; those are then sent hostile, one at a
time, so one refused parameter does not hide what another would do.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from flask import Request
from werkzeug.datastructures import ImmutableMultiDict

from portal.extensions import db, limiter
from portal.models import ApiToken, PaymentMismatch
from tests.conftest import Browser

# Already percent-encoded, as they would travel in a URL.
HOSTILE = [
    "%00", "abc%00def", "a%01b", "-1", "0", "2147483648", "9223372036854775808",
    "99999999999999999999", "1.5", "%ff%fe", "%C0%AF", "a" * 10_000,
]
HOSTILE_FORM = ["a\x00b", "\x1f", "b" * 10_000, "99999999999999999999"]
# Routes that end the walker's session go last, so the rest is walked signed in.
ENDS_SESSION = re.compile(r"logout|sign_?out|everywhere|sessions", re.IGNORECASE)
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
SKIPPED_ENDPOINTS = {"static"}


class _Recorder(ImmutableMultiDict):
    """The request's args or form, noting which names the view looks up."""

    sink: set[str] = set()

    def get(self, key, default=None, type=None):
        self.sink.add(key)
        return super().get(key, default, type)

    def __getitem__(self, key):
        self.sink.add(key)
        return super().__getitem__(key)

    def getlist(self, key, type=None):
        self.sink.add(key)
        return super().getlist(key, type)

    def __contains__(self, key):
        self.sink.add(key)
        return super().__contains__(key)


def recording_request_class(base: type[Request], seen: dict[str, set]) -> type[Request]:
    args_recorder = type("ArgsRecorder", (_Recorder,), {"sink": seen["args"]})
    form_recorder = type("FormRecorder", (_Recorder,), {"sink": seen["form"]})

    class RecordingRequest(base):
        @property
        def args(self):
            return args_recorder(super().args)

        @property
        def form(self):
            return form_recorder(super().form)

    return RecordingRequest


def _sign_in(app, user, token: str | None) -> Browser:
    browser = Browser(app.test_client())
    if user is not None:
        assert browser.login(user.email).status_code == 302
    browser.headers = {"Authorization": f"Bearer {token}"} if token else {}
    browser.csrf = browser.token("/invoices/new" if user is not None else "/login")
    return browser


def _issue_token(user) -> str:
    row, plain = ApiToken.issue(user)
    db.session.add(row)
    db.session.commit()
    return plain


@pytest.fixture
def walkers(app, staff, admin):
    return {
        "anonymous": _sign_in(app, None, None),
        "staff": _sign_in(app, staff, _issue_token(staff)),
        "admin": _sign_in(app, admin, _issue_token(admin)),
    }


@pytest.fixture
def good_values(make_invoice, make_user):
    invoice = make_invoice(open_it=True)
    target = make_user("target@example.com", "staff")  # the walk may deactivate or demote it, never a walker
    mismatch = PaymentMismatch(gateway="stripe", invoice_id=invoice.id, kind="overpaid", source="webhook")
    db.session.add(mismatch)
    db.session.commit()
    return {"invoice_id": str(invoice.id), "mismatch_id": str(mismatch.id), "user_id": str(target.id),
            "token": invoice.pay_token, "gateway": "stripe", "name": "stripe"}


def _rules(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in SKIPPED_ENDPOINTS]
    return sorted(rules, key=lambda r: (bool(ENDS_SESSION.search(r.endpoint)), r.rule))


def _path(rule, values: dict[str, str]) -> str:
    def fill(match):
        return values[match.group(1)]
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", fill, rule.rule)


def _url(rule, path_values: dict[str, str], query: str = "") -> str:
    return _path(rule, path_values) + (f"?{query}" if query else "")


def test_no_route_answers_a_server_error_to_hostile_input(pay_app, walkers, good_values):
    app = pay_app  # gateways configured against the sandbox, as `make run` has them
    seen = {"args": set(), "form": set()}
    app.request_class = recording_request_class(app.request_class, seen)
    failures: list[str] = []
    walked = 0

    def probe(walker: Browser, role: str, method: str, url: str, form: dict | None = None):
        nonlocal walked
        walked += 1
        headers = dict(walker.headers)
        data = dict(form or {})
        if method not in ("GET", "HEAD"):
            data.setdefault("csrf_token", walker.csrf)
            headers["X-CSRFToken"] = walker.csrf
        try:
            response = walker.client.open(url, method=method, headers=headers, data=data or None)
            status = response.status_code
        except Exception as exc:  # the test client re-raises what no handler caught
            status = f"raised {exc!r}"[:200]
        if not isinstance(status, int) or status >= 500:
            shown = url if len(url) < 120 else url[:100] + "…"
            failures.append(f"{role} {method} {shown} form={list(form or {})}: {status}")

    for rule in _rules(app):
        params = sorted(rule.arguments - set(rule.defaults or {}))
        good = {p: good_values.get(p, "1") for p in params}  # a parameter not listed gets a plausible id
        for method in sorted(rule.methods - SKIPPED_METHODS):
            for role, walker in walkers.items():
                limiter.reset()  # each role's probes reach the view, not only the per-address rate limits
                seen["args"].clear()
                seen["form"].clear()
                probe(walker, role, method, _url(rule, good))
                query_names, form_names = sorted(seen["args"]), sorted(seen["form"] - {"csrf_token"})
                for param in params:
                    for value in HOSTILE:
                        probe(walker, role, method, _url(rule, {**good, param: value}))
                for name in query_names:
                    for value in HOSTILE:
                        probe(walker, role, method, _url(rule, good, f"{quote(name)}={value}"))
                if method != "GET":
                    for name in form_names:
                        for value in HOSTILE_FORM:
                            probe(walker, role, method, _url(rule, good), {name: value})

    assert walked > 500, walked
    assert not failures, f"{len(failures)} of {walked} requests answered 5xx:\n" + "\n".join(failures[:200])


# The requests an outside review found answered 500, each now a clear client error.
@pytest.mark.parametrize("method, url, status", [
    ("GET", "/pay/abc%00def", 404),
    ("GET", "/pay/{token}/return/stripe?session_id=a%00b", 400),
    ("GET", "/invoices/?q=%00", 400),
    ("GET", "/invoices/export.csv?q=%00", 400),
    ("GET", "/invoices/2147483648", 404),
    ("GET", "/invoices/2147483648/status", 404),
    ("POST", "/invoices/2147483648/void", 404),
    ("POST", "/gateways/mismatches/2147483648/resolve", 404),
    ("GET", "/invoices/?page=99999999999999999999", 400),
    ("GET", "/api/v1/invoices?page=99999999999999999999", 400),
])
def test_the_reviewed_hostile_requests_are_client_errors(walkers, good_values, method, url, status):
    admin = walkers["admin"]
    url = url.format(token=good_values["token"])
    response = admin.client.open(url, method=method, headers={**admin.headers, "X-CSRFToken": admin.csrf})
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    if status == 400:
        text = response.get_data(as_text=True)
        assert "must" in text  # says what a valid value looks like


def test_an_unknown_gateway_name_is_refused_before_the_click_is_recorded(walkers, make_invoice, staff):
    # A void invoice records the refused click; a gateway name longer than its column made that a 500
    # on PostgreSQL, through the API and the invoice page alike.
    from portal.invoices import service
    from portal.models import LinkClick

    invoice = make_invoice(open_it=True)
    service.void_invoice(invoice, staff)
    admin = walkers["admin"]
    name = "no-such-gateway-" + "x" * 100
    api = admin.client.post(f"/api/v1/invoices/{invoice.id}/payment-link", json={"gateway": name},
                            headers=admin.headers)
    assert api.status_code == 422 and api.get_json()["error"]["code"] == "gateway_unavailable"
    page = admin.client.post(f"/invoices/{invoice.id}/payment-link", data={"gateway": name, "csrf_token": admin.csrf},
                             headers={"HX-Request": "true"})
    assert page.status_code == 200 and "There is no gateway called" in page.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(LinkClick)) == 0
