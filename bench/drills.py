"""Drills in the production shape (issue 11): what a crash costs, shown rather than assumed.

    .venv/bin/python bench/drills.py worker-kill [--invoices 1000] [--every-ms 300]

worker-kill: customers pay Razorpay links while a gunicorn worker is killed with SIGKILL every few hundred
milliseconds; the sandbox delivers each payment's webhooks and retries unanswered ones as Razorpay does.
Afterwards: every event the portal acknowledged (answered 2xx) is recorded, and once `payments reconcile`
has run (for deliveries whose every retry met a dying worker), every invoice is paid exactly once, as at the
gateway. tests/drills/test_worker_kill.py runs a small version in `make test`.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import Stack  # noqa: E402

# Razorpay retries a failed delivery for a day; the sandbox's few quick retries stand in for that here.
DRILL_SANDBOX = {"webhook_max_attempts": 10, "webhook_backoff_s": 0.1, "webhook_backoff_max_s": 1.0}


@dataclass
class WorkerKillResult:
    invoices: int
    kills: int
    acknowledged: set[str]        # Razorpay event ids the portal answered 2xx
    recorded: set[str]            # event ids the portal holds as processed
    retried: int                  # deliveries that needed more than one attempt (a worker died under them)
    unanswered: int               # deliveries whose every attempt met a dying worker
    paid_once: int                # invoices paid, with exactly one payment, after reconciliation
    seconds: float


def worker_kill(invoices: int = 30, every_ms: int = 300, pay_every_ms: int = 20, seed: int = 11) -> WorkerKillResult:
    started = time.monotonic()
    with Stack(workers=2, sandbox_settings=DRILL_SANDBOX) as stack:
        session = requests.Session()
        links = []
        for _ in range(invoices):
            created = stack.api("POST", "/invoices", session, json={
                "customer": {"name": "Drill Traders", "email": "drill@example.com"}, "currency": "INR",
                "items": [{"description": "Work", "quantity": 1, "unit_price": "150.00"}]})
            invoice_id = created.json()["id"]
            link = stack.api("POST", f"/invoices/{invoice_id}/payment-link", session, json={}).json()
            assert link["gateway"] == "razorpay", link
            links.append(link["link_id"])

        stop, kills = threading.Event(), []

        def killer() -> None:
            rng = random.Random(seed)
            while not stop.wait(every_ms / 1000):
                pids = stack.worker_pids()
                if pids:
                    victim = rng.choice(pids)
                    try:
                        os.kill(victim, signal.SIGKILL)
                        kills.append(victim)
                    except ProcessLookupError:
                        pass

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        try:
            for link_id in links:  # the customers pay, one every pay_every_ms; the sandbox sends the webhooks
                stack.control("/_sandbox/pay", {"gateway": "razorpay", "id": link_id})
                time.sleep(pay_every_ms / 1000)
            deliveries = _settled_deliveries(stack)
        finally:
            stop.set()
            thread.join()

        acknowledged = {d["event_id"] for d in deliveries
                        if any(code and 200 <= code < 300 for code in d["response_codes"])}
        retried = sum(1 for d in deliveries if len(d["response_codes"]) > 1)
        unanswered = sum(1 for d in deliveries if d["status"] == "failed")
        with stack.app.app_context():
            from portal.extensions import db
            from portal.models import Invoice, Payment, ProcessedEvent

            recorded = set(db.session.scalars(db.select(ProcessedEvent.event_id)
                                              .where(ProcessedEvent.gateway == "razorpay")))
        runner = stack.app.test_cli_runner()
        result = runner.invoke(args=["payments", "reconcile"])
        assert result.exit_code in (0, 1), result.output  # 1: it found something to report
        with stack.app.app_context():
            payments = {invoice_id: count for invoice_id, count in db.session.execute(
                db.select(Payment.invoice_id, db.func.count(Payment.id)).group_by(Payment.invoice_id))}
            paid = db.session.scalars(db.select(Invoice.id).where(Invoice.status == "paid")).all()
            paid_once = sum(1 for invoice_id in paid if payments.get(invoice_id) == 1)
    return WorkerKillResult(invoices, len(kills), acknowledged, recorded, retried, unanswered, paid_once,
                            time.monotonic() - started)


def _settled_deliveries(stack: Stack, timeout: float = 120.0) -> list[dict]:
    """The sandbox's Razorpay deliveries once none is still waiting for an answer or a retry."""
    deadline = time.monotonic() + timeout
    while True:
        deliveries = requests.get(stack.sandbox.control_url + "/_sandbox/deliveries",
                                  params={"gateway": "razorpay"}, timeout=10).json()
        if all(d["status"] != "pending" for d in deliveries) or time.monotonic() > deadline:
            return deliveries
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("drill", choices=["worker-kill"])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--every-ms", type=int, default=300)
    args = parser.parse_args()
    result = worker_kill(args.invoices, args.every_ms)
    lost = result.acknowledged - result.recorded
    print(f"worker-kill: {result.invoices} invoices paid at the gateway, {result.kills} workers killed "
          f"(SIGKILL every {args.every_ms} ms), {len(result.acknowledged)} events acknowledged, "
          f"{len(lost)} of them lost; {result.retried} deliveries retried after a kill, {result.unanswered} never "
          f"answered; after reconciliation "
          f"{result.paid_once} of {result.invoices} invoices paid exactly once; {result.seconds:.0f} s")
    sys.exit(0 if not lost and result.paid_once == result.invoices else 1)


if __name__ == "__main__":
    main()
