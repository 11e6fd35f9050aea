"""The payment engine against the sandbox, through the real SDKs: routing, fallback, retries, breaker,
reuse, idempotency. What a merchant would notice: which gateway, how fast, and never two live links."""
import time

import pytest

from portal import jobs
from portal.extensions import db
from portal.models import GatewayAttempt, GatewaySetting, Invoice, LinkClick, PaymentLink
from portal.payments import engine, links, routing
from tests.conftest import gateway_objects

USD = [{"description": "Consulting", "quantity": 1, "unit_price": "120.00"}]


def live_links(invoice_id: int) -> list[PaymentLink]:
    return [l for l in db.session.scalars(db.select(PaymentLink).where(PaymentLink.invoice_id == invoice_id))
            if l.is_live()]


def fault(control, gateway, mode, **extra):
    control.post("/_sandbox/faults", {"gateway": gateway, "mode": mode, **extra})


def test_inr_goes_to_razorpay_and_usd_to_stripe(pay_app, make_invoice, control):
    inr = engine.generate_link(make_invoice(currency="INR", open_it=True))
    usd = engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    assert (inr.link.gateway, usd.link.gateway) == ("razorpay", "stripe")
    assert inr.link.url.startswith(pay_app.config["RAZORPAY_API_BASE"])
    assert usd.link.url.startswith(pay_app.config["STRIPE_API_BASE"])
    assert not inr.cached and not usd.cached
    assert [o["amount"] for o in gateway_objects(control, "razorpay")] == [246900]
    assert [o["amount_total"] for o in gateway_objects(control, "stripe")] == [12000]


def test_generating_a_link_opens_a_draft(pay_app, make_invoice):
    invoice = make_invoice(currency="INR")
    engine.generate_link(invoice)
    assert db.session.get(Invoice, invoice.id).status == "open"


def test_primary_down_falls_back_within_a_second(pay_app, make_invoice, control):
    fault(control, "razorpay", "down")
    invoice = make_invoice(currency="INR", open_it=True)
    started = time.monotonic()
    result = engine.generate_link(invoice)
    elapsed = time.monotonic() - started
    assert result.link.gateway == "stripe" and result.fallback
    assert elapsed < 1.0, f"fallback took {elapsed:.2f} s"
    assert "razorpay failed: could not be reached" in result.reason
    assert [l.gateway for l in live_links(invoice.id)] == ["stripe"]


def create_calls(invoice_id: int) -> list[tuple[str, str]]:
    """(gateway, error kind or 'ok') of every create call made for an invoice, in order."""
    rows = db.session.scalars(db.select(GatewayAttempt).where(GatewayAttempt.invoice_id == invoice_id,
                                                              GatewayAttempt.operation == "create")
                              .order_by(GatewayAttempt.id))
    return [(row.gateway, row.error_kind or "ok") for row in rows]


def test_a_refused_connection_moves_to_the_next_gateway_without_retrying_or_waiting(pay_app, make_invoice, control):
    """A refused connection never reached the gateway: retrying it with backoff only delays the customer.
    The click goes on to the next gateway at once, with one call to the refusing one."""
    fault(control, "razorpay", "down")
    invoice = make_invoice(currency="INR", open_it=True)
    result = engine.generate_link(invoice)
    assert result.link.gateway == "stripe" and result.fallback
    assert create_calls(invoice.id) == [("razorpay", "unreachable"), ("stripe", "ok")]


def test_a_gateway_that_refused_is_tried_again_only_after_every_other_failed(pay_app, make_invoice, control):
    fault(control, "razorpay", "down")
    fault(control, "stripe", "error", error_rate=1.0, status=503)
    invoice = make_invoice(currency="INR", open_it=True)
    with pytest.raises(engine.NoGatewayAvailable):
        engine.generate_link(invoice)
    calls = create_calls(invoice.id)
    assert calls[0] == ("razorpay", "unreachable")
    stripe_calls = [i for i, (gateway, _) in enumerate(calls) if gateway == "stripe"]
    later_razorpay = [i for i, (gateway, _) in enumerate(calls) if gateway == "razorpay" and i > 0]
    assert stripe_calls and later_razorpay and min(later_razorpay) > max(stripe_calls)
    assert live_links(invoice.id) == []


