"""Link creation time against the sandbox with injected gateway latency, and the portal's own overhead.

    .venv/bin/python bench/link_creation.py [--links 100] [--latency-ms 100]

For each gateway (Razorpay for INR, Stripe for USD) it times, in the same run on the same sandbox:
  sdk     the official SDK's create call alone (the floor: gateway latency + HTTP + SDK),
  engine  engine.generate_link() for a fresh invoice (routing, key persisted, attempt log, cache, ...),
  reuse   a second click on the same invoice (served from cache/database, no gateway call).
Overhead = engine - sdk, per percentile. Uses SQLite in a temp folder unless BENCH_DATABASE_URL is set.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app, jobs  # noqa: E402
from portal.config import load_config  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.invoices import service  # noqa: E402
from portal.users.accounts import create_user  # noqa: E402
from sandbox import Sandbox, SandboxConfig  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--links", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    os.environ["JOBS_IN_PROCESS"] = "0"  # the benchmark runs queued jobs itself, outside the timings
    workdir = Path(tempfile.mkdtemp(prefix="hisabpro-linkbench-"))
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    with Sandbox(SandboxConfig.for_tests(frontend_url="http://127.0.0.1:9")) as sb:
        env = {**sb.portal_env(), "SECRET_KEY": "bench"}
        gateway_config = {k: v for k, v in load_config(workdir, env).items()
                          if k.startswith(("RAZORPAY_", "STRIPE_", "PAYPAL_", "GATEWAY_", "PAYMENT_"))}
        app = create_app({"INSTANCE_PATH": str(workdir), "SQLALCHEMY_DATABASE_URI": url,
                          "RATELIMIT_STORAGE_URI": "memory://", **gateway_config})
        with app.app_context():
            from flask_migrate import upgrade

            from portal.payments import engine, registry

            upgrade()
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
            staff, _ = create_user("bench@example.com", "staff", None, password="benchmark password")
            print(f"{args.links} links per gateway, {args.latency_ms} ms injected latency, "
                  f"{db.engine.dialect.name}, sandbox on loopback")
            print(f"{'gateway':9} {'what':7} {'median ms':>10} {'p95 ms':>8}")
            for name, currency, unit_price in (("razorpay", "INR", "1234.50"), ("stripe", "USD", "120.00")):
                requests.post(sb.control_url + "/_sandbox/faults",
                              json={"gateway": name, "mode": "slow", "latency_ms": args.latency_ms}).raise_for_status()
                gateway = registry.get_gateway(name, app.config)
                sdk_times, engine_times, reuse_times = [], [], []
                for i in range(args.links):
                    # The floor, interleaved with the engine so both see the same machine load.
                    invoice = service.create_invoice(service.parse_invoice_input({
                        "customer": {"name": "Bench", "email": "bench@example.com"}, "currency": currency,
                        "items": [{"description": "Work", "quantity": 1, "unit_price": unit_price}]}), staff)
                    service.open_invoice(invoice, staff)
                    row_request = _direct_request(invoice, name)
                    sdk_times.append(timed(lambda: gateway.create_link(row_request, 5)))
                    engine_times.append(timed(lambda: engine.generate_link(invoice)))
                    reuse_times.append(timed(lambda: engine.generate_link(invoice)))
                jobs.run_pending()
                for what, values in (("sdk", sdk_times), ("engine", engine_times), ("reuse", reuse_times)):
                    print(f"{name:9} {what:7} {statistics.median(values):10.1f} {pct(values, 0.95):8.1f}")
                print(f"{name:9} {'overhead':7} {statistics.median(engine_times) - statistics.median(sdk_times):10.1f} "
                      f"{pct(engine_times, 0.95) - pct(sdk_times, 0.95):8.1f}   "
                      f"(engine/sdk median ratio {statistics.median(engine_times) / statistics.median(sdk_times):.2f})")
                requests.post(sb.control_url + "/_sandbox/faults", json={"gateway": name, "mode": "ok"})


def _direct_request(invoice, gateway_name):
    """A LinkRequest like the engine's, sent straight through the adapter (no engine)."""
    from portal.payments.base import LinkRequest

    return LinkRequest(
        invoice_id=invoice.id, invoice_number=invoice.number, amount=invoice.amount_due,
        reference=f"bench-{secrets.token_hex(8)}", description=f"Invoice {invoice.number}",
        customer_name="Bench", customer_email="bench@example.com", customer_phone="",
        return_url="http://127.0.0.1:9/return", cancel_url="http://127.0.0.1:9/cancel",
        expires_at=(datetime.now(timezone.utc) + timedelta(hours=24)).replace(microsecond=0))


if __name__ == "__main__":
    main()
