"""Verified webhook events per second: gunicorn (2 workers) + PostgreSQL, median of 3 runs (issue 5).

    .venv/bin/python bench/webhook_throughput.py [--events 400] [--concurrency 16] [--runs 3]
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/hp_bench_wh (default; created if missing)

Each event is a distinct Razorpay `payment_link.paid` for its own invoice, signed with the webhook secret
exactly as Razorpay signs (HMAC-SHA256 of the raw body), so every request goes the whole way: store the
delivery, verify the signature, dedupe, check amount and currency, record the payment, mark the invoice
paid, queue the follow-up job. Every answer must be 200 "applied".
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from sqlalchemy import create_engine, insert, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Customer, Invoice, InvoiceLine, PaymentLink  # noqa: E402

WEBHOOK_SECRET = "bench_razorpay_webhook_secret"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/hp_bench_wh"


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def seed(app, count: int) -> list[tuple[str, str, int]]:
    """`count` open INR invoices, each with a live Razorpay link; returns (link id, reference, amount)."""
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        now = datetime.now(timezone.utc)
        db.session.execute(insert(Customer), [{"id": 1, "name": "Bench", "email": "b@example.com", "phone": "",
                                               "created_at": now}])
        invoices, lines, links, out = [], [], [], []
        for i in range(1, count + 1):
            amount = 100000 + i
            invoices.append({"id": i, "number": f"INV-2026-{i:05d}", "customer_id": 1, "currency": "INR",
                             "status": "open", "total_minor": amount, "amount_paid_minor": 0, "notes": "",
                             "pay_token": secrets.token_urlsafe(24), "created_at": now, "updated_at": now,
                             "opened_at": now, "accept_partial": False})
            lines.append({"invoice_id": i, "position": 0, "description": "Work", "quantity_milli": 1000,
                          "unit_price_minor": amount})
            link_id, reference = f"plink_bench{i:08d}", f"INV-2026-{i:05d}-rp1-bench"
            links.append({"id": i, "invoice_id": i, "gateway": "razorpay", "reference": reference,
                          "link_id": link_id, "url": "https://rzp.io/i/x", "status": "created", "currency": "INR",
                          "amount_minor": amount, "amount_paid_minor": 0, "created_at": now, "updated_at": now,
                          "expires_at": now + timedelta(hours=24)})
            out.append((link_id, reference, amount))
        db.session.execute(insert(Invoice), invoices)
        db.session.execute(insert(InvoiceLine), lines)
        db.session.execute(insert(PaymentLink), links)
        for table in ("customers", "invoices", "invoice_lines", "payment_links"):
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {count + 1})"))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return out


def signed_event(link_id: str, reference: str, amount: int) -> tuple[bytes, dict]:
    payment_id = "pay_" + secrets.token_hex(7)
    body = json.dumps({
        "entity": "event", "account_id": "acc_bench", "event": "payment_link.paid",
        "contains": ["payment_link", "order", "payment"], "created_at": int(time.time()),
        "payload": {
            "payment_link": {"entity": {"id": link_id, "entity": "payment_link", "amount": amount,
                                        "amount_paid": amount, "currency": "INR", "status": "paid",
                                        "reference_id": reference}},
            "order": {"entity": {"id": "order_" + secrets.token_hex(7), "amount": amount, "currency": "INR",
                                 "status": "paid"}},
            "payment": {"entity": {"id": payment_id, "entity": "payment", "amount": amount, "currency": "INR",
                                   "status": "captured"}},
        }}).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Razorpay-Signature": signature,
                  "X-Razorpay-Event-Id": "evt_" + secrets.token_hex(7)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(url: str, events: int, concurrency: int, workdir: Path) -> float:
    os.environ.update(JOBS_IN_PROCESS="0", RAZORPAY_KEY_ID="rzp_test_bench0000000001",
                      RAZORPAY_KEY_SECRET="bench_key_secret", RAZORPAY_WEBHOOK_SECRET=WEBHOOK_SECRET)
    app = create_app({"INSTANCE_PATH": str(workdir), "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "RATELIMIT_STORAGE_URI": "memory://"})
    payloads = [signed_event(*link) for link in seed(app, events)]
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "PORTAL_INSTANCE_PATH": str(workdir)}
    env.pop("REDIS_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "8",
                               "--bind", f"127.0.0.1:{port}", "--control-socket", str(workdir / "g.ctl"),
                               "wsgi:app"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/webhooks/razorpay"
    try:
        for _ in range(300):
            try:
                requests.get(f"http://127.0.0.1:{port}/login", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=concurrency, pool_maxsize=concurrency)
        session.mount("http://", adapter)
        session.post(base, data=b"{}", headers={"Content-Type": "application/json"})  # warm both workers up
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            answers = list(pool.map(lambda p: session.post(base, data=p[0], headers=p[1], timeout=30), payloads))
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    bad = [a.status_code for a in answers if a.status_code != 200 or a.json()["status"] != "applied"]
    assert not bad, f"{len(bad)} events not applied: {bad[:5]}"
    return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
    ensure_database(url)
    workdir = Path(tempfile.mkdtemp(prefix="hisabpro-whbench-"))
    rates = []
    for run in range(1, args.runs + 1):
        rate = one_run(url, args.events, args.concurrency, workdir)
        rates.append(rate)
        print(f"run {run}: {args.events} verified events in {args.events / rate:.2f} s = {rate:.0f} events/s")
    print(f"median {statistics.median(rates):.0f} verified events/s "
          f"(gunicorn 2 workers x 8 threads, PostgreSQL, {args.concurrency} concurrent senders)")


if __name__ == "__main__":
    main()