def test_thirty_percent_errors_200_links_all_succeed_and_none_doubles(pay_app, make_invoice, control):
    fault(control, "stripe", "error", error_rate=0.3, status=503, seed=7)
    invoices = [make_invoice(currency="USD", items=USD, open_it=True) for _ in range(200)]
    results = [engine.generate_link(invoice) for invoice in invoices]
    assert all(r.link.url for r in results)
    jobs.run_pending()
    for invoice in invoices:
        assert len(live_links(invoice.id)) == 1
    # At the gateways too: one live object per invoice, never two.
    live_at_gateways = [s["metadata"]["invoice_id"] for s in gateway_objects(control, "stripe") if s["status"] == "open"]
    live_at_gateways += [o["purchase_units"][0]["custom_id"] for o in gateway_objects(control, "paypal")
                         if o["status"] in ("CREATED", "PAYER_ACTION_REQUIRED")]
    assert sorted(live_at_gateways) == sorted(str(i.id) for i in invoices)
    retried = db.session.scalar(db.select(db.func.count(GatewayAttempt.id)).where(GatewayAttempt.attempt > 1))
    assert retried > 0  # the errors were real, and retries absorbed most of them


def test_primary_hanging_still_ends_within_the_deadline(pay_app, make_invoice, control):
    pay_app.config.update(GATEWAY_TIMEOUT_SECONDS="0.5", PAYMENT_GATEWAY_BUDGET_SECONDS="0.8",
                          PAYMENT_CLICK_DEADLINE_SECONDS="3")
    fault(control, "stripe", "hang")
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    started = time.monotonic()
    result = engine.generate_link(invoice)
    assert time.monotonic() - started < 1.5
    assert result.link.gateway == "paypal"
    stripe_row = db.session.scalars(db.select(PaymentLink).where(PaymentLink.gateway == "stripe")).one()
    assert stripe_row.status == "abandoned"  # outcome unknown: looked up and cancelled later, never reused


def test_every_gateway_hanging_stays_under_the_click_deadline(pay_app, make_invoice, control):
    pay_app.config.update(GATEWAY_TIMEOUT_SECONDS="0.4", PAYMENT_GATEWAY_BUDGET_SECONDS="0.6",
                          PAYMENT_CLICK_DEADLINE_SECONDS="1.5")
    for gateway in ("stripe", "paypal", "razorpay"):
        fault(control, gateway, "hang")
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    started = time.monotonic()
    with pytest.raises(engine.NoGatewayAvailable):
        engine.generate_link(invoice)
    assert time.monotonic() - started < 2.0


def test_default_budgets_keep_a_click_under_ten_seconds(app):
    """Three hanging gateways, each given its whole budget, still end inside the click deadline < 10 s."""
    budget = float(app.config["PAYMENT_GATEWAY_BUDGET_SECONDS"])
    deadline = float(app.config["PAYMENT_CLICK_DEADLINE_SECONDS"])
    assert 3 * budget <= deadline < 10
    assert float(app.config["GATEWAY_TIMEOUT_SECONDS"]) <= budget


def test_every_gateway_down_is_a_clear_failure_and_can_be_retried(pay_app, make_invoice, control):
    for gateway in ("stripe", "paypal", "razorpay"):
        fault(control, gateway, "down")
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    with pytest.raises(engine.NoGatewayAvailable) as failure:
        engine.generate_link(invoice)
    assert "could not be reached" in str(failure.value)
    assert live_links(invoice.id) == []
    for gateway in ("stripe", "paypal", "razorpay"):
        fault(control, gateway, "ok")
        engine.breaker().reset(gateway)
    assert engine.generate_link(invoice).link.gateway == "stripe"


def test_second_click_reuses_the_link_without_calling_a_gateway(pay_app, make_invoice, control):
    invoice = make_invoice(currency="INR", open_it=True)
    first = engine.generate_link(invoice)
    calls_before = db.session.scalar(db.select(db.func.count(GatewayAttempt.id)))
    fault(control, "razorpay", "down")  # a gateway call now would fail: reuse must not make one
    second = engine.generate_link(invoice)
    assert second.cached and second.link.id == first.link.id and second.link.url == first.link.url
    assert db.session.scalar(db.select(db.func.count(GatewayAttempt.id))) == calls_before
    assert len(gateway_objects(control, "razorpay")) == 1


def test_a_changed_amount_gets_a_new_link_and_the_old_one_is_cancelled(pay_app, make_invoice, control):
    from portal.money import Money

    invoice = make_invoice(currency="INR", open_it=True)
    old = engine.generate_link(invoice).link
    invoice.record_payment(Money(100_00, "INR"))  # part paid elsewhere: less is due now
    db.session.commit()
    new = engine.generate_link(invoice).link
    jobs.run_pending()
    assert new.id != old.id and new.amount_minor == invoice.total_minor - 100_00
    assert db.session.get(PaymentLink, old.id).status == "cancelled"
    statuses = {o["id"]: o["status"] for o in gateway_objects(control, "razorpay")}
    assert statuses == {old.link_id: "cancelled", new.link_id: "created"}


