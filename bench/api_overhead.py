"""What the portal adds on top of the gateway, in the production shape (issue 11): gunicorn 4 workers,
PostgreSQL, Redis and the sandbox, each figure beside its baseline from the same run.

    .venv/bin/python bench/api_overhead.py [--clicks 60] [--runs 3] [--latency-ms 0 100]

  floor     GET /api/v1/invoices/{id} (token checked, one invoice read) beside GET /api/v1/openapi.json
            (no token, no database): what authentication and one read cost.
  click     POST /api/v1/invoices/{id}/payment-link for a fresh INR invoice (Razorpay), beside the bare
            razorpay SDK call creating a link on the same sandbox from this process: our overhead.
  reuse     the same POST again (the link is reused, no gateway call), beside the floor.
  failover  a click while Razorpay refuses connections (the sandbox closes its port), beside a click that
            asks Stripe directly ("fallback alone"): what the failed primary costs.

Prints the median of each run's median (and p99) and the spread over runs.
"""
from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import Stack  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def new_invoice(stack: Stack, session: requests.Session) -> int:
    created = stack.api("POST", "/invoices", session, json={
        "customer": {"name": "Bench Traders", "email": "bench@example.com"}, "currency": "INR",
        "items": [{"description": "Work", "quantity": 1, "unit_price": "1234.50"}]})
    assert created.status_code == 201, created.text
    invoice_id = created.json()["id"]
    assert stack.api("POST", f"/invoices/{invoice_id}/open", session).status_code == 200
    return invoice_id


def bare_sdk_call(stack: Stack):
    """The floor for a click: the razorpay SDK's create call straight to the same sandbox."""
    from portal.payments import registry
    from portal.payments.base import LinkRequest
    from portal.money import Money

    with stack.app.app_context():
        gateway = registry.get_gateway("razorpay", stack.app.config)

    def call():
        request = LinkRequest(
            invoice_id=1, invoice_number="BENCH", amount=Money(123450, "INR"),
            reference=f"bench-{secrets.token_hex(8)}", description="Bench", customer_name="Bench",
            customer_email="bench@example.com", customer_phone="", return_url=stack.base + "/r",
            cancel_url=stack.base + "/c",
            expires_at=(datetime.now(timezone.utc) + timedelta(hours=24)).replace(microsecond=0))
        return gateway.create_link(request, 5)
    return call


def one_run(stack: Stack, clicks: int) -> dict[str, list[float]]:
    session = requests.Session()
    sdk = bare_sdk_call(stack)
    times: dict[str, list[float]] = {k: [] for k in ("openapi", "get invoice", "sdk", "click", "reuse")}
    invoice_ids = [new_invoice(stack, session) for _ in range(clicks)]
    for invoice_id in invoice_ids:  # interleaved, so every figure and its baseline see the same load
        elapsed, answer = timed(lambda: session.get(stack.base + "/api/v1/openapi.json", timeout=30))
        times["openapi"].append(elapsed)
        elapsed, answer = timed(lambda: stack.api("GET", f"/invoices/{invoice_id}", session))
        assert answer.status_code == 200
        times["get invoice"].append(elapsed)
        elapsed, _ = timed(sdk)
        times["sdk"].append(elapsed)
        elapsed, answer = timed(lambda: stack.api("POST", f"/invoices/{invoice_id}/payment-link", session,
                                                  json={}))
        assert answer.status_code in (200, 201), answer.text
        times["click"].append(elapsed)
        elapsed, answer = timed(lambda: stack.api("POST", f"/invoices/{invoice_id}/payment-link", session,
                                                  json={}))
        assert answer.status_code in (200, 201), answer.text
        times["reuse"].append(elapsed)
    return times


def failover_run(stack: Stack, clicks: int) -> dict[str, list[float]]:
    session = requests.Session()
    times: dict[str, list[float]] = {"stripe asked directly": [], "razorpay refusing": []}
    stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "down"})
    try:
        pairs = [(new_invoice(stack, session), new_invoice(stack, session)) for _ in range(clicks)]
        for direct, routed in pairs:
            for key, body, target in (("stripe asked directly", {"gateway": "stripe"}, direct),
                                      ("razorpay refusing", {}, routed)):
                elapsed, answer = timed(lambda: stack.api("POST", f"/invoices/{target}/payment-link", session,
                                                          json=body))
                assert answer.status_code in (200, 201) and answer.json()["gateway"] == "stripe", answer.text
                times[key].append(elapsed)
            # Keep the breaker closed: every click must meet a refusing Razorpay, not a skipped one.
            stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "ok"})
            with stack.app.app_context():
                from portal.payments import engine
                engine.breaker().reset("razorpay")
            stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "down"})
    finally:
        stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "ok"})
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 100])
    args = parser.parse_args()
    with Stack(workers=4) as stack:
        for latency in args.latency_ms:
            stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "slow" if latency else "ok",
                                               "latency_ms": latency})
            runs = [one_run(stack, args.clicks) for _ in range(args.runs)]
            print(f"\nsandbox latency {latency} ms; gunicorn 4 workers, PostgreSQL, Redis; "
                  f"{args.runs} runs x {args.clicks} clicks")
            print(f"{'figure':34} {'p50 ms':>8} {'p99 ms':>8}  {'p50 spread':>14}")
            medians = {k: [statistics.median(r[k]) for r in runs] for k in runs[0]}
            p99s = {k: [pct(r[k], 0.99) for r in runs] for k in runs[0]}
            for key in runs[0]:
                print(f"{key:34} {statistics.median(medians[key]):8.1f} {statistics.median(p99s[key]):8.1f}  "
                      f"{min(medians[key]):6.1f}-{max(medians[key]):<6.1f}")
            overhead = [statistics.median(r["click"]) - statistics.median(r["sdk"]) for r in runs]
            overhead99 = [pct(r["click"], 0.99) - pct(r["sdk"], 0.99) for r in runs]
            floor = [statistics.median(r["get invoice"]) - statistics.median(r["openapi"]) for r in runs]
            print(f"{'click overhead above the bare SDK':34} {statistics.median(overhead):8.1f} "
                  f"{statistics.median(overhead99):8.1f}  (goal p50 <= 10, p99 <= 30)")
            print(f"{'authenticated floor above openapi':34} {statistics.median(floor):8.1f} {'':8}  (goal <= 3)")
            print(f"{'second click (reuse)':34} {statistics.median(medians['reuse']):8.1f} {'':8}  "
                  f"(goal <= 5 server time)")
        stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "ok"})
        runs = [failover_run(stack, args.clicks // 2) for _ in range(args.runs)]
        print(f"\nprimary refusing connections; {args.runs} runs x {args.clicks // 2} clicks each way")
        for key in runs[0]:
            medians = [statistics.median(r[key]) for r in runs]
            print(f"{key:34} {statistics.median(medians):8.1f} "
                  f"{statistics.median([pct(r[key], 0.99) for r in runs]):8.1f}  {min(medians):6.1f}-{max(medians):<6.1f}")
        extra = [statistics.median(r["razorpay refusing"]) - statistics.median(r["stripe asked directly"]) for r in runs]
        print(f"{'failover cost above fallback alone':34} {statistics.median(extra):8.1f} {'':8}  (goal <= 50)")


if __name__ == "__main__":
    main()
