"""Drills in the production shape (issue 11): what a crash costs, shown rather than assumed.

    .venv/bin/python bench/drills.py worker-kill [--invoices 1000] [--every-ms 300] [--runs 3]
    .venv/bin/python bench/drills.py two-instances [--invoices 300] [--runs 3]   (see two_instances below)

worker-kill: customers pay Razorpay links while a gunicorn worker is killed with SIGKILL every few hundred
milliseconds; the sandbox delivers each payment's webhooks and retries unanswered ones as Razorpay does.
Afterwards: every event the portal acknowledged (answered 2xx) is recorded, and once `payments reconcile`
has run (for deliveries whose every retry met a dying worker), every invoice is paid exactly once, as at the
gateway. Each paid Razorpay link sends one `payment_link.paid`, so 1,000 invoices are 1,000 deliveries (and
more attempts: each delivery a worker died under is sent again). Figures go to bench/results/worker_kill.json
(bench/results.py). tests/drills/test_worker_kill.py runs a small version in `make test`.
"""
from __future__ import annotations

import argparse
import json
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
    deliveries: int = 0           # webhook deliveries the sandbox made (events, not attempts)
    attempts: int = 0             # every attempt, retries included
    matching: int = 0             # invoices paid by the one payment, for the amount, the gateway reported