def test_breaker_opens_skips_half_opens_and_closes(pay_app, make_invoice, control):
    breaker = engine.breaker()  # opens when at least half of 5 or more calls failed (tests/conftest.py)
    breaker.cooldown = 0.3
    fault(control, "stripe", "error", status=503)
    for _ in range(2):  # 3 attempts, then 2: the 5th consecutive failure opens it and stops the retries
        engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    assert breaker.state("stripe") == "open"
    skipped = engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    assert skipped.link.gateway == "paypal" and "circuit breaker open" in skipped.reason
    attempts_at_stripe = db.session.scalar(db.select(db.func.count(GatewayAttempt.id))
                                           .where(GatewayAttempt.gateway == "stripe"))
    assert attempts_at_stripe == 5  # the open breaker sent nothing more
    time.sleep(0.35)
    assert breaker.state("stripe") == "half_open"
    fault(control, "stripe", "ok")
    probe = engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    assert probe.link.gateway == "stripe"
    assert breaker.state("stripe") == "closed"


def test_a_failed_probe_reopens_the_breaker(pay_app, make_invoice, control):
    breaker = engine.breaker()
    breaker.cooldown = 0.2
    fault(control, "stripe", "down")
    # One refused call per click (the click moves on to PayPal at once): the minimum's worth of clicks.
    for _ in range(breaker.rule.min_calls):
        engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    assert breaker.state("stripe") == "open"
    time.sleep(0.25)
    assert breaker.state("stripe") == "half_open"
    engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    assert breaker.state("stripe") == "open"


def test_admin_can_force_the_breaker(pay_app, make_invoice, control):
    db.session.add(GatewaySetting(name="stripe", enabled=True, forced_breaker="open"))
    db.session.commit()
    result = engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    assert result.link.gateway == "paypal"
    assert gateway_objects(control, "stripe") == []


def test_a_4xx_from_the_gateway_is_not_retried(pay_app, make_invoice, control):
    fault(control, "stripe", "error", status=400)
    result = engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    stripe_attempts = db.session.scalars(db.select(GatewayAttempt).where(GatewayAttempt.gateway == "stripe")).all()
    assert [(a.attempt, a.error_kind) for a in stripe_attempts] == [(1, "rejected")]
    assert result.link.gateway == "paypal"
    assert engine.breaker().state("stripe") == "closed"  # a refusal is not an outage


def test_jpy_and_kwd_reach_each_gateway_in_its_own_units(pay_app, make_invoice, control):
    jpy = [{"description": "Tea", "quantity": 3, "unit_price": "500"}]
    kwd = [{"description": "Parts", "quantity": 1, "unit_price": "1.250"}]
    for gateway in ("stripe", "paypal", "razorpay"):
        engine.generate_link(make_invoice(currency="JPY", items=jpy, open_it=True), requested=gateway)
    for gateway in ("stripe", "razorpay"):
        engine.generate_link(make_invoice(currency="KWD", items=kwd, open_it=True), requested=gateway)
    assert [(s["currency"], s["amount_total"]) for s in gateway_objects(control, "stripe")] == [("jpy", 1500), ("kwd", 1250)]
    assert [(l["currency"], l["amount"]) for l in gateway_objects(control, "razorpay")] == [("JPY", 1500), ("KWD", 1250)]
    assert [o["purchase_units"][0]["amount"] for o in gateway_objects(control, "paypal")] == [
        {"currency_code": "JPY", "value": "1500"}]


def test_paypal_is_never_asked_for_inr(pay_app, make_invoice, control):
    with pytest.raises(routing.RoutingError, match="PayPal does not take INR"):
        engine.generate_link(make_invoice(currency="INR", open_it=True), requested="paypal")
    fault(control, "razorpay", "down")
    fault(control, "stripe", "down")
    with pytest.raises(engine.NoGatewayAvailable):
        engine.generate_link(make_invoice(currency="INR", open_it=True))
    assert gateway_objects(control, "paypal") == []


def test_paid_and_void_invoices_get_no_link(pay_app, make_invoice):
    from portal.money import Money

    paid = make_invoice(currency="INR", open_it=True)
    paid.record_payment(Money(paid.total_minor, "INR"))
    void = make_invoice(currency="INR")
    void.void()
    db.session.commit()
    for invoice in (paid, void):
        with pytest.raises(engine.LinkRefused):
            engine.generate_link(invoice)
    assert db.session.scalar(db.select(db.func.count(PaymentLink.id))) == 0


