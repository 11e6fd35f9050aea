"""What the portal adds on top of the gateway, in the production shape (issue 11): gunicorn 4 workers,
PostgreSQL, Redis and the sandbox, each figure beside its baseline from the same run.

    .venv/bin/python bench/api_overhead.py [--clicks 60] [--runs 3] [--latency-ms 0 100]

  floor     GET /api/v1/invoices/{id} (token checked, one invoice read) beside GET /api/v1/openapi.json
            (no token, no database): what authentication and one read cost.
  click     POST /api/v1/invoices/{id}/payment-link for a fresh INR invoice (Razorpay), beside the bare
            razorpay SDK call creating a link on the same sandbox from this process: our overhead.
  reuse     the same POST again (the link is reused, no gateway call), beside the floor.
  failover  a click while Razorpay refuses connections (the sandbox closes its port), beside a click that
            asks Stripe directly ("fallback alone"): what the failed primary costs; and the design this
            replaces, computed in the same run: three refused calls with 1, 2 and 4 s sleeps, then the fallback.
  hanging   a click while Razorpay accepts and never answers (GATEWAY_TIMEOUT_SECONDS=2), beside fallback alone.

Reuse is judged on server time: the worker's own time from gunicorn's access log (bench/stack.py). Prints
the median of each run's median (and p99) and the spread over runs; saves the figures for BENCHMARKS.md.
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
    server = stack.instance(0)
    # The second POST to each invoice's link is the reuse; the floor's server time from this run's requests.
    # A worker writes its log line after answering: wait for the last one.
    last = f"/api/v1/invoices/{invoice_ids[-1]}/payment-link"
    for _ in range(50):
        if len(server.server_times_ms("POST", last)) >= 2:
            break
        time.sleep(0.05)
    times["reuse server"] = [server.server_times_ms("POST", f"/api/v1/invoices/{i}/payment-link")[1]
                             for i in invoice_ids]
    times["openapi server"] = server.server_times_ms("GET", "/api/v1/openapi.json")[-clicks:]
    return times


def failover_run(stack: Stack, clicks: int, mode: str = "down") -> dict[str, list[float]]:
    """Pairs of clicks: Stripe asked directly (fallback alone), then an INR click meeting Razorpay `mode`."""
    session = requests.Session()
    times: dict[str, list[float]] = {"fallback alone": [], "primary failing": [], "refused call": []}
    sdk = bare_sdk_call(stack)
    pairs = [(new_invoice(stack, session), new_invoice(stack, session)) for _ in range(clicks)]
    for direct, routed in pairs:
        stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": mode})
        for key, body, target in (("fallback alone", {"gateway": "stripe"}, direct), ("primary failing", {}, routed)):
            elapsed, answer = timed(lambda: stack.api("POST", f"/invoices/{target}/payment-link", session, json=body))
            assert answer.status_code in (200, 201) and answer.json()["gateway"] == "stripe", answer.text
            times[key].append(elapsed)
        if mode == "down":  # what one refused call costs the naive design, measured the same way
            started = time.perf_counter()
            try:
                sdk()
            except Exception:  # noqa: BLE001 - the refusal is the point
                pass
            times["refused call"].append((time.perf_counter() - started) * 1000)
        # Keep the breaker closed: every click must meet a failing Razorpay, not a skipped one.
        stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "ok"})
        with stack.app.app_context():
            from portal.payments import engine
            engine.breaker().reset("razorpay")
    return times


def med(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    from results import Figure, save

    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=60)
    parser.add_argument("--hanging-clicks", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 100])
    args = parser.parse_args()
    figures: list[Figure] = []
    with Stack(workers=4, env={"GATEWAY_TIMEOUT_SECONDS": "2"}) as stack:
        for latency in args.latency_ms:
            stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "slow" if latency else "ok",
                                               "latency_ms": latency})
            runs = [one_run(stack, args.clicks) for _ in range(args.runs)]
            print(f"\nsandbox latency {latency} ms; {args.runs} runs x {args.clicks} clicks")
            for key in runs[0]:
                medians = [med(r[key]) for r in runs]
                print(f"{key:34} {med(medians):8.1f} {med([pct(r[key], 0.99) for r in runs]):8.1f}  "
                      f"{min(medians):6.1f}-{max(medians):<6.1f}")
            for p, goal in ((50, 10), (99, 30)):
                overhead = [pct(r["click"], p / 100) - pct(r["sdk"], p / 100) for r in runs]
                figures.append(Figure(
                    f"click_overhead_p{p}_{latency}ms",
                    f"link creation over the API, overhead above the bare SDK call, p{p}, sandbox latency {latency} ms",
                    f"≤ {goal} ms", "ms", overhead, med(overhead) <= goal, "bare SDK call to the same sandbox, "
                    f"p{p}", [pct(r["sdk"], p / 100) for r in runs], note=CLICK_NOTE))
            if latency == 100:  # the older design's promise: a link in under 500 ms, gateway included
                whole = [pct(r["click"], 0.99) for r in runs]
                figures.append(Figure(
                    "link_generation_p99_100ms", "link generation, whole click over the API with 100 ms gateway "
                    "latency, p99", "< 500 ms", "ms", whole, med(whole) < 500, "bare SDK call, p99",
                    [pct(r["sdk"], 0.99) for r in runs]))
            if latency == 0:
                floor = [med(r["get invoice"]) - med(r["openapi"]) for r in runs]
                figures.append(Figure(
                    "auth_floor", "authenticated request floor (GET /api/v1/invoices/{id}) above an unauthenticated "
                    "one (openapi.json), p50", "≤ 3 ms", "ms", floor, med(floor) <= 3,
                    "GET /api/v1/openapi.json", [med(r["openapi"]) for r in runs], note=FLOOR_NOTE))
                reuse = [med(r["reuse server"]) for r in runs]
                figures.append(Figure(
                    "reuse_server_time", "second click, link reused: server time (gunicorn's own), p50", "≤ 5 ms",
                    "ms", reuse, med(reuse) <= 5, "GET /api/v1/openapi.json, server time",
                    [med(r["openapi server"]) for r in runs], note=REUSE_NOTE))
        stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "ok", "latency_ms": 0})

        refusing = [failover_run(stack, args.clicks // 2, "down") for _ in range(args.runs)]
        extra = [med(r["primary failing"]) - med(r["fallback alone"]) for r in refusing]
        naive = [med(r["fallback alone"]) + 7000 + 3 * med(r["refused call"]) for r in refusing]
        print(f"\nprimary refusing: extra above fallback alone {med(extra):.1f} ms; naive design {med(naive):.0f} ms")
        figures.append(Figure(
            "failover_refusing", "first click with the primary refusing connections, above fallback alone (p50)",
            "≤ +50 ms", "ms", extra, med(extra) <= 50, "fallback alone (Stripe asked directly), p50",
            [med(r["fallback alone"]) for r in refusing]))
        figures.append(Figure(
            "failover_refusing_naive", "the design this replaces, computed: 3 refused calls with 1 + 2 + 4 s "
            "sleeps, then the fallback", "", "ms", naive, True, "our click with the primary refusing",
            [med(r["primary failing"]) for r in refusing]))

        hanging = [failover_run(stack, args.hanging_clicks, "hang") for _ in range(args.runs)]
        total = [med(r["primary failing"]) / 1000 for r in hanging]
        print(f"primary hanging: {med(total):.2f} s")
        figures.append(Figure(
            "failover_hanging", "first click with the primary hanging, GATEWAY_TIMEOUT_SECONDS=2 (p50)", "≤ 2.1 s",
            "s", total, med(total) <= 2.1, "fallback alone (Stripe asked directly)",
            [med(r["fallback alone"]) / 1000 for r in hanging],
            note="the click waits the full 2 s timeout for the hanging primary, then asks the fallback"))
    save("api_overhead", f"gunicorn 4 workers, PostgreSQL, Redis, the sandbox; {args.runs} runs x {args.clicks} "
                         f"clicks (hanging: x {args.hanging_clicks}), one client", figures)


CLICK_NOTE = ("profiled in-process (cProfile, Flask test client, PostgreSQL, Redis, the sandbox, 100 first clicks "
              "over the API, quiet machine): a click is 13 SQL round trips in 2 commits plus token auth "
              "(tests/payments/test_click_statements.py pins the bound): lock, click row and link row with its key "
              "committed before the gateway call, then attempt, link, click outcome and audit. Of the click's time "
              "the SDK call is 18 %, waiting on PostgreSQL 29 %, and SQLAlchemy's unit of work (11 rows written "
              "through the ORM, flushed in 4 batches) most of the rest; the floor under this design is the two "
              "commits and the rows the audit trail needs, so the next step is writing the attempt, click and "
              "audit rows with Core in the second transaction")
FLOOR_NOTE = ("profiled in-process (cProfile, Flask test client, PostgreSQL, 200 requests, shared machine): 7.4 ms "
              "a request against 1.4 ms for openapi.json; 5 statements, no commit. The token check itself "
              "(one read of token and user together, users.find_active) is 1.5 ms, within the goal; the rest is "
              "the invoice this floor reads: 1.4 ms to load it and 2.9 ms to serialise it, which loads its lines, "
              "links and payments lazily (3 more round trips) and computes totals (0.9 ms). Eager loading those "
              "three in the serialiser is the next step")
REUSE_NOTE = ("profiled in-process (cProfile, Flask test client, PostgreSQL, 200 requests, shared machine): 6.7 ms "
              "a request against 1.4 ms for openapi.json; 4 statements and 1 commit: token and user (1.7 ms), "
              "the invoice (0.9 ms), the cached link's row (0.75 ms), and the click row's insert and commit "
              "(1.8 ms, the audit trail of every click). Each is one indexed round trip; what is left above the "
              "goal is four round trips and Flask's request handling in a busy worker")


if __name__ == "__main__":
    main()