def worker_kill(invoices: int = 30, every_ms: int = 300, pay_every_ms: int = 20, seed: int = 11) -> WorkerKillResult:
    started = time.monotonic()
    # --preload: a worker gunicorn forks to replace a killed one serves at once. Without it each new worker
    # imports the portal first (a second or more on a busy machine), so a kill every 300 ms kills workers
    # that are still booting, the portal serves almost nothing and the drill proves nothing.
    with Stack(workers=2, sandbox_settings=DRILL_SANDBOX, env={"GUNICORN_CMD_ARGS": "--preload"}) as stack:
        local = threading.local()

        def new_link(_) -> str:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            created = stack.api("POST", "/invoices", local.session, json={
                "customer": {"name": "Drill Traders", "email": "drill@example.com"}, "currency": "INR",
                "items": [{"description": "Work", "quantity": 1, "unit_price": "150.00"}]})
            invoice_id = created.json()["id"]
            link = stack.api("POST", f"/invoices/{invoice_id}/payment-link", local.session, json={}).json()
            assert link["gateway"] == "razorpay", link
            return link["link_id"]

        with ThreadPoolExecutor(max_workers=4) as pool:  # before any kill: a thousand invoices take a while
            links = list(pool.map(new_link, range(invoices)))

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
            deliveries = _settled_deliveries(stack, timeout=60 + invoices * 0.2)
        finally:
            stop.set()
            thread.join()

        acknowledged = {d["event_id"] for d in deliveries
                        if any(code and 200 <= code < 300 for code in d["response_codes"])}
        retried = sum(1 for d in deliveries if len(d["response_codes"]) > 1)
        unanswered = sum(1 for d in deliveries if d["status"] == "failed")
        with stack.app.app_context():
            from portal.extensions import db
            from portal.models import Invoice, Payment, PaymentLink, ProcessedEvent

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
            # The gateway's side, from what it sent: which payment paid which link, for how much. An invoice
            # matches when it is paid by exactly that one payment, for exactly that amount.
            at_gateway = {}
            for d in deliveries:
                entities = json.loads(d["body"])["payload"]
                at_gateway[entities["payment_link"]["entity"]["id"]] = (entities["payment"]["entity"]["id"],
                                                                        entities["payment"]["entity"]["amount"])
            ours = db.session.execute(db.select(PaymentLink.link_id, Payment.invoice_id, Payment.payment_id,
                                                Payment.amount_minor, Invoice.status, Invoice.amount_paid_minor)
                                      .join(Payment, Payment.payment_link_id == PaymentLink.id)
                                      .join(Invoice, Invoice.id == PaymentLink.invoice_id)).all()
            matching = sum(1 for link_id, invoice_id, payment_id, amount, status, amount_paid in ours
                           if payments.get(invoice_id) == 1 and status == "paid"
                           and at_gateway.get(link_id) == (payment_id, amount) and amount_paid == amount)
    return WorkerKillResult(invoices, len(kills), acknowledged, recorded, retried, unanswered, paid_once,
                            time.monotonic() - started, deliveries=len(deliveries),
                            attempts=sum(len(d["response_codes"]) for d in deliveries), matching=matching)


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
    from results import Figure, save

    parser = argparse.ArgumentParser()
    parser.add_argument("drill", choices=["worker-kill"])
    parser.add_argument("--invoices", type=int, default=1000, help="invoices paid: one Razorpay delivery each")
    parser.add_argument("--every-ms", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        result = worker_kill(args.invoices, args.every_ms)
        runs.append(result)
        print(f"worker-kill: {result.invoices} invoices paid at the gateway, {result.deliveries} webhook deliveries "
              f"({result.attempts} attempts), {result.kills} workers killed (SIGKILL every {args.every_ms} ms), "
              f"{len(result.acknowledged)} events acknowledged, {len(result.acknowledged - result.recorded)} of "
              f"them lost; {result.retried} deliveries retried after a kill, {result.unanswered} never answered; "
              f"after reconciliation {result.paid_once} of {result.invoices} invoices paid exactly once, "
              f"{result.matching} matching the gateway; {result.seconds:.0f} s")

    def figure(key, label, goal, values, met, unit="", note=""):
        return Figure(key, label, goal=goal, unit=unit, runs=[float(v) for v in values], met=met, note=note)

    lost = [len(r.acknowledged - r.recorded) for r in runs]
    figures = [
        figure("worker_kill_deliveries", "webhook deliveries while workers are killed (sandbox retries on)",
               "≥ 1,000", [r.deliveries for r in runs], all(r.deliveries >= 1000 for r in runs)),
        figure("worker_kill_kills", f"gunicorn workers killed with SIGKILL (one every {args.every_ms} ms)", "> 0",
               [r.kills for r in runs], all(r.kills > 0 for r in runs)),
        figure("worker_kill_retried", "deliveries sent again because a worker died under them", "",
               [r.retried for r in runs], True),
        figure("worker_kill_unanswered", "deliveries whose every attempt met a dying worker (left to reconciliation)",
               "", [r.unanswered for r in runs], True),
        figure("worker_kill_acknowledged", "events the portal acknowledged (2xx) while workers were killed", "",
               [len(r.acknowledged) for r in runs], True),
        figure("worker_kill_lost", "acknowledged events lost", "0", lost, not any(lost)),
        figure("worker_kill_matching", "invoices paid once and matching the gateway after reconciliation", "100 %",
               [100 * r.matching / r.invoices for r in runs], all(r.matching == r.invoices for r in runs), unit="%"),
    ]
    save("worker_kill", f"gunicorn 2 workers (--preload), PostgreSQL, Redis, sandbox (Razorpay, up to "
                        f"{DRILL_SANDBOX['webhook_max_attempts']} attempts per delivery); {args.invoices} invoices "
                        f"paid, one every 20 ms", figures)
    sys.exit(0 if all(f.met for f in figures) else 1)


# ---- two instances ---------------------------------------------------------------------------------
#
#     .venv/bin/python bench/drills.py two-instances [--invoices 300] [--runs 3]
#
# two-instances: two gunicorn masters on two ports (two machines behind a load balancer) share PostgreSQL and
# Redis. Each invoice gets several simultaneous clicks through either instance, then the customer pays and the
# sandbox delivers the webhooks to one instance or the other while the drill sends a copy of each event to the
# other instance at the same moment. Meanwhile an admin changes settings through one instance (switches a
# gateway off, reorders routing, forces a breaker open, and undoes each) and the very next clicks through the
# OTHER instance must obey; then a gateway's failures through one instance open its breaker and the other
# instance must say and act the same. tests/drills/test_two_instances.py runs a small version in `make test`.

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

ADMIN_EMAIL, ADMIN_PASSWORD = "drill-admin@example.com", "drill admin password 1"
CLICKS_PER_INVOICE = 4
# What each admin change makes the next INR click do; the undo brings it back to Razorpay (first by default).
SETTING_CHANGES = {
    "gateway switched off": (("/gateways/razorpay/enabled", {"enabled": "0"}),
                             ("/gateways/razorpay/enabled", {"enabled": "1"})),
    "routing reordered": (("/gateways/routing", {"currency": "INR", "gateways": "stripe,razorpay"}),
                          ("/gateways/routing/reset", {"currency": "INR"})),
    "breaker forced open": (("/gateways/razorpay/breaker", {"state": "open"}),
                            ("/gateways/razorpay/breaker", {"state": "auto"})),
}


@dataclass
class SettingCheck:
    change: str                   # "gateway switched off (undone)", ...
    changed_on: int               # the instance the admin used
    gateways: list[str]           # where the next clicks through the other instance went
    expected: str
    views_agree: bool             # `GET /api/v1/gateways` (enabled, breaker) says the same on both instances

    @property
    def obeyed(self) -> bool:
        return all(g == self.expected for g in self.gateways) and self.views_agree


@dataclass
class TwoInstancesResult:
    invoices: int
    clicks: list[int]                       # clicks answered by instance 0 and 1
    click_errors: int                       # clicks not answered 200
    links_returned: dict[int, set[str]]     # invoice id -> the link ids its clicks were given
    created_in_db: dict[int, int]           # invoice id -> link rows that a gateway made (link_id set)
    live_in_db: dict[int, int]              # invoice id -> live link rows now
    created_at_gateway: dict[int, int]      # invoice id -> links / sessions the sandbox holds for it
    live_at_gateway: dict[int, int]         # invoice id -> of those, still payable
    reuse_checks: int                       # a link made through one instance, clicked again through the other
    reuse_honoured: int                     # ... and given the same link, as reused
    paid_at_gateway: list[int]              # invoices the customers paid at the sandbox
    payments: dict[int, int]                # invoice id -> payments recorded
    events: int                             # distinct events the sandbox sent
    deliveries: list[int]                   # sandbox deliveries that went to instance 0 and 1
    copies: int                             # the same events sent by the drill to the other instance
    unanswered: int                         # sandbox deliveries whose every attempt failed
    acknowledged: set[str]                  # "gateway:event id" answered 2xx by either instance
    recorded: set[str]                      # "gateway:event id" the portal holds as processed
    settings: list[SettingCheck]
    breaker_views: list[dict[str, str]]     # per instance, `GET /api/v1/gateways` breaker per gateway, once open
    breaker_clicks_to_open: int
    breaker_obeyed: bool                    # after it opened, clicks through the other instance skipped Razorpay
    breaker_reset_views: list[dict[str, str]]
    jobs_waiting: int                       # background jobs still queued when the checks ran (should be 0)
    refused_after_paid: int                 # clicks on paid invoices, through each instance, given no link
    seconds: float

    @property
    def lost(self) -> set[str]:
        return self.acknowledged - self.recorded

    @property
    def not_paid_once(self) -> list[int]:
        """Invoices paid at the gateway that the portal does not hold exactly one payment for."""
        return [i for i in self.paid_at_gateway if self.payments.get(i) != 1]

    @property
    def unpaid(self) -> list[int]:
        """Invoices paid at the gateway with no payment in the portal."""
        return [i for i in self.paid_at_gateway if not self.payments.get(i)]

    @property
    def duplicate_payments(self) -> int:
        return sum(n - 1 for n in self.payments.values() if n > 1)

    @property
    def invoices_with_two_links(self) -> list[int]:
        return sorted({i for i, ids in self.links_returned.items() if len(ids) > 1}
                      | {i for i, n in self.created_in_db.items() if n > 1}
                      | {i for i, n in self.live_in_db.items() if n > 1}
                      | {i for i, n in self.created_at_gateway.items() if n > 1}
                      | {i for i, n in self.live_at_gateway.items() if n > 1})

    @property
    def settings_obeyed(self) -> int:
        return sum(1 for check in self.settings if check.obeyed)

    @property
    def breaker_shared(self) -> bool:
        return (len({tuple(sorted(v.items())) for v in self.breaker_views}) == 1
                and self.breaker_views[0].get("razorpay") == "open"
                and all(v.get("razorpay") == "closed" for v in self.breaker_reset_views))


class _Admin:
    """An admin signed in once, through the first instance, changing gateway settings through the Gateways
    page's forms on either: behind a load balancer without sticky sessions the next request may land on the
    other machine, so the session and its CSRF token must hold there too."""

    def __init__(self, stack: Stack) -> None:
        import re

        self.stack, self.session = stack, requests.Session()
        token = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
        csrf = token.search(self.session.get(stack.base + "/login").text).group(1)
        signed_in = self.session.post(stack.base + "/login", data={
            "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": csrf}, allow_redirects=False)
        assert signed_in.status_code in (302, 303), signed_in.status_code
        page = self.session.get(stack.base + "/gateways/", allow_redirects=False)
        assert page.status_code == 200, page.status_code
        self.csrf = token.search(page.text).group(1)

    def post(self, instance: int, path: str, form: dict) -> None:
        response = self.session.post(self.stack.bases[instance] + path, data={**form, "csrf_token": self.csrf},
                                     allow_redirects=False, timeout=30)
        assert response.status_code == 303, (instance, path, response.status_code, response.text[:300])


def two_instances(invoices: int = 30, workers: int = 2, threads: int = 6, setting_rounds: int = 1,
                  seed: int = 11) -> TwoInstancesResult:
    started = time.monotonic()
    rng = random.Random(seed)
    # Jobs run in the web processes, as in production (the test suite turns them off for its own app).
    with Stack(workers=workers, instances=2, sandbox_settings=DRILL_SANDBOX,
               env={"JOBS_IN_PROCESS": "1"}) as stack:
        with stack.app.app_context():
            from portal.users.accounts import create_user

            create_user(ADMIN_EMAIL, "admin", None, password=ADMIN_PASSWORD)
        admin = _Admin(stack)
        clicks, click_errors = [0, 0], [0]
        links_returned: dict[int, set[str]] = {}
        reuse = [0, 0]
        copies, acknowledged_copies = [0], set()
        pay_lock, count_lock = threading.Lock(), threading.Lock()

        def new_invoice(instance: int) -> int:
            created = stack.api("POST", "/invoices", instance=instance, json={
                "customer": {"name": "Two Sites Traders", "email": "twosites@example.com"}, "currency": "INR",
                "items": [{"description": "Work", "quantity": 1, "unit_price": "150.00"}]})
            assert created.status_code == 201, created.text
            return created.json()["id"]

        def click(invoice_id: int, instance: int) -> dict | None:
            response = stack.api("POST", f"/invoices/{invoice_id}/payment-link", instance=instance, json={})
            with count_lock:
                clicks[instance] += 1
                if response.status_code != 200:
                    click_errors[0] += 1
                    return None
            link = response.json()
            with count_lock:
                links_returned.setdefault(invoice_id, set()).add(link["link_id"])
            return {**link, "instance": instance}

        def pay(link: dict) -> None:
            """The customer pays; the sandbox delivers to one instance, the drill copies to the other."""
            target = rng.randrange(2)
            with pay_lock:  # the target is read when the sandbox emits, inside the pay call
                stack.control("/_sandbox/webhooks", {"gateway": link["gateway"],
                                                     "url": f"{stack.bases[target]}/webhooks/{link['gateway']}"})
                before = len(stack.sandbox.webhooks.list(with_body=False))
                stack.control("/_sandbox/pay", {"gateway": link["gateway"], "id": link["link_id"]})
                emitted = stack.sandbox.webhooks.list(with_body=False)[before:]
            for described in emitted:
                delivery = stack.sandbox.webhooks.get(described["id"])
                headers = {"Content-Type": "application/json", **delivery.signer(delivery.body)}
                response = requests.post(f"{stack.bases[1 - target]}/webhooks/{delivery.gateway}",
                                         data=delivery.body, headers=headers, timeout=30)
                with count_lock:
                    copies[0] += 1
                    if 200 <= response.status_code < 300:
                        acknowledged_copies.add(f"{delivery.gateway}:{delivery.event_id}")

        def one_invoice(instance: int) -> int | None:
            """Simultaneous clicks through both instances, a click through the other one, then payment;
            the invoice's id once the customer has paid it at the gateway."""
            invoice_id = new_invoice(instance)
            with ThreadPoolExecutor(CLICKS_PER_INVOICE) as pool:
                answers = list(pool.map(lambda n: click(invoice_id, rng.randrange(2)), range(CLICKS_PER_INVOICE)))
            made = [a for a in answers if a and not a["cached"]]
            if made:
                again = click(invoice_id, 1 - made[0]["instance"])
                with count_lock:
                    reuse[0] += 1
                    if again and again["cached"] and again["link_id"] == made[0]["link_id"]:
                        reuse[1] += 1
            link = next((a for a in answers if a), None)
            if link is None:
                return None
            pay(link)
            return invoice_id

        settings: list[SettingCheck] = []

        def admin_changes() -> None:
            """Each change through one instance, then the next clicks (two per worker of the other, on fresh
            connections, so each worker very likely answers one) through the other; the same for its undo."""
            for _ in range(setting_rounds):
                for change, steps in SETTING_CHANGES.items():
                    for (path, form), expected, label in zip(steps, ("stripe", "razorpay"),
                                                             (change, change + " (undone)")):
                        on = rng.randrange(2)
                        admin.post(on, path, form)
                        views = _switch_views(stack)
                        went = []
                        for _ in range(2 * workers):
                            link = click(new_invoice(1 - on), 1 - on)
                            went.append(link["gateway"] if link else "no link")
                        settings.append(SettingCheck(label, on, went, expected, views[0] == views[1]))

        with ThreadPoolExecutor(threads) as pool:
            changes = pool.submit(admin_changes)
            paid = [i for i in pool.map(one_invoice, [rng.randrange(2) for _ in range(invoices)]) if i is not None]
            changes.result()

        breaker_views, breaker_opened_after, breaker_obeyed, reset_views = _breaker_through_one_instance(
            stack, admin, click, new_invoice, rng)

        deliveries = _all_settled_deliveries(stack)
        jobs_waiting = _jobs_drained(stack)
        # Once paid (whichever instance took the webhook), no instance may hand out the link again.
        refused_after_paid = sum(
            1 for invoice_id in paid for n in range(len(stack.bases))
            if stack.api("POST", f"/invoices/{invoice_id}/payment-link", instance=n, json={}).status_code != 200)
        with stack.app.app_context():
            from portal.extensions import db
            from portal.models import LIVE_STATUSES, Payment, PaymentLink, ProcessedEvent

            recorded = {f"{g}:{e}" for g, e in db.session.execute(
                db.select(ProcessedEvent.gateway, ProcessedEvent.event_id))}
            payments = dict(db.session.execute(
                db.select(Payment.invoice_id, db.func.count(Payment.id)).group_by(Payment.invoice_id)).all())
            created_in_db = dict(db.session.execute(
                db.select(PaymentLink.invoice_id, db.func.count(PaymentLink.id))
                .where(PaymentLink.link_id.is_not(None)).group_by(PaymentLink.invoice_id)).all())
            live_in_db = dict(db.session.execute(
                db.select(PaymentLink.invoice_id, db.func.count(PaymentLink.id))
                .where(PaymentLink.status.in_(LIVE_STATUSES)).group_by(PaymentLink.invoice_id)).all())
        created_at_gateway, live_at_gateway = _links_at_sandbox(stack)
        acknowledged = acknowledged_copies | {
            f"{d['gateway']}:{d['event_id']}" for d in deliveries
            if any(code and 200 <= code < 300 for code in d["response_codes"])}
        by_instance = [sum(1 for d in deliveries if d["target"].startswith(base + "/")) for base in stack.bases]
    return TwoInstancesResult(
        invoices=invoices, clicks=clicks, click_errors=click_errors[0], links_returned=links_returned,
        created_in_db=created_in_db, live_in_db=live_in_db, created_at_gateway=created_at_gateway,
        live_at_gateway=live_at_gateway, reuse_checks=reuse[0], reuse_honoured=reuse[1], paid_at_gateway=paid,
        payments=payments, events=len({(d["gateway"], d["event_id"]) for d in deliveries}), deliveries=by_instance,
        copies=copies[0], unanswered=sum(1 for d in deliveries if d["status"] == "failed"),
        acknowledged=acknowledged, recorded=recorded, settings=settings,
        breaker_views=breaker_views, breaker_clicks_to_open=breaker_opened_after, breaker_obeyed=breaker_obeyed,
        breaker_reset_views=reset_views, jobs_waiting=jobs_waiting, refused_after_paid=refused_after_paid,
        seconds=time.monotonic() - started)


def _gateways_views(stack: Stack) -> list[list[dict]]:
    """`GET /api/v1/gateways` from each instance (an error answer becomes a gateway named "error")."""
    views = []
    for n in range(len(stack.bases)):
        response = stack.api("GET", "/gateways", instance=n)
        views.append(response.json() if response.status_code == 200 else
                     [{"name": "error", "enabled": None, "breaker": response.status_code, "breaker_forced": None}])
    return views


def _switch_views(stack: Stack) -> list[dict[str, tuple]]:
    return [{g["name"]: (g["enabled"], g["breaker"], g["breaker_forced"]) for g in view}
            for view in _gateways_views(stack)]


def _breaker_views(stack: Stack) -> list[dict[str, str]]:
    return [{g["name"]: g["breaker"] for g in view} for view in _gateways_views(stack)]


def _breaker_through_one_instance(stack: Stack, admin: _Admin, click, new_invoice, rng, most_clicks: int = 60):
    """Razorpay answers 503 to everything; clicks through one instance only, until that instance says the
    breaker is open. Then both instances must say so, and clicks through the other must not go to Razorpay.
    Finally an admin lets the breaker decide again through the other instance, and both say closed."""
    one = rng.randrange(2)
    other = 1 - one
    stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "error", "status": 503})
    try:
        clicks = 0
        while clicks < most_clicks:
            click(new_invoice(one), one)
            clicks += 1
            if _breaker_views(stack)[one].get("razorpay") == "open":
                break
        views = _breaker_views(stack)
        obeyed = True
        for _ in range(2 * stack.workers):
            link = click(new_invoice(other), other)
            obeyed &= link is not None and link["gateway"] == "stripe" and not any(
                a["gateway"] == "razorpay" for a in link["attempts"])
    finally:
        stack.control("/_sandbox/faults", {"gateway": "razorpay", "mode": "ok"})
    admin.post(other, "/gateways/razorpay/breaker", {"state": "auto"})
    return views, clicks, obeyed, _breaker_views(stack)


