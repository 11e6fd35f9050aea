"""Page time of Home with 10,000 invoices and a month of payments (issue 9), in the production shape: gunicorn
4 workers, PostgreSQL, Redis (bench/stack.py).

    .venv/bin/python bench/home_page.py [--invoices 10000] [--requests 30] [--runs 3]

Seeds the invoices as bench/invoice_list.py does, then gives them due dates (a third overdue) and one payment
for each paid or part-paid invoice, spread over the last 30 days. Signs in over HTTP and times the full page
and the htmx partial it polls, beside the unauthenticated floor in the same run. No goal was set for Home:
its figures are recorded so a change that slows it shows.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from invoice_list import seed, sign_in  # noqa: E402
from results import Figure, save  # noqa: E402
from stack import Stack  # noqa: E402
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


def one_run(base: str, session, requests_per_case: int) -> dict[str, float]:
    cases = {"floor": ("/api/v1/openapi.json", {}), "home": ("/", {}), "home_partial": ("/", {"HX-Request": "true"})}
    timings: dict[str, list[float]] = {key: [] for key in cases}
    for path, headers in cases.values():
        session.get(base + path, headers=headers)  # warm up
    for _ in range(requests_per_case):
        for key, (path, headers) in cases.items():
            t0 = time.perf_counter()
            response = session.get(base + path, headers=headers, timeout=30)
            timings[key].append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
            assert key == "floor" or ("Outstanding" in response.text and "<svg" in response.text)
    return {key: statistics.median(values) for key, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with Stack(workers=4, sandbox=False) as stack:
        with stack.app.app_context():
            started = time.perf_counter()
            seed(args.invoices, fresh=False)
            payments = add_due_dates_and_payments(args.invoices)
            print(f"seeded {args.invoices} invoices and {payments} payments in {time.perf_counter() - started:.1f} s")
        session = sign_in(stack.base)
        runs = [one_run(stack.base, session, args.requests) for _ in range(args.runs)]
    floor = [run["floor"] for run in runs]
    figures = []
    for key, label in (("home", "Home, full page"), ("home_partial", "Home, the htmx partial it polls")):
        values = [run[key] for run in runs]
        print(f"{label:32} {statistics.median(values):8.1f} ms  {min(values):.1f}-{max(values):.1f}")
        figures.append(Figure(key, f"{label}, {args.invoices:,} invoices and {payments:,} payments", "no goal set",
                              "ms", values, True, "unauthenticated floor (GET /api/v1/openapi.json)", floor))
    save("home_page", f"gunicorn 4 workers, PostgreSQL, Redis; {args.runs} runs x {args.requests} requests, "
                      "one client", figures)


if __name__ == "__main__":
    main()