def test_an_answer_lost_in_a_hang_is_found_or_cancelled_never_left_live(pay_app, make_invoice, control):
    """Stripe takes the request but the answer never comes: the engine falls over to PayPal, and once
    Stripe answers again the session it made is looked up by its key and expired."""
    pay_app.config.update(GATEWAY_TIMEOUT_SECONDS="0.5", PAYMENT_GATEWAY_BUDGET_SECONDS="0.8")
    fault(control, "stripe", "hang", effect=True)
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    result = engine.generate_link(invoice)
    assert result.link.gateway == "paypal"
    jobs.run_pending()
    fault(control, "stripe", "ok")
    engine.cancel_other_links(invoice.id, result.link.id)
    sessions = gateway_objects(control, "stripe")
    assert sessions and all(s["status"] == "expired" for s in sessions)
    assert [l.gateway for l in live_links(invoice.id)] == ["paypal"]


def test_a_timed_out_call_moves_on_at_once_and_its_lookup_waits_for_the_background(pay_app, make_invoice,
                                                                                   control):
    """A call that timed out may have taken effect, so it is never retried blind; but looking it up inside the
    click made the customer wait a timeout and a lookup. With another gateway to ask, the click moves on at
    once; the background job looks the abandoned link up by its key and cancels it."""
    pay_app.config.update(GATEWAY_TIMEOUT_SECONDS="0.5", PAYMENT_GATEWAY_BUDGET_SECONDS="2")
    fault(control, "stripe", "hang", effect=True)
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    result = engine.generate_link(invoice)
    assert result.link.gateway == "paypal"
    assert create_calls(invoice.id) == [("stripe", "timeout"), ("paypal", "ok")]
    assert db.session.scalar(db.select(db.func.count(GatewayAttempt.id)).where(
        GatewayAttempt.operation == "find")) == 0  # no lookup inside the click
    fault(control, "stripe", "ok")
    jobs.run_pending()
    assert all(s["status"] == "expired" for s in gateway_objects(control, "stripe"))
    assert [l.gateway for l in live_links(invoice.id)] == ["paypal"]


def test_the_last_gateway_left_still_looks_a_timed_out_call_up_before_trying_again(pay_app, make_invoice,
                                                                                   control):
    pay_app.config.update(GATEWAY_TIMEOUT_SECONDS="0.5", PAYMENT_GATEWAY_BUDGET_SECONDS="2",
                          PAYMENT_RETRY_BASE_DELAY="0.01")
    pay_app.config["PAYPAL_CLIENT_ID"] = ""  # Stripe is the only gateway for USD besides Razorpay
    pay_app.config["RAZORPAY_KEY_ID"] = ""
    fault(control, "stripe", "hang", effect=True)
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    with pytest.raises(engine.NoGatewayAvailable):
        engine.generate_link(invoice)
    finds = db.session.scalar(db.select(db.func.count(GatewayAttempt.id)).where(GatewayAttempt.operation == "find"))
    assert finds >= 1  # with nowhere else to go, the click asks before it creates a second session


def test_background_lookups_that_fail_never_open_the_breaker_clicks_rely_on(pay_app, make_invoice, control):
    """The cancel job keeps asking a gateway about a link it abandoned; while that gateway is away those calls
    fail, but only customers' clicks decide whether their payments should avoid it."""
    pay_app.config.update(GATEWAY_TIMEOUT_SECONDS="0.5", PAYMENT_GATEWAY_BUDGET_SECONDS="2")
    fault(control, "stripe", "hang", effect=True)
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    result = engine.generate_link(invoice)
    fault(control, "stripe", "down")
    threshold = engine.breaker().rule.min_calls
    for _ in range(threshold + 1):
        engine.cancel_other_links(invoice.id, result.link.id)
    failed_lookups = db.session.scalar(db.select(db.func.count(GatewayAttempt.id)).where(
        GatewayAttempt.gateway == "stripe", GatewayAttempt.operation == "find", GatewayAttempt.outcome == "failure"))
    assert failed_lookups == threshold + 1  # logged for the trail and the health page
    assert engine.breaker().state("stripe") == "closed"


def test_every_click_and_call_is_logged_for_the_trail(pay_app, make_invoice, control):
    fault(control, "razorpay", "down")
    invoice = make_invoice(currency="INR", open_it=True)
    engine.generate_link(invoice)
    engine.generate_link(invoice)
    clicks = db.session.scalars(db.select(LinkClick).order_by(LinkClick.id)).all()
    assert [(c.outcome, c.gateway, c.fallback) for c in clicks] == [("created", "stripe", True),
                                                                   ("reused", "stripe", False)]
    calls = db.session.scalars(db.select(GatewayAttempt).order_by(GatewayAttempt.id)).all()
    assert [c.gateway for c in calls][-1] == "stripe"
    assert {c.error_kind for c in calls if c.gateway == "razorpay"} == {"unreachable"}


