"""Fixtures shared by every test: an app on a migrated database, clients, and data factories.

The database is SQLite in a temporary folder, or PostgreSQL when TEST_DATABASE_URL is set
(`.ci/run` runs the suite once on each).
"""
from __future__ import annotations

import os
import re
import shutil
import threading
from urllib.parse import quote
from pathlib import Path

import pytest
from jinja2 import BytecodeCache
import requests
from sqlalchemy import create_engine, inspect, text

from flask.globals import _cv_app
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from portal import create_app
from portal.config import load_config
from sandbox import Sandbox, SandboxConfig
from portal.extensions import db
from portal.models import ApiToken, User
from portal.users.accounts import create_user

# Background jobs run only when a test says so (jobs.run_pending()), never in a thread behind its back.
os.environ["JOBS_IN_PROCESS"] = "0"

# Gateway reference data vendored from the gateways' public repositories (sources, licences: its README).
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a machine with no outside network: no background calls home, no GPU, no sandbox as root.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery staple"


def _normalize(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = _normalize(url)
        # Start from an empty schema so the migrations themselves are exercised.
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def migrated(database_url, tmp_path_factory):
    """Apply the Alembic migrations once per run, as `flask db upgrade` would."""
    from flask_migrate import upgrade

    app = create_app({"INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
                      "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test"})
    with app.app_context():
        upgrade()
        tables = [t for t in reversed(db.metadata.sorted_tables)]
        missing = set(t.name for t in tables) - set(inspect(db.engine).get_table_names())
        assert not missing, f"migrations do not create {missing}"
    return [t.name for t in tables]


class IsolatedClient(FlaskClient):
    """Runs each request in its own app context, as a real server does.

    The `app` fixture keeps an app context open for the test's own database work; without this,
    Flask would reuse it for requests, sharing `g` (CSRF token, Flask-Login's user) and the
    SQLAlchemy session between requests and hiding bugs. After each request the test's session
    forgets what it had loaded, so assertions read what the request committed.
    """

    def open(self, *args, **kwargs):
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)
            db.session.expire_all()


# A breaker judges five calls here, not twenty (BREAKER_MIN_CALLS): an outage shows in five clicks.
TEST_BREAKER = {"BREAKER_MIN_CALLS": 5}


class SharedTemplateCache(BytecodeCache):
    """Every test builds its own app; this lets them share compiled templates (keyed by name and source checksum,
    so an edited template compiles afresh) instead of compiling each page again for each test."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = SharedTemplateCache()


@pytest.fixture
def app(database_url, migrated, tmp_path):
    app = create_app({
        "PORTAL_ENV": "test",
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "CACHE_TYPE": "SimpleCache",
        "FRONTEND_URL": "https://portal.example",
        # A cheaper scrypt (n=2**10) for the users tests create: the same code path, a fraction of the CPU;
        # tests/portal/test_auth.py checks that the portal itself hashes with n=2**15.
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        **TEST_BREAKER,
    })
    app.test_client_class = IsolatedClient
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as conn:
            for table in migrated:
                conn.execute(text(f"DELETE FROM {table}"))
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


class Browser:
    """A test client that signs in and sends forms with the page's CSRF token, as a browser would."""

    def __init__(self, client):
        self.client = client

    def token(self, path: str = "/login") -> str:
        return csrf_from(self.client.get(path).get_data(as_text=True))

    def login(self, email: str, password: str = PASSWORD, next_url: str | None = None):
        url = "/login" + (f"?next={quote(next_url, safe='')}" if next_url else "")
        return self.client.post(url, data={"email": email, "password": password,
                                           "csrf_token": self.token("/login")})

    def post(self, path: str, data: dict | None = None, token_page: str = "/invoices/new", **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token(token_page))
        return self.client.post(path, data=data, **kwargs)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def make_user(app):
    def make(email: str = "staff@example.com", role: str = "staff", password: str = PASSWORD) -> User:
        user, _ = create_user(email, role, None, password=password)
        return user

    return make


@pytest.fixture
def admin(make_user):
    return make_user("admin@example.com", "admin")


