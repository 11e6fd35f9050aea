"""Every gateway failing 30 % of calls at random: do customers still get one working link each?

    .venv/bin/python bench/random_failures.py [--clicks 1000] [--clients 16] [--rate 0.3] [--runs 3] [--seed N]

In the production shape (bench/stack.py: gunicorn 4 workers, PostgreSQL, Redis, the sandbox), every gateway
answers a random `rate` of requests with a 503 (the sandbox's `error` fault with `error_rate`), then
`clients` threads click "payment link" (POST /api/v1/invoices/{id}/payment-link) once on each of `clicks`
fresh USD invoices, which all three gateways take (Stripe first, then PayPal, then Razorpay).

Counted per run:
- success rate: clicks answered with a link. Every other click must get a clear error (a JSON error body),
  never a 500 or a dropped connection.
- baseline, from the same clicks: "a single gateway, no fallback", the clicks their first gateway served
  with its own retries. That is what a portal with one gateway would have got from the same calls.
- duplicate live links: invoices with more than one live link in our database, and invoices with more than
  one live link at the gateways (the sandbox's state matched to our link rows by the gateway's id); a live
  link at a gateway that our database does not know is counted too.
- the breaker: clicks that skipped a gateway because its breaker was open, and openings replayed from the
  attempt log as the Statistics page counts them. A rate rule should keep every gateway in rotation.
Figures go to bench/results/random_failures.json (bench/results.py). tests/drills/test_random_failures.py
runs a small version in `make test`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import Figure, save  # noqa: E402
from stack import Stack  # noqa: E402

GOAL_SUCCESS = 99.9  # percent of clicks
LIVE_AT_GATEWAY = {  # a customer could still pay these
    "stripe": ("sessions", {"open"}),
    "razorpay": ("payment_links", {"created", "partially_paid"}),
    "paypal": ("orders", {"CREATED", "PAYER_ACTION_REQUIRED", "APPROVED"}),
}


@dataclass
class RandomFailuresResult:
    clicks: int
    links: int                      # clicks answered with a link
    clear_errors: int               # clicks answered with a JSON error (503 no_gateway_available, ...)
    unclear: list[str]              # anything else: a 500, a dropped connection, a timeout
    first_gateway_alone: int        # clicks their first gateway served, without falling back (the baseline)
    fallbacks: int
    duplicates_in_database: int     # invoices with more than one live link row
    duplicates_at_gateways: int     # invoices with more than one live link across the gateways
    unknown_at_gateways: int        # live links at a gateway that no link row knows
    breaker_skips: int              # clicks whose plan left out a gateway because its breaker was open
    breaker_openings: dict[str, int]  # per gateway, replayed from the attempt log as the Statistics page does
    breaker_open_at_end: list[str]
    calls: int                      # create calls to the gateways
    failed_calls: int
    seconds: float
    failures: Counter = field(default_factory=Counter)  # error codes of the clicks that got no link
    failure_messages: list[str] = field(default_factory=list)  # what those clicks were told
    outage: "Outage | None" = None

    @property
    def success_rate(self) -> float:
        return 100 * self.links / self.clicks

    @property
    def baseline_rate(self) -> float:
        return 100 * self.first_gateway_alone / self.clicks


def random_failures(clicks: int = 1000, clients: int = 16, rate: float = 0.3, seed: int | None = None,
                    workers: int = 4, outage_clicks: int = 100) -> RandomFailuresResult:
    with Stack(workers=workers) as stack:
        invoice_ids = _fresh_invoices(stack, clicks)
        fault = {"gateway": "all", "mode": "error", "error_rate": rate, "status": 503}
        if seed is not None:
            fault["seed"] = seed
        stack.control("/_sandbox/faults", fault)

        started = time.monotonic()
        answers = _click_all(stack, invoice_ids, clients)
        seconds = time.monotonic() - started
        stack.control("/_sandbox/faults", {"gateway": "all", "mode": "ok"})
        _wait_for_jobs(stack)
        gateway_state = requests.get(stack.sandbox.control_url + "/_sandbox/state", timeout=30).json()
        result = _count(stack, answers, gateway_state, seconds)
        if outage_clicks:
            result.outage = _outage(stack, outage_clicks, clients)
        return result


def _click_all(stack: Stack, invoice_ids: list[int], clients: int) -> list[tuple[int, dict | None, str]]:
    """One click per invoice from `clients` threads: (status, JSON body or None, start of the text)."""
    answers: list[tuple[int, dict | None, str]] = []
    lock = threading.Lock()
    queue = iter(invoice_ids)

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                invoice_id = next(queue, None)
            if invoice_id is None:
                return
            try:
                response = stack.api("POST", f"/invoices/{invoice_id}/payment-link", session, json={})
                try:
                    body = response.json()
                except ValueError:
                    body = None
                answer = (response.status_code, body, response.text[:200])
            except requests.RequestException as exc:
                answer = (0, None, repr(exc)[:200])
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@dataclass
class Outage:
    clicks: int
    links: int                      # clicks that still got a link (from the next gateway)
    clicks_before_open: int | None  # clicks that met the failing gateway before its breaker opened
    seconds_to_open: float | None   # from the outage's start to the first click that found it open


def _outage(stack: Stack, clicks: int, clients: int) -> Outage:
    """Then a real outage: Stripe, the first gateway for USD, fails every call; how soon does it open?"""
    from datetime import datetime, timezone

    invoice_ids = _fresh_invoices(stack, clicks)
    with stack.app.app_context():
        from portal.payments import engine, registry

        for name in registry.GATEWAY_CLASSES:  # whatever the random failures did, start closed
            engine.breaker().reset(name)
    stack.control("/_sandbox/faults", {"gateway": "stripe", "mode": "error", "error_rate": 1.0, "status": 503})
    began = datetime.now(timezone.utc)
    answers = _click_all(stack, invoice_ids, clients)
    stack.control("/_sandbox/faults", {"gateway": "all", "mode": "ok"})
    with stack.app.app_context():
        from portal.extensions import db
        from portal.models import LinkClick

        trail = db.session.execute(db.select(LinkClick.created_at, LinkClick.reason)
                                   .where(LinkClick.invoice_id.in_(invoice_ids))
                                   .order_by(LinkClick.created_at, LinkClick.id)).all()
    first_open = next((i for i, (_, reason) in enumerate(trail)
                       if "Stripe is failing (circuit breaker open)" in (reason or "")), None)
    return Outage(clicks=len(answers), links=sum(1 for status, body, _ in answers if status == 200),
                  clicks_before_open=first_open,
                  seconds_to_open=(trail[first_open][0] - began).total_seconds() if first_open is not None else None)


def _fresh_invoices(stack: Stack, count: int) -> list[int]:
    with stack.app.app_context():
        from portal.extensions import db
        from portal.invoices import service
        from portal.models import User

        staff = db.session.scalars(db.select(User).limit(1)).one()
        ids = []
        for _ in range(count):
            invoice = service.create_invoice(service.parse_invoice_input({
                "customer": {"name": "Random Failures Ltd", "email": "rf@example.com"}, "currency": "USD",
                "items": [{"description": "Work", "quantity": 1, "unit_price": "120.00"}]}), staff)
            service.open_invoice(invoice, staff)
            ids.append(invoice.id)
        return ids


def _wait_for_jobs(stack: Stack, timeout: float = 60.0) -> None:
    """Links left behind are cancelled in the background: let that finish before counting live links."""
    with stack.app.app_context():
        from portal.extensions import db
        from portal.models import Job

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = db.session.scalar(db.select(db.func.count(Job.id)).where(Job.status.in_(("queued", "running"))))
            db.session.rollback()
            if not waiting:
                return
            time.sleep(0.5)


def _count(stack: Stack, answers, gateway_state: dict, seconds: float) -> RandomFailuresResult:
    links = sum(1 for status, body, _ in answers if status == 200 and body and body.get("url"))
    clear = [body["error"]["code"] for status, body, _ in answers
             if status >= 400 and body and isinstance(body.get("error"), dict) and body["error"].get("message")]
    unclear = [f"{status}: {text}" for status, body, text in answers
               if not (status == 200 and body and body.get("url"))
               and not (status >= 400 and body and isinstance(body.get("error"), dict))]
    with stack.app.app_context():
        from portal.extensions import db
        from portal.merchant import merchant_settings
        from portal.models import GatewayAttempt, LinkClick, PaymentLink
        from portal.payments import engine, registry
        from portal.statistics.numbers import Period, payment_statistics

        rows = db.session.execute(db.select(PaymentLink.invoice_id, PaymentLink.gateway, PaymentLink.link_id,
                                            PaymentLink.status)).all()
        live_rows = Counter(invoice_id for invoice_id, _, _, status in rows if status in ("created", "partially_paid"))
        owner = {(gateway, link_id): invoice_id for invoice_id, gateway, link_id, _ in rows if link_id}
        live_at_gateways: Counter = Counter()
        unknown = 0
        for gateway, (collection, live) in LIVE_AT_GATEWAY.items():
            for obj in gateway_state[gateway][collection]:
                if obj.get("status") in live:
                    invoice_id = owner.get((gateway, obj["id"]))
                    if invoice_id is None:
                        unknown += 1
                    else:
                        live_at_gateways[invoice_id] += 1
        created = db.session.scalars(db.select(LinkClick).where(LinkClick.outcome == "created")).all()
        first_alone = sum(1 for c in created if not c.fallback and c.gateway == "stripe")
        fallbacks = sum(1 for c in created if c.fallback)
        skips = db.session.scalar(db.select(db.func.count(LinkClick.id))
                                  .where(LinkClick.reason.contains("circuit breaker open")))
        calls = db.session.execute(db.select(GatewayAttempt.outcome, db.func.count(GatewayAttempt.id))
                                   .where(GatewayAttempt.operation == "create").group_by(GatewayAttempt.outcome)).all()
        today = merchant_settings().today()
        by_gateway = payment_statistics(Period(today, today))["by_gateway"]
        openings = {name: g["breaker_openings"] for name, g in by_gateway.items() if g["breaker_openings"]}
        states = engine.breaker().states(list(registry.GATEWAY_CLASSES))
    by_outcome = dict(calls)
    return RandomFailuresResult(
        clicks=len(answers), links=links, clear_errors=len(clear), unclear=unclear,
        first_gateway_alone=first_alone, fallbacks=fallbacks,
        duplicates_in_database=sum(1 for n in live_rows.values() if n > 1),
        duplicates_at_gateways=sum(1 for n in live_at_gateways.values() if n > 1),
        unknown_at_gateways=unknown, breaker_skips=skips, breaker_openings=openings,
        breaker_open_at_end=[name for name, state in states.items() if state != "closed"],
        calls=sum(by_outcome.values()), failed_calls=by_outcome.get("failure", 0), seconds=seconds,
        failures=Counter(clear),
        failure_messages=[body["error"]["message"][:300] for status, body, _ in answers
                          if status >= 400 and body and isinstance(body.get("error"), dict)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None, help="the sandbox's dice; unset: truly random")
    args = parser.parse_args()
    results = []
    for run in range(args.runs):
        r = random_failures(args.clicks, args.clients, args.rate, args.seed)
        results.append(r)
        print(f"run {run + 1}: {r.links}/{r.clicks} clicks got a link ({r.success_rate:.2f} %), "
              f"{r.clear_errors} clear errors {dict(r.failures)}, {len(r.unclear)} unclear; first gateway alone "
              f"{r.baseline_rate:.2f} %; {r.fallbacks} fallbacks; {r.failed_calls}/{r.calls} create calls failed; "
              f"duplicates: {r.duplicates_in_database} in the database, {r.duplicates_at_gateways} at the "
              f"gateways, {r.unknown_at_gateways} unknown; breaker openings {r.breaker_openings}, "
              f"{r.breaker_skips} skips, open at the end {r.breaker_open_at_end}; {r.seconds:.0f} s")
        for line in r.unclear[:5]:
            print("   unclear:", line)
        for line in r.failure_messages[:5]:
            print("   no link:", line)
        if r.outage:
            print(f"   then Stripe failing every call: {r.outage.links}/{r.outage.clicks} clicks got a link; its "
                  f"breaker opened after {r.outage.clicks_before_open} clicks, {r.outage.seconds_to_open} s")
    success = [r.success_rate for r in results]
    duplicates = [float(r.duplicates_in_database + r.duplicates_at_gateways + r.unknown_at_gateways)
                  for r in results]
    openings = [float(sum(r.breaker_openings.values())) for r in results]
    setup = (f"gunicorn 4 workers, PostgreSQL, Redis, sandbox; every gateway answers {args.rate:.0%} of requests "
             f"with a 503 at random; {args.clicks} clicks on fresh USD invoices from {args.clients} client threads; "
             f"breaker opens at {os.environ.get('BREAKER_FAILURE_RATE', '50')} % of ≥ "
             f"{os.environ.get('BREAKER_MIN_CALLS', '40')} calls in {os.environ.get('BREAKER_WINDOW_SECONDS', '30')} s")
    success_met = statistics.median(success) >= GOAL_SUCCESS
    note = "" if success_met else (
        "clicks without a link: " + ", ".join(f"{code} × {n}" for code, n in
                                             sum((r.failures for r in results), Counter()).items())
        + f"; breaker openings per run {openings}")
    path = save("random_failures", setup, [
        Figure("random_failures_success", "every gateway failing 30 % of calls at random: clicks that got a link",
               goal=f"≥ {GOAL_SUCCESS} %", unit="%", runs=success, met=success_met,
               baseline="a single gateway, no fallback (the first gateway's own retries, same clicks)",
               baseline_runs=[r.baseline_rate for r in results], note=note),
        Figure("random_failures_duplicates", "every gateway failing 30 % of calls at random: invoices with "
               "more than one live link (database and gateways)", goal="0", unit="", runs=duplicates,
               met=max(duplicates) == 0),
        Figure("random_failures_breaker_openings", "every gateway failing 30 % of calls at random: breaker "
               "openings (replayed from the attempt log)", goal="0", unit="", runs=openings,
               met=statistics.median(openings) == 0,
               note="" if max(openings) == 0 else (
                   "openings per run " + ", ".join(str(r.breaker_openings) for r in results) + ": a gateway "
                   "that gets few calls (PayPal and Razorpay only see clicks Stripe failed three times) has "
                   "few calls in its window, and 30 % random failures reach 50 % of them by chance: 20 calls about "
                   "5 % of the time, 40 calls (the default) 0.6 % (binomial); the clicks it would have taken go "
                   "to the next gateway, and its probe closes it after the cool-down")),
        Figure("random_failures_outage_open_s", "a real outage (Stripe failing every call, 16 clients): "
               "seconds until its breaker opens", goal="within the window (≤ 30 s)", unit="s",
               runs=[r.outage.seconds_to_open if r.outage.seconds_to_open is not None else float("inf")
                     for r in results],
               met=all(r.outage.seconds_to_open is not None and r.outage.seconds_to_open <= 30 for r in results)),
    ])
    print(f"saved {path}")
    ok = success_met and max(duplicates) == 0 and not any(r.unclear for r in results)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
