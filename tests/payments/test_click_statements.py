"""How much database work a click costs, counted with SQLAlchemy's cursor events, on SQLite and PostgreSQL.

Upper bounds, not timings: a click that starts reloading rows it has just written, reading the admins'
settings it already holds, or committing between its steps fails here. And the admins' settings, cached per
process, still reach every instance at once when an admin changes them."""
from __future__ import annotations

import secrets
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.models import ApiToken, Invoice, PaymentLink
from portal.payments import engine
from tests.conftest import Browser, IsolatedClient

USD = [{"description": "Consulting", "quantity": 1, "unit_price": "120.00"}]


@contextmanager
def statements():
    """Every SQL statement sent while the block runs, with "COMMIT" for each commit."""
    sent: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split()))

    def commit(conn):
        sent.append("COMMIT")

    engine_ = db.engine
    event.listen(engine_, "before_cursor_execute", before)
    event.listen(engine_, "commit", commit)
    try:
        yield sent
    finally:
        event.remove(engine_, "before_cursor_execute", before)
        event.remove(engine_, "commit", commit)


def explain(sent: list[str]) -> str:
    return "\n  " + "\n  ".join(s[:100] for s in sent)


def position(sent: list[str], prefix: str) -> int:
    return next(i for i, s in enumerate(sent) if s.startswith(prefix))


@pytest.fixture
def warm(pay_app, make_invoice, api):
    """One click already made in this process: the admins' settings are cached and the token's last use
    was noted a moment ago, as on any busy server."""
    assert api.post(f"/invoices/{make_invoice(currency='INR', open_it=True).id}/payment-link").status_code == 200
    return api


def test_a_first_click_is_one_transaction_before_the_gateway_call_and_one_after(warm, make_invoice):
    invoice_id = make_invoice(currency="INR", open_it=True).id
    db.session.expire_all()
    with statements() as sent:
        response = warm.post(f"/invoices/{invoice_id}/payment-link")
    assert response.status_code == 200 and not response.json["cached"]
    queries = [s for s in sent if s != "COMMIT"]
    # API: token with its user (1), the invoice (2). Before the call, one transaction: take the invoice's
    # lock, reading back its status and amounts (3), the invoice's links: reuse, numbering, what to cancel
    # (4), the click row (5), the link row with its idempotency key (6), COMMIT. After the call, one
    # transaction: the attempt (7), the link's URL and status (8), the audit line (9), the click's outcome
    # (10), the lock let go (11), COMMIT. Nothing read twice, no settings or routing read.
    assert len(queries) <= 11, f"{len(queries)} statements for a first click:" + explain(sent)
    assert sent.count("COMMIT") == 2, explain(sent)
    assert not [s for s in sent if "gateway_settings" in s or "routing_rules" in s], explain(sent)
    # Crash safety: the link row and its key are committed before the gateway is called.
    first_commit = sent.index("COMMIT")
    assert position(sent, "INSERT INTO payment_links") < first_commit < position(sent, "INSERT INTO gateway_attempts")


def test_a_reuse_click_reads_the_link_once_and_writes_one_click(warm, make_invoice):
    invoice_id = make_invoice(currency="INR", open_it=True).id
    first = warm.post(f"/invoices/{invoice_id}/payment-link").json
    db.session.expire_all()
    with statements() as sent:
        response = warm.post(f"/invoices/{invoice_id}/payment-link")
    assert response.json["cached"] and response.json["url"] == first["url"]
    # Token with its user, the invoice, the cached link by its id, the click row; one COMMIT.
    assert len([s for s in sent if s != "COMMIT"]) <= 4, explain(sent)
    assert sent.count("COMMIT") == 1, explain(sent)