def test_secrets_never_reach_the_logs(pay_app, make_invoice, control, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="portal")
    fault(control, "stripe", "error", status=503)
    engine.generate_link(make_invoice(currency="USD", items=USD, open_it=True))
    text = caplog.text + " ".join(a.message for a in db.session.scalars(db.select(GatewayAttempt)))
    assert "stripe" in text.lower()
    for name in ("STRIPE_SECRET_KEY", "PAYPAL_CLIENT_SECRET", "RAZORPAY_KEY_SECRET"):
        assert pay_app.config[name] not in text


def test_a_429_is_retried_after_the_gateways_retry_after(pay_app, make_invoice, control):
    fault(control, "stripe", "error", status=429, retry_after=1)
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    result = engine.generate_link(invoice)
    calls = db.session.scalars(db.select(GatewayAttempt).where(GatewayAttempt.gateway == "stripe")
                               .order_by(GatewayAttempt.id)).all()
    assert [c.error_kind for c in calls] == ["rate_limited"] * 3
    for before, after in zip(calls, calls[1:]):
        gap = (after.created_at - before.created_at).total_seconds() - before.duration_ms / 1000
        assert gap >= 0.95, f"retried after {gap:.2f} s, before the 1 s Retry-After"
    assert result.link.gateway == "paypal"


def test_with_redis_two_workers_share_the_breaker_and_the_link_cache(pay_app, make_invoice, control, monkeypatch,
                                                                     tmp_path, database_url):
    """Two app instances (two gunicorn workers) on one Redis: what one learns, the other knows."""
    import redis as redis_client

    from portal import create_app
    from portal.extensions import cache

    url = "redis://127.0.0.1:6379/14"
    redis_client.Redis.from_url(url).flushdb()
    monkeypatch.setenv("REDIS_URL", url)
    gateway_settings = {k: v for k, v in pay_app.config.items() if k.startswith(("STRIPE_", "PAYPAL_", "RAZORPAY_"))}
    workers = [create_app({"INSTANCE_PATH": str(tmp_path / f"w{i}"), "SQLALCHEMY_DATABASE_URI": database_url,
                           "SECRET_KEY": "x", "FRONTEND_URL": "https://portal.example", **gateway_settings,
                           "BREAKER_MIN_CALLS": pay_app.config["BREAKER_MIN_CALLS"]})
               for i in range(2)]
    assert workers[0].config["CACHE_TYPE"] == "RedisCache"
    invoice = make_invoice(currency="INR", open_it=True)
    others = [make_invoice(currency="INR", open_it=True) for _ in range(4)]
    fault(control, "razorpay", "down")
    with workers[0].app_context():
        first = engine.generate_link(db.session.get(Invoice, invoice.id))
        for other in others:  # one refused call per click, five in all: the breaker opens
            engine.generate_link(db.session.get(Invoice, other.id))
        assert engine.breaker().state("razorpay") == "open"
        key = links.cache_key(invoice.id, first.link.amount)
        assert cache.get(key) == first.link.id
    with workers[1].app_context():
        assert engine.breaker().state("razorpay") == "open"
        assert cache.get(key) == first.link.id
        again = engine.generate_link(db.session.get(Invoice, invoice.id))
        assert again.cached and again.link.id == first.link.id
    redis_client.Redis.from_url(url).flushdb()


def test_simultaneous_clicks_on_one_invoice_make_one_link(pay_app, make_invoice, control):
    """Six customers (or one impatient one) press Pay at once: one link at the gateway, all six get it."""
    import threading

    fault(control, "razorpay", "slow", latency_ms=200)  # the first click is still at the gateway
    invoice_id = make_invoice(currency="INR", open_it=True).id
    urls, errors = [], []

    def click():
        with pay_app.app_context():
            try:
                urls.append(engine.generate_link(db.session.get(Invoice, invoice_id)).link.url)
            except Exception as exc:  # noqa: BLE001 (reported below, with the others)
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(urls) == 6 and len(set(urls)) == 1, (errors, urls)
    assert len(live_links(invoice_id)) == 1 and len(gateway_objects(control, "razorpay")) == 1
    outcomes = db.session.scalars(db.select(LinkClick.outcome).where(LinkClick.invoice_id == invoice_id)).all()
    assert sorted(outcomes) == ["created"] + ["reused"] * 5
