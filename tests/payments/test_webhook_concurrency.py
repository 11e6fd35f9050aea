"""Ten copies of one webhook at once, against two gunicorn workers sharing the database: one payment."""
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from portal.extensions import db
from portal.models import Invoice, Payment, WebhookDelivery
from portal.payments import engine

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(pay_app, database_url, sandbox, tmp_path):
    port = free_port()
    env = {**os.environ, **sandbox.portal_env(), "DATABASE_URL": database_url, "SECRET_KEY": "gunicorn-test",
           "PORTAL_INSTANCE_PATH": str(tmp_path), "JOBS_IN_PROCESS": "0", "FRONTEND_URL": f"http://127.0.0.1:{port}"}
    env.pop("REDIS_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4",
                                "--bind", f"127.0.0.1:{port}", "--control-socket", str(tmp_path / "gunicorn.ctl"),
                                "wsgi:app"], cwd=REPO, env=env,
                               stdout=open(tmp_path / "gunicorn.log", "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/login", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def test_ten_concurrent_copies_on_two_workers_record_one_payment(gunicorn, make_invoice, control):
    control.post("/_sandbox/webhooks", {"gateway": "razorpay", "url": "http://127.0.0.1:9/x"})
    invoice = make_invoice(currency="INR", open_it=True)
    link = engine.generate_link(invoice).link
    control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link.link_id})
    for _ in range(50):
        paid = [d for d in control.get("/_sandbox/deliveries", gateway="razorpay") if d["type"] == "payment_link.paid"]
        if paid and paid[0]["headers"]:
            break
        time.sleep(0.05)
    body, headers = paid[0]["body"].encode(), {**paid[0]["headers"], "Content-Type": "application/json"}

    def send(_):
        return requests.post(f"{gunicorn}/webhooks/razorpay", data=body, headers=headers, timeout=15)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(send, range(10)))
    assert [a.status_code for a in answers] == [200] * 10, [a.text[:200] for a in answers]
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["applied"] + ["duplicate"] * 9
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(Payment.id))) == 1
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "paid" and invoice.amount_paid_minor == invoice.total_minor
    assert db.session.scalar(db.select(db.func.count(WebhookDelivery.id))) == 10  # every copy kept