def test_the_same_click_through_the_engine_on_both_paths(pay_app, make_invoice):
    """The engine alone, as the pay page and the invoice page call it."""
    engine.generate_link(make_invoice(currency="INR", open_it=True))  # settings now cached
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    assert invoice.status == "open"  # loaded, as a view has it
    with statements() as first:
        created = engine.generate_link(invoice)
    assert len([s for s in first if s != "COMMIT"]) <= 9 and first.count("COMMIT") == 2, explain(first)
    with statements() as again:
        reused = engine.generate_link(invoice)
        assert reused.link.url == created.link.url  # handed back without a reload
    assert reused.cached
    assert len([s for s in again if s != "COMMIT"]) <= 2 and again.count("COMMIT") == 1, explain(again)


def test_a_token_is_read_once_and_its_last_use_written_at_most_once_a_minute(pay_app, make_invoice, api):
    invoice_id = make_invoice(currency="INR", open_it=True).id
    with statements() as first:
        assert api.get(f"/invoices/{invoice_id}").status_code == 200
    with statements() as second:
        assert api.get(f"/invoices/{invoice_id}").status_code == 200
    assert len([s for s in first if "api_tokens" in s and s.startswith("SELECT")]) == 1, explain(first)
    assert len([s for s in first if s.startswith("UPDATE api_tokens")]) == 1, explain(first)
    assert len([s for s in second if "api_tokens" in s]) == 1, explain(second)  # the read; no write
    assert not [s for s in second if s.startswith("UPDATE") or s == "COMMIT"], explain(second)
    assert db.session.scalar(db.select(ApiToken.last_used_at)) is not None


def test_an_admin_change_on_one_instance_steers_the_next_click_on_another(pay_app, admin, make_invoice,
                                                                           monkeypatch, tmp_path, database_url):
    """Two portal instances (two machines) sharing the database and Redis, each caching the admins' settings:
    a change made through one instance's pages decides the very next click on the other."""
    import redis

    from portal import create_app

    url = "redis://127.0.0.1:6379/13"
    prefix = f"hisabpro-test-{secrets.token_hex(4)}:"  # our keys only: other runs may share this Redis
    monkeypatch.setenv("REDIS_URL", url)
    gateways = {k: v for k, v in pay_app.config.items() if k.startswith(("STRIPE_", "PAYPAL_", "RAZORPAY_"))}
    one, two = [create_app({"INSTANCE_PATH": str(tmp_path / name), "SQLALCHEMY_DATABASE_URI": database_url,
                            "SECRET_KEY": "x", "FRONTEND_URL": "https://portal.example", "CACHE_KEY_PREFIX": prefix,
                            "RATELIMIT_STORAGE_URI": "memory://", **gateways})
                for name in ("one", "two")]
    assert one.config["CACHE_TYPE"] == two.config["CACHE_TYPE"] == "RedisCache"
    one.test_client_class = IsolatedClient
    admin_pages = Browser(one.test_client())
    assert admin_pages.login(admin.email).status_code == 302

    def click_on_two() -> str:
        invoice_id = make_invoice(currency="USD", items=USD, open_it=True).id
        with two.app_context():
            result = engine.generate_link(db.session.get(Invoice, invoice_id))
            return result.link.gateway

    def change_on_one(path: str, data: dict) -> None:
        assert admin_pages.post(path, data, token_page="/gateways/").status_code == 303

    try:
        assert click_on_two() == "stripe"  # instance two now holds the settings in its cache
        change_on_one("/gateways/routing/move", {"currency": "USD", "gateway": "paypal", "direction": "up"})
        assert click_on_two() == "paypal"
        change_on_one("/gateways/paypal/enabled", {"enabled": "0"})
        assert click_on_two() == "stripe"
        change_on_one("/gateways/routing/reset", {"currency": "USD"})
        change_on_one("/gateways/paypal/enabled", {"enabled": "1"})
        change_on_one("/gateways/stripe/breaker", {"state": "open"})
        assert click_on_two() == "paypal"
    finally:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)
        for app in (one, two):
            with app.app_context():
                db.engine.dispose()
    assert db.session.scalar(db.select(db.func.count(PaymentLink.id))) == 4
