"""Webhooks per second in the production shape (issue 11): gunicorn 2 workers, PostgreSQL, Redis, each figure
beside the unauthenticated floor measured in the same run with the same client.

    BENCH_REDIS_URL=redis://127.0.0.1:6379/<n> .venv/bin/python bench/webhook_throughput.py \
        [--events 400] [--concurrency 16] [--runs 3] [--threads 8]

  verified   distinct `payment_link.paid` (Razorpay, HMAC-SHA256 of the body) and `checkout.session.completed`
             (Stripe, `t=…,v1=…` over `t.body`) events, half each, every one for its own open invoice, signed
             as the gateways sign them: each goes the whole way (verify, store, dedupe, record the payment,
             invoice paid, follow-up job queued) and must be answered 200 "applied". Events/s and ack p50/p99.
  rejected   the same bodies with a wrong signature: answered 400, each stored cut down (the hardening rules).
             WEBHOOK_REJECTED_LIMIT is raised for the run, or every sender on 127.0.0.1 would get 429 after 30.
  floor      GET /api/v1/openapi.json (no token, no database) at the same concurrency: what this client and
             gunicorn manage on this machine with no work of ours at all.

PayPal is left out of the mix: its deliveries are signed with the sandbox's private key over a transmission id,
and its verification (RSA with a cached certificate) is exercised by the tests and the worker-kill drill.
Results go to bench/results/webhook_throughput.json (bench/results.py) and print as a table.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import Figure, save  # noqa: E402
from stack import Stack  # noqa: E402

from portal.extensions import db  # noqa: E402
from portal.models import Customer, Invoice, InvoiceLine, PaymentLink  # noqa: E402

WORKERS = 2
GATEWAY_OF = ("razorpay", "stripe")  # event i goes to GATEWAY_OF[i % 2]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def seed(stack: Stack, count: int, tag: str) -> list[dict]:
    """`count` open invoices, each with a live link at the gateway its event will come from."""
    now = datetime.now(timezone.utc)
    out = []
    with stack.app.app_context():
        customer_id = db.session.execute(insert(Customer).values(name=f"Bench {tag}", email="b@example.com",
                                                                 phone="", created_at=now)
                                         .returning(Customer.id)).scalar_one()
        for i in range(count):
            gateway = GATEWAY_OF[i % 2]
            currency, amount = ("INR", 100000 + i) if gateway == "razorpay" else ("USD", 5000 + i)
            number = f"INV-2026-{tag}{i:05d}"
            invoice_id = db.session.execute(insert(Invoice).values(
                number=number, customer_id=customer_id, currency=currency, status="open", total_minor=amount,
                amount_paid_minor=0, notes="", pay_token=secrets.token_urlsafe(24), created_at=now, updated_at=now,
                opened_at=now, accept_partial=False).returning(Invoice.id)).scalar_one()
            db.session.execute(insert(InvoiceLine).values(invoice_id=invoice_id, position=0, description="Work",
                                                          quantity_milli=1000, unit_price_minor=amount))
            link_id = (f"plink_{tag}{i:08d}" if gateway == "razorpay" else f"cs_test_{tag}{i:08d}")
            reference = f"{number}-{gateway[:2]}1-bench"
            db.session.execute(insert(PaymentLink).values(
                invoice_id=invoice_id, gateway=gateway, reference=reference, link_id=link_id, url="https://x/",
                status="created", currency=currency, amount_minor=amount, amount_paid_minor=0, created_at=now,
                updated_at=now, expires_at=now + timedelta(hours=24)))
            out.append({"gateway": gateway, "link_id": link_id, "reference": reference, "amount": amount,
                        "currency": currency})
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return out


def signed(link: dict, secrets_: dict, forge: bool = False) -> tuple[str, bytes, dict]:
    """(gateway, body, headers) for one payment event, signed as the gateway signs it (or wrongly)."""
    if link["gateway"] == "razorpay":
        body = json.dumps({
            "entity": "event", "account_id": "acc_bench", "event": "payment_link.paid",
            "contains": ["payment_link", "order", "payment"], "created_at": int(time.time()),
            "payload": {
                "payment_link": {"entity": {"id": link["link_id"], "entity": "payment_link", "amount": link["amount"],
                                            "amount_paid": link["amount"], "currency": "INR", "status": "paid",
                                            "reference_id": link["reference"]}},
                "order": {"entity": {"id": "order_" + secrets.token_hex(7), "amount": link["amount"],
                                     "currency": "INR", "status": "paid"}},
                "payment": {"entity": {"id": "pay_" + secrets.token_hex(7), "entity": "payment",
                                       "amount": link["amount"], "currency": "INR", "status": "captured"}}}}).encode()
        key = b"not the secret" if forge else secrets_["RAZORPAY_WEBHOOK_SECRET"].encode()
        return "razorpay", body, {"X-Razorpay-Signature": hmac.new(key, body, hashlib.sha256).hexdigest(),
                                  "X-Razorpay-Event-Id": "evt_" + secrets.token_hex(7)}
    body = json.dumps({
        "id": "evt_" + secrets.token_hex(12), "object": "event", "type": "checkout.session.completed",
        "api_version": "2024-06-20", "created": int(time.time()),
        "data": {"object": {"id": link["link_id"], "object": "checkout.session", "payment_status": "paid",
                            "status": "complete", "amount_total": link["amount"], "currency": "usd",
                            "payment_intent": "pi_" + secrets.token_hex(12),
                            "client_reference_id": link["reference"]}}}).encode()
    stamp = int(time.time())
    key = b"whsec_wrong" if forge else secrets_["STRIPE_WEBHOOK_SECRET"].encode()
    signature = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return "stripe", body, {"Stripe-Signature": f"t={stamp},v1={signature}"}


class Client:
    """`concurrency` threads, one keep-alive session each, timing every request."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def run(self, calls: list) -> tuple[float, list[float], list[requests.Response]]:
        """Runs each `call(session)`; returns (requests/s, latencies in ms, answers)."""
        def timed(call):
            started = time.perf_counter()
            answer = call(self._session())
            return (time.perf_counter() - started) * 1000, answer

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            done = list(pool.map(timed, calls))
        elapsed = time.perf_counter() - started
        return len(calls) / elapsed, [d[0] for d in done], [d[1] for d in done]