@pytest.fixture
def staff(make_user):
    return make_user("staff@example.com", "staff")


@pytest.fixture
def signed_in_staff(browser, staff):
    assert browser.login(staff.email).status_code == 302
    return browser


@pytest.fixture
def signed_in_admin(browser, admin):
    assert browser.login(admin.email).status_code == 302
    return browser


@pytest.fixture
def make_invoice(app, staff):
    from portal.invoices import service

    def make(currency: str = "INR", items=None, name: str = "Asha Traders", email: str = "asha@example.com",
             open_it: bool = False, **extra):
        data = {"customer": {"name": name, "email": email}, "currency": currency,
                "items": items or [{"description": "Design work", "quantity": 2, "unit_price": "1234.50"}],
                **extra}
        invoice = service.create_invoice(service.parse_invoice_input(data), staff)
        if open_it:
            service.open_invoice(invoice, staff)
        return invoice

    return make


class Api:
    def __init__(self, client, token: str):
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method):
        def call(path, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)("/api/v1" + path, headers=headers, **kwargs)
        return call


def _api_as(client, user) -> Api:
    row, plain = ApiToken.issue(user)
    db.session.add(row)
    db.session.commit()
    return Api(client, plain)


@pytest.fixture
def api(client, staff):
    return _api_as(client, staff)


@pytest.fixture
def admin_api(client, admin):
    return _api_as(client, admin)


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium through Playwright, one per test run (Playwright's sync API allows one at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# ---- the gateway sandbox, shared by tests/sandbox and the payment tests ----------------------------

@pytest.fixture(scope="session")
def sandbox_session():
    # Webhooks a test did not point at its own receiver go to a closed port, never to a developer's
    # portal that may be running on the default FRONTEND_URL.
    sb = Sandbox(SandboxConfig.for_tests(frontend_url="http://127.0.0.1:9"))
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def sandbox(sandbox_session):
    sandbox_session.reset()
    yield sandbox_session
    sandbox_session.reset()


class Control:
    """The control API over HTTP, as the portal's tests and a developer use it."""

    def __init__(self, base: str):
        self.base = base

    def get(self, path: str, **params):
        response = requests.get(self.base + path, params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict | None = None, expect: int = 200):
        response = requests.post(self.base + path, json=body or {}, timeout=5)
        assert response.status_code == expect, response.text
        return response.json()

    def deliveries(self, gateway: str | None = None):
        return self.get("/_sandbox/deliveries", **({"gateway": gateway} if gateway else {}))


@pytest.fixture
def control(sandbox):
    return Control(sandbox.control_url)


# ---- the portal pointed at the sandbox: what `make run` sets up --------------------------------------


@pytest.fixture
def gateway_config(sandbox, tmp_path):
    """The Flask config the portal would build with the sandbox's keys and API bases in its environment."""
    environ = {**sandbox.portal_env(), "SECRET_KEY": "test", "FRONTEND_URL": "https://portal.example",
               "GATEWAY_TIMEOUT_SECONDS": "1", **{k: str(v) for k, v in TEST_BREAKER.items()}}
    return load_config(instance_path=tmp_path, environ=environ)


GATEWAY_PREFIXES = ("RAZORPAY_", "STRIPE_", "PAYPAL_", "GATEWAY_", "PAYMENT_", "BREAKER_")
OBJECTS = {"stripe": "sessions", "razorpay": "payment_links", "paypal": "orders"}


@pytest.fixture
def pay_app(app, gateway_config):
    """The test app with the sandbox as its gateways (what `make run` sets up)."""
    app.config.update({k: v for k, v in gateway_config.items() if k.startswith(GATEWAY_PREFIXES)})
    return app


def gateway_objects(control, gateway: str) -> list[dict]:
    """What the sandbox holds for a gateway: Stripe sessions, Razorpay links, PayPal orders."""
    return control.get("/_sandbox/state")[gateway][OBJECTS[gateway]]


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # Return and callback URLs handed to gateways must lead back to this server.
    app.config["FRONTEND_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
