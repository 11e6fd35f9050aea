"""Statistics page and API time with 1,000,000 gateway attempts over 90 days (issue 10).

    .venv/bin/python bench/statistics_page.py [--attempts 1000000] [--requests 15] [--runs 3]

Seeds invoices as bench/invoice_list.py does, then a click trail, payment links, payments and the attempt
log spread over the last 90 days up to now (PostgreSQL: COPY; SQLite: batched inserts). Runs the rollup job
once, as the worker's periodic schedule would, and times over HTTP, in the production shape (gunicorn 4
workers, PostgreSQL, Redis: bench/stack.py): the page (30 days,
the default; 90 days; today), the CSV, and the API (all time, 30 days for one currency). The baseline in the
same run is the old all-time computation (old_all_time_statistics below) and the page with no rollup
(every day aggregated from the raw rows). Target: under 300 ms on PostgreSQL.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from invoice_list import percentile, seed, sign_in  # noqa: E402
from results import Figure, save  # noqa: E402
from stack import Stack  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.money import Money  # noqa: E402
from portal.payments import registry, stats  # noqa: E402
from portal.models import (GatewayAttempt, Invoice, LinkClick, Payment, PaymentLink,  # noqa: E402
                           StatisticsDaily, StatisticsRollup)

DAYS = 90
GATEWAYS = ("razorpay", "stripe", "paypal")
ERRORS = (("unreachable", "connection_failed"), ("server", "http_503"), ("timeout", "read_timeout"),
          ("rate_limited", "http_429"), ("rejected", "invalid_amount"))
CLICK_OUTCOMES = ("created",) * 14 + ("reused",) * 4 + ("failed", "cancelled")


def _write(model, columns: list[str], rows) -> None:
    """COPY on PostgreSQL; batched INSERTs elsewhere."""
    table = model.__table__
    if db.engine.dialect.name == "postgresql":
        raw = db.engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    batch = []
    for row in rows:
        batch.append(dict(zip(columns, row)))
        if len(batch) == 20000:
            db.session.execute(insert(table), batch)
            batch = []
    if batch:
        db.session.execute(insert(table), batch)
    db.session.commit()


def seed_history(attempts: int, invoices: int) -> None:
    now = datetime.now(timezone.utc)
    span = DAYS * 86400
    currency = dict(db.session.execute(db.select(Invoice.id, Invoice.currency)).all())
    clicks = attempts * 2 // 5
    at = lambda i, n: now - timedelta(seconds=span * (n - i) / n)  # noqa: E731  (oldest first, the last is now)

    def click_rows():
        for i in range(1, clicks + 1):
            outcome = CLICK_OUTCOMES[i % len(CLICK_OUTCOMES)]
            gateway = None if outcome == "failed" else GATEWAYS[i % 7 % 3]
            link = i if outcome == "created" else None
            yield (i, at(i, clicks), i % invoices + 1, "bench", None, outcome, gateway, link,
                   outcome == "created" and i % 20 == 0, "", 40)

    def link_rows():
        for i in range(1, clicks + 1):
            if CLICK_OUTCOMES[i % len(CLICK_OUTCOMES)] != "created":
                continue
            invoice = i % invoices + 1
            created = at(i, clicks)
            yield (i, invoice, GATEWAYS[i % 7 % 3], f"B{i}", f"plink_{i}", "https://pay.example/x",
                   "paid" if i % 2 else "created", currency[invoice], 100000 + i, 0, created, created,
                   created + timedelta(days=7))

    def payment_rows():
        n = 0
        for i in range(1, clicks + 1, 2):
            if CLICK_OUTCOMES[i % len(CLICK_OUTCOMES)] != "created":
                continue
            n += 1
            invoice = i % invoices + 1
            received = min(now, at(i, clicks) + timedelta(minutes=5 + i % 600))
            yield (n, invoice, i, GATEWAYS[i % 7 % 3], f"pay_{i}", currency[invoice], 100000 + i, "completed",
                   "webhook", received)

    def attempt_rows():
        for i in range(1, attempts + 1):
            click = i * 2 // 5 + 1 if i * 2 // 5 < clicks else clicks
            failed = i % 10 == 0
            kind, code = ERRORS[i // 10 % len(ERRORS)] if failed else (None, None)
            yield (i, at(i, attempts), click, click % invoices + 1, GATEWAYS[i % 7 % 3],
                   "fetch" if i % 20 == 1 else "create", 1 if i % 9 else 2, f"B{click}",
                   "failure" if failed else "success", kind, code, "", 80 + (i * 7919) % 1200)

    _write(PaymentLink, ["id", "invoice_id", "gateway", "reference", "link_id", "url", "status", "currency",
                         "amount_minor", "amount_paid_minor", "created_at", "updated_at", "expires_at"], link_rows())
    _write(LinkClick, ["id", "created_at", "invoice_id", "actor_label", "requested_gateway", "outcome", "gateway",
                       "payment_link_id", "fallback", "reason", "duration_ms"], click_rows())
    _write(Payment, ["id", "invoice_id", "payment_link_id", "gateway", "payment_id", "currency", "amount_minor",
                     "status", "source", "received_at"], payment_rows())
    _write(GatewayAttempt, ["id", "created_at", "click_id", "invoice_id", "gateway", "operation", "attempt",
                            "reference", "outcome", "error_kind", "error_code", "message", "duration_ms"],
           attempt_rows())
    if db.engine.dialect.name == "postgresql":
        for table in ("link_clicks", "payment_links", "payments", "gateway_attempts"):
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT max(id) FROM {table}))"))
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def timed(fn, runs: int) -> list[float]:
    fn()  # warm up
    timings = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - t0) * 1000)
    return timings


def report(name: str, timings: list[float]) -> float:
    median = statistics.median(timings)
    print(f"{name:40} {median:10.1f} {percentile(timings, 0.95):8.1f}")
    return median


def old_all_time_statistics() -> dict:
    """The baseline: statistics as the portal computed them before the Statistics page (issue 10), all time,
    from the raw attempt and click tables on every request. Kept here, not in the portal, only to be timed."""
    names = list(registry.GATEWAY_CLASSES)
    health = {name: stats.gateway_health(name) for name in names}
    count = lambda stmt: db.session.scalar(db.select(db.func.count()).select_from(stmt.subquery()))  # noqa: E731
    clicks = db.select(LinkClick)
    cache_hits = count(clicks.where(LinkClick.outcome == "reused"))
    cache_misses = count(clicks.where(LinkClick.outcome.in_(("created", "failed"))))
    retries_q = db.select(GatewayAttempt).where(GatewayAttempt.operation == "create", GatewayAttempt.attempt > 1)
    retries = count(retries_q)
    retry_successes = count(retries_q.where(GatewayAttempt.outcome == "success"))
    collected: dict[str, str] = {}
    for currency, paid in db.session.execute(
            db.select(Payment.currency, db.func.sum(Payment.amount_minor)).group_by(Payment.currency)):
        collected[currency] = Money(int(paid), currency).decimal_string()
    return {
        "total_gateways": len(names),
        "configured_gateways": sum(1 for h in health.values() if h["configured"]),
        "enabled_gateways": sum(1 for h in health.values() if h["configured"] and h["enabled"]),
        "links_created": count(clicks.where(LinkClick.outcome == "created")),
        "links_failed": count(clicks.where(LinkClick.outcome == "failed")),
        "links_paid": count(db.select(PaymentLink).where(PaymentLink.status == "paid")),
        "cache_hits": cache_hits,
        "cache_misses": cache_misses,
        "cache_hit_rate": stats._rate(cache_hits, cache_hits + cache_misses),
        "retries": retries,
        "retry_successes": retry_successes,
        "retry_success_rate": stats._rate(retry_successes, retries),
        "fallbacks": count(clicks.where(LinkClick.fallback.is_(True))),
        "by_gateway": {name: {k: h[k] for k in ("calls", "success_rate", "latency_ms", "breaker", "enabled",
                                                  "configured")} for name, h in health.items()},
        "collected": collected,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--invoices", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # The rollup runs once below, not behind the timed requests.
    with Stack(workers=4, sandbox=False, env={"JOBS_IN_PROCESS": "0"}) as stack:
        measure(stack, args)


def measure(stack: Stack, args) -> None:
    app, base = stack.app, stack.base
    with app.app_context():
        started = time.perf_counter()
        seed(args.invoices, fresh=False)
        seed_history(args.attempts, args.invoices)
        counted = db.session.scalar(db.select(db.func.count(GatewayAttempt.id)))
        print(f"seeded {counted} gateway attempts over {DAYS} days in {time.perf_counter() - started:.1f} s")
    session = sign_in(base)
    bearer = {"Authorization": f"Bearer {stack.api_token}"}

    def get(path, headers=None, expect="Statistics"):
        response = session.get(base + path, headers=headers or {}, timeout=60)
        assert response.status_code == 200 and expect in response.text, (path, response.status_code)

    print(f"{'case':40} {'median ms':>10} {'p95 ms':>8}  (n={args.requests})")
    # Baselines, measured in this run: the old all-time computation, and the page without the rollup.
    olds, lives = [], []
    for _ in range(args.runs):
        with app.app_context():
            olds.append(report("baseline: old all-time statistics",
                               timed(old_all_time_statistics, max(3, args.requests // 3))))
        lives.append(report("baseline: page, 30 days, no rollup",
                            timed(lambda: get("/statistics"), max(3, args.requests // 3))))

    with app.app_context():
        from portal.statistics.numbers import roll_up

        started = time.perf_counter()
        days = roll_up()
        db.session.execute(text("ANALYZE statistics_daily"))  # what autovacuum does after a bulk insert
        db.session.commit()
        rows = db.session.scalar(db.select(db.func.count()).select_from(StatisticsDaily))
        through = db.session.get(StatisticsRollup, 1).rolled_through
        print(f"rollup job: {days} days, {rows} rows, through {through}, in {time.perf_counter() - started:.1f} s")

    cases = {
        "page, 30 days (default)": ("/statistics", None, "Statistics"),
        "page, 90 days": ("/statistics?period=90", None, "Statistics"),
        "page, today": ("/statistics?period=today", None, "Statistics"),
        "page, 90 days, INR": ("/statistics?period=90&currency=INR", None, "Statistics"),
        "CSV, 90 days": ("/statistics.csv?period=90", None, "section,gateway"),
        "API, all time (no parameters)": ("/api/v1/payments/statistics", bearer, "by_gateway"),
        "API, 30 days, INR": ("/api/v1/payments/statistics?from={0}&to={1}&currency=INR", bearer, "by_gateway"),
    }
    today = datetime.now(timezone.utc).date()
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, (path, headers, expect) in cases.items():
            path = path.format((today - timedelta(days=29)).isoformat(), today.isoformat())
            results[name].append(report(name, timed(lambda: get(path, headers, expect), args.requests)))
    page = statistics.median(results["page, 30 days (default)"])
    print(f"page (30 days) vs old all-time statistics: {page / statistics.median(olds):.2f}x; "
          f"vs no rollup: {page / statistics.median(lives):.2f}x")
    figures = []
    for name, values in results.items():
        key = "statistics_" + "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
        baseline, baseline_runs = (("page with no rollup, 30 days", lives) if name.startswith("page")
                                   else ("the old all-time computation", olds))
        figures.append(Figure(key, f"Statistics {name}, {counted:,} gateway attempts", "p50 < 300 ms", "ms",
                              values, statistics.median(values) < 300, baseline, baseline_runs))
    save("statistics_page", f"gunicorn 4 workers, PostgreSQL, Redis; {counted:,} attempts over {DAYS} days; "
                            f"{args.runs} runs x {args.requests} requests, one client", figures)


if __name__ == "__main__":
    main()