def post(base: str, gateway: str, body: bytes, headers: dict):
    return lambda session: session.post(f"{base}/webhooks/{gateway}", data=body, timeout=30,
                                        headers={"Content-Type": "application/json", **headers})


def one_run(stack: Stack, client: Client, events: int, run: int) -> dict[str, float]:
    tag = f"R{secrets.token_hex(2)}"  # numbers stay within 20 characters: INV-2026-R1a2b00001
    links = seed(stack, events, tag)
    good = [signed(link, stack.env) for link in links]
    bad = [signed(link, stack.env, forge=True) for link in links]
    floor_rate, _, floor_answers = client.run(
        [lambda s: s.get(stack.base + "/api/v1/openapi.json", timeout=30)] * events)
    assert all(a.status_code == 200 for a in floor_answers)
    rate, latencies, answers = client.run([post(stack.base, *event) for event in good])
    wrong = [(a.status_code, a.text[:80]) for a in answers if a.status_code != 200 or a.json() != {"status": "applied"}]
    assert not wrong, f"{len(wrong)} events not applied: {wrong[:3]}"
    rejected_rate, _, refused = client.run([post(stack.base, *event) for event in bad])
    assert all(a.status_code == 400 for a in refused), {a.status_code for a in refused}
    with stack.app.app_context():
        paid = db.session.scalar(text("SELECT count(*) FROM invoices WHERE status = 'paid' AND number LIKE :t"),
                                 {"t": f"INV-2026-{tag}%"})
    assert paid == events, f"{paid} of {events} invoices paid"
    return {"floor": floor_rate, "verified": rate, "p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99),
            "rejected": rejected_rate}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {"JOBS_IN_PROCESS": "0",  # the follow-up jobs are not part of the acknowledgement
           "WEBHOOK_REJECTED_LIMIT": "1000000 per minute"}
    with Stack(workers=WORKERS, threads=args.threads, env=env) as stack:
        client = Client(args.concurrency)
        client.run([lambda s: s.get(stack.base + "/api/v1/openapi.json", timeout=30)] * 50)  # warm both workers
        runs = []
        for run in range(1, args.runs + 1):
            runs.append(one_run(stack, client, args.events, run))
            r = runs[-1]
            print(f"run {run}: floor {r['floor']:.0f}/s, verified {r['verified']:.0f}/s (ack p50 {r['p50']:.1f} ms, "
                  f"p99 {r['p99']:.1f} ms), bad signature {r['rejected']:.0f}/s")
    col = {key: [r[key] for r in runs] for key in runs[0]}
    floor = "GET /api/v1/openapi.json (no token, no database), same client and concurrency"
    verified_note = ("profiled in-process on PostgreSQL: a verified event is one transaction of 10 statements and one "
                     "commit (was 17 and 2) and about 6 ms of Python CPU (was 7.4; openapi.json: 0.7), most of it "
                     "SQLAlchemy's unit of work and psycopg round trips; 2 workers on 2 cores shared with PostgreSQL "
                     "and this client cannot reach 300/s at that cost, and ack latency is queueing at saturation")
    figures = [
        Figure("webhook_verified_per_s", "verified webhooks, gunicorn 2 workers, PostgreSQL", "≥ 300/s", "/s",
               col["verified"], statistics.median(col["verified"]) >= 300, floor, col["floor"],
               "" if statistics.median(col["verified"]) >= 300 else verified_note),
        Figure("webhook_ack_p50", "verified webhook acknowledged, p50", "", "ms", col["p50"], True),
        Figure("webhook_ack_p99", "verified webhook acknowledged, p99", "≤ 100 ms", "ms", col["p99"],
               statistics.median(col["p99"]) <= 100, note="" if statistics.median(col["p99"]) <= 100 else verified_note),
        Figure("webhook_rejected_per_s", "webhooks with a bad signature", "≥ 1,000/s", "/s", col["rejected"],
               statistics.median(col["rejected"]) >= 1000, floor, col["floor"],
               "" if statistics.median(col["rejected"]) >= 1000 else
               "a bad signature costs one rate-limiter hit (Redis) and one INSERT + COMMIT of the trimmed delivery, "
               "about 1.7 ms CPU in-process (was 3.2; openapi.json: 0.7); half the floor's rate, which the client "
               "and gunicorn on 2 shared cores set"),
    ]
    path = save("webhook_throughput", f"gunicorn {WORKERS} workers x {args.threads} threads, PostgreSQL, Redis; "
                f"{args.events} events per run, {args.concurrency} concurrent senders, Razorpay and Stripe half each",
                figures)
    print(f"\n{'figure':28} {'median':>9} {'spread':>17}  goal")
    for f in figures:
        print(f"{f.key:28} {f.median:9.1f} {min(f.runs):8.1f}-{max(f.runs):<8.1f}  {f.goal} {'met' if f.met else 'MISSED'}")
    print(f"floor (openapi.json) req/s: median {statistics.median(col['floor']):.0f}; saved {path}")


if __name__ == "__main__":
    main()
