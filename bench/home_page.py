"""Page time of Home with 10,000 invoices and a month of payments (issue 9).

    .venv/bin/python bench/home_page.py [--invoices 10000] [--requests 30]
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/hp_bench .venv/bin/python bench/home_page.py

Seeds the invoices as bench/invoice_list.py does, then gives them due dates (a third overdue) and one payment
for each paid or part-paid invoice, spread over the last 30 days. Serves the real app over HTTP, signs in,
and times the full page and the htmx partial it polls. Prints median and p95.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from invoice_list import bench_app, percentile, seed, serve_signed_in  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Invoice, Payment  # noqa: E402


def add_due_dates_and_payments(n: int) -> int:
    today, now = date.today(), datetime.now(timezone.utc)
    for offset in range(-45, 45, 1):  # due dates from 45 days ago to 45 days ahead, one UPDATE per day
        db.session.execute(update(Invoice).where(Invoice.id % 90 == offset + 45)
                           .values(due_date=today + timedelta(days=offset)))
    paid = db.session.execute(db.select(Invoice.id, Invoice.currency, Invoice.total_minor, Invoice.status)
                              .where(Invoice.status.in_(("paid", "partially_paid")))).all()
    payments = []
    for i, (invoice_id, currency, total, status) in enumerate(paid):
        amount = total if status == "paid" else total // 2
        payments.append({"invoice_id": invoice_id, "gateway": "razorpay" if currency == "INR" else "stripe",
                         "payment_id": f"bench_{invoice_id}", "currency": currency, "amount_minor": amount,
                         "status": "completed", "source": "webhook",
                         "received_at": now - timedelta(minutes=(i * 97) % (30 * 24 * 60))})
    db.session.execute(insert(Payment), payments)
    db.session.execute(update(Invoice).where(Invoice.status == "paid").values(amount_paid_minor=Invoice.total_minor))
    db.session.execute(update(Invoice).where(Invoice.status == "partially_paid")
                       .values(amount_paid_minor=Invoice.total_minor // 2))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return len(payments)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()

    os.environ["JOBS_IN_PROCESS"] = "0"  # no background worker competing with the timed requests
    app = bench_app()
    with app.app_context():
        started = time.perf_counter()
        seed(args.invoices)
        payments = add_due_dates_and_payments(args.invoices)
        print(f"seeded {args.invoices} invoices and {payments} payments on {db.engine.dialect.name} "
              f"in {time.perf_counter() - started:.1f} s")

    server, base, session = serve_signed_in(app)

    print(f"{'case':28} {'median ms':>10} {'p95 ms':>8}  (n={args.requests}, {args.invoices} invoices)")
    for name, headers in (("home", {}), ("home htmx partial", {"HX-Request": "true"})):
        session.get(base + "/", headers=headers)  # warm up
        timings = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            response = session.get(base + "/", headers=headers)
            timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200 and "Outstanding" in response.text and "<svg" in response.text
        print(f"{name:28} {statistics.median(timings):10.1f} {percentile(timings, 0.95):8.1f}")
    server.shutdown()


if __name__ == "__main__":
    main()
