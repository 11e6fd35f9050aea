"""Page time of the staff invoice list with 10,000 invoices (issue 2).

    .venv/bin/python bench/invoice_list.py [--invoices 10000] [--requests 30]
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/hp_bench .venv/bin/python bench/invoice_list.py

Serves the real app over HTTP (Werkzeug, threaded) on a free port, signs in, and times full page
loads of the first page, a search, a status filter and a deep page. Prints median and p95.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from sqlalchemy import insert, text
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Customer, Invoice, InvoiceLine, InvoiceSequence  # noqa: E402
from portal.users.accounts import create_user  # noqa: E402

PASSWORD = "benchmark password 1"
STATUSES = ["draft", "open", "open", "paid", "partially_paid", "void"]
CURRENCIES = ["INR", "INR", "USD", "JPY", "KWD"]


def seed(n: int) -> None:
    from flask_migrate import upgrade

    upgrade()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    create_user("bench@example.com", "staff", None, password=PASSWORD)
    now = datetime.now(timezone.utc)
    customers = [{"id": i + 1, "name": f"Customer {i:05d} Traders", "email": f"c{i}@example.com", "phone": "",
                  "created_at": now} for i in range(n // 4)]
    invoices, lines = [], []
    for i in range(n):
        currency = CURRENCIES[i % len(CURRENCIES)]
        invoices.append({"id": i + 1, "number": f"INV-2026-{i + 1:05d}", "customer_id": i % len(customers) + 1,
                         "currency": currency, "status": STATUSES[i % len(STATUSES)], "total_minor": 123450 + i,
                         "amount_paid_minor": 0, "notes": "", "pay_token": secrets.token_urlsafe(24),
                         "created_at": now - timedelta(minutes=n - i), "updated_at": now})
        lines.append({"invoice_id": i + 1, "position": 0, "description": "Work", "quantity_milli": 1000,
                      "unit_price_minor": 123450 + i})
    db.session.execute(insert(Customer), customers)
    db.session.execute(insert(Invoice), invoices)
    db.session.execute(insert(InvoiceLine), lines)
    db.session.execute(insert(InvoiceSequence), [{"year": 2026, "last_value": n}])
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        for table in ("customers", "invoices", "invoice_lines"):
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n + 1})"))
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def bench_app():
    """The app on BENCH_DATABASE_URL (or SQLite in a temporary folder), sign-in limits out of the way."""
    workdir = Path(tempfile.mkdtemp(prefix="hisabpro-bench-"))
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    return create_app({"INSTANCE_PATH": str(workdir), "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       "RATELIMIT_STORAGE_URI": "memory://", "LOGIN_IP_LIMIT": "1000 per minute"})


def serve_signed_in(app) -> tuple:
    """The app on a free port (Werkzeug, threaded) and a session signed in as the bench user:
    (server, base URL, session). Call server.shutdown() when done."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    session = requests.Session()
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', session.get(base + "/login").text).group(1)
    signed_in = session.post(base + "/login", data={"email": "bench@example.com", "password": PASSWORD,
                                                     "csrf_token": csrf}, allow_redirects=False)
    assert signed_in.status_code == 302, signed_in.status_code
    return server, base, session


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
        print(f"seeded {args.invoices} invoices on {db.engine.dialect.name} in {time.perf_counter() - started:.1f} s")

    server, base, session = serve_signed_in(app)

    cases = {
        "first page": "/invoices/",
        "search 'customer 01234'": f"/invoices/?q=customer+{min(1234, args.invoices // 4 - 1):05d}",
        "status=paid": "/invoices/?status=paid",
        "page 200": "/invoices/?page=200",
        "sort by amount, desc": "/invoices/?sort=amount&dir=desc",
        "sort by customer": "/invoices/?sort=customer",
        "sort by due, page 100": "/invoices/?sort=due&page=100",
        "last 2 days, by number": f"/invoices/?from={(datetime.now(timezone.utc) - timedelta(days=2)).date()}"
                                  "&sort=number",
        "htmx partial": "/invoices/",
    }
    print(f"{'case':28} {'median ms':>10} {'p95 ms':>8}  (n={args.requests}, {args.invoices} invoices)")
    for name, path in cases.items():
        headers = {"HX-Request": "true"} if name == "htmx partial" else {}
        session.get(base + path, headers=headers)  # warm up
        timings = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            response = session.get(base + path, headers=headers)
            timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200 and "INV-2026-" in response.text
        print(f"{name:28} {statistics.median(timings):10.1f} {percentile(timings, 0.95):8.1f}")
    server.shutdown()


if __name__ == "__main__":
    main()
