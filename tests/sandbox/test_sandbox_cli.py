"""`python -m sandbox`, configuration from the environment / `.env`, and deterministic ids with a seed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import stripe

from sandbox import DEMO_ENV, Sandbox, SandboxConfig

REPO = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_python_m_sandbox_serves_configured_ports_and_credentials(tmp_path):
    control, stripe_port, razorpay_port, paypal_port = free_ports(4)
    env = {k: v for k, v in os.environ.items() if k not in DEMO_ENV}
    env.update(SANDBOX_CONTROL_PORT=str(control), SANDBOX_STRIPE_PORT=str(stripe_port),
               SANDBOX_RAZORPAY_PORT=str(razorpay_port), SANDBOX_PAYPAL_PORT=str(paypal_port),
               PYTHONPATH=str(REPO))
    # The key comes from a .env in the working directory, as with the portal.
    (tmp_path / ".env").write_text("STRIPE_SECRET_KEY=sk_test_from_dotenv_123456789\n")
    process = subprocess.Popen([sys.executable, "-m", "sandbox"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 10
        while True:
            try:
                state = requests.get(f"http://127.0.0.1:{control}/_sandbox/state", timeout=1).json()
                break
            except requests.ConnectionError:
                assert time.time() < deadline and process.poll() is None, process.stdout.read()
                time.sleep(0.1)
        assert state["ports"] == {"control": control, "stripe": stripe_port, "razorpay": razorpay_port,
                                  "paypal": paypal_port}
        assert state["stripe"]["webhooks"]["target"] == "http://127.0.0.1:5000/webhooks/stripe"
        client = stripe.StripeClient("sk_test_from_dotenv_123456789",
                                     base_addresses={"api": f"http://127.0.0.1:{stripe_port}"})
        assert client.v1.events.list().data == []
        demo = stripe.StripeClient(DEMO_ENV["STRIPE_SECRET_KEY"], base_addresses={"api": f"http://127.0.0.1:{stripe_port}"})
        try:
            demo.v1.events.list()
            raise AssertionError("a key other than the configured one must be refused")
        except stripe.AuthenticationError:
            pass
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{stripe_port}" in output


def test_config_from_env_names_and_demo_defaults(tmp_path):
    config = SandboxConfig.from_env({"RAZORPAY_KEY_ID": "rzp_test_Other000000001", "FRONTEND_URL": "http://h:8000/",
                                     "SANDBOX_PAYPAL_PORT": "4000"}, dotenv_path=tmp_path / "missing.env")
    assert config.razorpay_key_id == "rzp_test_Other000000001"
    assert config.razorpay_key_secret == DEMO_ENV["RAZORPAY_KEY_SECRET"]
    assert config.paypal_port == 4000 and config.stripe_port == 12111 and config.control_port == 12110
    assert config.webhook_url("razorpay") == "http://h:8000/webhooks/razorpay"
    assert set(config.credentials_env()) == set(DEMO_ENV)


def test_seed_makes_ids_reproducible():
    def ids():
        with Sandbox(SandboxConfig.for_tests(seed=42)) as sb:
            client = stripe.StripeClient(sb.config.stripe_secret_key,
                                         base_addresses={"api": sb.servers["stripe"].base_url})
            session = client.v1.checkout.sessions.create(params={
                "mode": "payment", "success_url": "http://x/",
                "line_items": [{"price_data": {"currency": "usd", "unit_amount": 500,
                                               "product_data": {"name": "x"}}, "quantity": 1}]})
            sb.reset()
            again = client.v1.checkout.sessions.create(params={
                "mode": "payment", "success_url": "http://x/",
                "line_items": [{"price_data": {"currency": "usd", "unit_amount": 500,
                                               "product_data": {"name": "x"}}, "quantity": 1}]})
            return session.id, again.id, sb.portal_env()

    first, second = ids(), ids()
    assert first[:2] == second[:2] and first[0] == first[1]
    assert first[2]["STRIPE_API_BASE"].startswith("http://127.0.0.1:")


def test_start_fails_cleanly_when_a_port_is_taken():
    import pytest

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    control_port, = free_ports(1)
    sb = Sandbox(SandboxConfig.for_tests(paypal_port=taken.getsockname()[1], control_port=control_port))
    try:
        with pytest.raises(OSError):
            sb.start()
        assert not any(server.running for server in sb.servers.values())
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{control_port}/_sandbox/state", timeout=1)
    finally:
        sb.stop()
        taken.close()


def test_make_run_launcher_gives_the_portal_a_live_sandbox(tmp_path):
    """`python -m sandbox.dev CMD` (what `make run` uses): CMD sees the sandbox's API bases and keys, and
    a gateway call with them works while CMD runs; the ports close when CMD ends."""
    control, stripe_port, razorpay_port, paypal_port = free_ports(4)
    env = {k: v for k, v in os.environ.items() if k not in DEMO_ENV and not k.endswith("_API_BASE")}
    env.update(SANDBOX_CONTROL_PORT=str(control), SANDBOX_STRIPE_PORT=str(stripe_port),
               SANDBOX_RAZORPAY_PORT=str(razorpay_port), SANDBOX_PAYPAL_PORT=str(paypal_port),
               PYTHONPATH=str(REPO))
    portal_stand_in = (
        "import os, stripe; "
        "c = stripe.StripeClient(os.environ['STRIPE_SECRET_KEY'], base_addresses={'api': os.environ['STRIPE_API_BASE']}); "
        "print(os.environ['STRIPE_API_BASE'], os.environ['RAZORPAY_API_BASE'], os.environ['PAYPAL_API_BASE'], "
        "len(c.v1.events.list().data))"
    )
    result = subprocess.run([sys.executable, "-m", "sandbox.dev", sys.executable, "-c", portal_stand_in],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"http://127.0.0.1:{stripe_port} http://127.0.0.1:{razorpay_port} "
            f"http://127.0.0.1:{paypal_port} 0") in result.stdout
    try:
        requests.get(f"http://127.0.0.1:{control}/_sandbox/state", timeout=1)
        raise AssertionError("the sandbox must stop with the command it launched")
    except requests.ConnectionError:
        pass