def _all_settled_deliveries(stack: Stack, timeout: float = 120.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        deliveries = stack.sandbox.webhooks.list(with_body=False)
        if all(d["status"] != "pending" for d in deliveries) or time.monotonic() > deadline:
            return deliveries
        time.sleep(0.2)


def _jobs_drained(stack: Stack, timeout: float = 60.0) -> int:
    """Wait for background jobs (cancelling superseded links) that either instance's workers run; how many
    are still waiting."""
    from portal.extensions import db
    from portal.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.app.app_context():
            waiting = db.session.scalar(db.select(db.func.count(Job.id)).where(Job.status.in_(("queued", "running"))))
        if not waiting:
            return 0
        time.sleep(0.2)
    return waiting


def _links_at_sandbox(stack: Stack) -> tuple[dict[int, int], dict[int, int]]:
    """Per invoice: links and checkout sessions the gateways hold, and how many of them can still be paid."""
    created: dict[int, int] = {}
    live: dict[int, int] = {}
    state = stack.sandbox.state()
    held = [(link.get("notes") or {}, link["status"] in ("created", "partially_paid"))
            for link in state["razorpay"]["payment_links"]]
    held += [(session.get("metadata") or {}, session["status"] == "open") for session in state["stripe"]["sessions"]]
    for tags, payable in held:
        if isinstance(tags, dict) and tags.get("invoice_id"):
            invoice_id = int(tags["invoice_id"])
            created[invoice_id] = created.get(invoice_id, 0) + 1
            live[invoice_id] = live.get(invoice_id, 0) + payable
    return created, live


def two_instances_main(argv: list[str]) -> None:
    from results import Figure, save

    parser = argparse.ArgumentParser(prog="drills.py two-instances")
    parser.add_argument("--invoices", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    runs = [two_instances(args.invoices, setting_rounds=3) for _ in range(args.runs)]
    for r in runs:
        print(f"two-instances: {r.invoices} invoices, clicks {r.clicks[0]} + {r.clicks[1]} ({r.click_errors} "
              f"failed), invoices with two links {len(r.invoices_with_two_links)}, reuse across instances "
              f"{r.reuse_honoured}/{r.reuse_checks}; {r.events} events delivered {r.deliveries[0]} + "
              f"{r.deliveries[1]}, {r.copies} copies to the other instance, {r.unanswered} never answered, "
              f"invoices not paid exactly once {len(r.not_paid_once)}, lost {len(r.lost)}; settings obeyed on the other instance "
              f"{r.settings_obeyed}/{len(r.settings)}; breaker open after {r.breaker_clicks_to_open} clicks, "
              f"shared {r.breaker_shared}, obeyed {r.breaker_obeyed}; {r.seconds:.0f} s")
        for check in r.settings:
            if not check.obeyed:
                print(f"  not obeyed: {check.change} through instance {check.changed_on}: the other instance's "
                      f"next clicks went to {check.gateways}, expected {check.expected}")

    def figure(key, label, goal, values, met, unit="", note=""):
        return Figure(key, label, goal=goal, unit=unit, runs=[float(v) for v in values], met=met, note=note)

    missed = [c for r in runs for c in r.settings if not c.obeyed]
    figures = [
        figure("two_instances_clicks", "clicks through two instances (several at once per invoice)", "all answered",
               [sum(r.clicks) for r in runs], all(r.click_errors == 0 for r in runs)),
        figure("two_instances_two_links", "invoices with more than one link (API, database or gateway)", "0",
               [len(r.invoices_with_two_links) for r in runs], all(not r.invoices_with_two_links for r in runs)),
        figure("two_instances_events", "webhook events, each also sent to the other instance", "all applied once",
               [r.events for r in runs],
               all(not r.lost and not r.not_paid_once and not r.unanswered for r in runs)),
        figure("two_instances_duplicates", "duplicate payments", "0", [r.duplicate_payments for r in runs],
               all(r.duplicate_payments == 0 for r in runs)),
        figure("two_instances_lost", "acknowledged events lost, or paid invoices without their payment", "0",
               [len(r.lost) + len(r.unpaid) for r in runs], all(not r.lost and not r.unpaid for r in runs)),
        figure("two_instances_settings", "admin changes obeyed by the other instance's next clicks", "100 %",
               [100 * r.settings_obeyed / len(r.settings) for r in runs],
               all(r.settings_obeyed == len(r.settings) for r in runs), unit="%",
               note="; ".join(sorted({c.change for c in missed}))),
        figure("two_instances_reuse", "a link made through one instance reused through the other", "100 %",
               [100 * r.reuse_honoured / max(1, r.reuse_checks) for r in runs],
               all(r.reuse_honoured == r.reuse_checks for r in runs), unit="%"),
        figure("two_instances_breaker", "breaker opened through one instance, seen and obeyed by the other",
               "yes", [int(r.breaker_shared and r.breaker_obeyed) for r in runs],
               all(r.breaker_shared and r.breaker_obeyed for r in runs)),
    ]
    save("two_instances", f"2 gunicorn masters x 2 workers, one PostgreSQL, one Redis, sandbox; "
                          f"{args.invoices} invoices, {CLICKS_PER_INVOICE} simultaneous clicks each", figures)
    sys.exit(0 if all(f.met for f in figures) else 1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["two-instances"]:
        two_instances_main(sys.argv[2:])
    else:
        main()
