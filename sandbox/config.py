"""Sandbox configuration: ports and credentials, read from the same environment as the portal.

Variable names are the portal's (docs/configuration.md) plus `SANDBOX_*`. A variable that is unset falls back to a
fixed demo value from ``DEMO_ENV``; ``make run`` gives the portal the same values, so both sides agree
without anyone creating keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

# Fixed demo credentials. Formats follow the real ones (Stripe `sk_test_`/`whsec_`, Razorpay
# `rzp_test_` + 14 characters, PayPal webhook ids are upper-case alphanumerics) so format checks in the
# portal treat them like real keys.
DEMO_ENV: dict[str, str] = {
    "STRIPE_SECRET_KEY": "sk_test_hisabprodemo0000000000000000000000000000",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_hisabprodemo0000000000000000000000000000",
    "STRIPE_WEBHOOK_SECRET": "whsec_hisabprodemo00000000000000000000000",
    "RAZORPAY_KEY_ID": "rzp_test_HisabProDemo01",
    "RAZORPAY_KEY_SECRET": "hisabprodemosecret000000",
    "RAZORPAY_WEBHOOK_SECRET": "hisabpro_demo_razorpay_webhook_secret",
    "PAYPAL_CLIENT_ID": "AHisabProDemoClientId0000000000000000000000000000000000000000000000000000000000",
    "PAYPAL_CLIENT_SECRET": "EHisabProDemoClientSecret000000000000000000000000000000000000000000000000000000",
    "PAYPAL_WEBHOOK_ID": "0HISABPRODEMO0WEBHOOK00ID",
}

DEFAULT_PORTS: dict[str, int] = {
    "SANDBOX_CONTROL_PORT": 12110,
    "SANDBOX_STRIPE_PORT": 12111,
    "SANDBOX_RAZORPAY_PORT": 12112,
    "SANDBOX_PAYPAL_PORT": 12113,
}

DEFAULT_FRONTEND_URL = "http://127.0.0.1:5000"

# The API version stripe-python 16.1.0 pins (stripe/_api_version.py); events carry it as api_version.
STRIPE_API_VERSION = "2026-10-28.endive"

GATEWAYS = ("stripe", "razorpay", "paypal")


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    # 0 asks the OS for a free port (tests); the chosen port is kept when a `down` gateway reopens.
    control_port: int = DEFAULT_PORTS["SANDBOX_CONTROL_PORT"]
    stripe_port: int = DEFAULT_PORTS["SANDBOX_STRIPE_PORT"]
    razorpay_port: int = DEFAULT_PORTS["SANDBOX_RAZORPAY_PORT"]
    paypal_port: int = DEFAULT_PORTS["SANDBOX_PAYPAL_PORT"]

    stripe_secret_key: str = DEMO_ENV["STRIPE_SECRET_KEY"]
    stripe_publishable_key: str = DEMO_ENV["STRIPE_PUBLISHABLE_KEY"]
    stripe_webhook_secret: str = DEMO_ENV["STRIPE_WEBHOOK_SECRET"]
    razorpay_key_id: str = DEMO_ENV["RAZORPAY_KEY_ID"]
    razorpay_key_secret: str = DEMO_ENV["RAZORPAY_KEY_SECRET"]
    razorpay_webhook_secret: str = DEMO_ENV["RAZORPAY_WEBHOOK_SECRET"]
    paypal_client_id: str = DEMO_ENV["PAYPAL_CLIENT_ID"]
    paypal_client_secret: str = DEMO_ENV["PAYPAL_CLIENT_SECRET"]
    paypal_webhook_id: str = DEMO_ENV["PAYPAL_WEBHOOK_ID"]

    frontend_url: str = DEFAULT_FRONTEND_URL
    # Explicit webhook targets; None means FRONTEND_URL + /webhooks/<gateway> (docs/endpoints.md).
    webhook_urls: dict[str, str] = field(default_factory=dict)

    # Seed for ids and fault dice; None means random ids.
    seed: int | None = None

    # Webhook delivery in sandbox time: real gateways retry for days, here it is seconds.
    webhook_max_attempts: int = 6
    webhook_backoff_s: float = 0.5
    webhook_backoff_max_s: float = 8.0
    webhook_timeout_s: float = 5.0  # Razorpay expects an answer within 5 s
    webhook_workers: int = 8

    # A `hang` holds a request at most this long (or until the fault is cleared), so threads never pile up.
    hang_max_s: float = 60.0
    # PayPal access tokens: the real ones last about 9 hours (`expires_in` 32400).
    paypal_token_ttl_s: int = 32400
    # How often expired sessions/links/orders are swept.
    expiry_sweep_s: float = 1.0

    def port_of(self, gateway: str) -> int:
        return getattr(self, f"{gateway}_port")

    def webhook_url(self, gateway: str) -> str:
        return self.webhook_urls.get(gateway) or f"{self.frontend_url.rstrip('/')}/webhooks/{gateway}"

    def credentials_env(self) -> dict[str, str]:
        """The credential variables the portal must be given to talk to this sandbox."""
        return {name: getattr(self, name.lower()) for name in DEMO_ENV}

    def api_bases(self, ports: Mapping[str, int] | None = None) -> dict[str, str]:
        ports = ports or {g: self.port_of(g) for g in GATEWAYS}
        return {f"{g.upper()}_API_BASE": f"http://{self.host}:{ports[g]}" for g in GATEWAYS}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env") -> "SandboxConfig":
        """Build from the environment, first loading `.env` from the current directory if present."""
        env: dict[str, str] = {}
        if dotenv_path and Path(dotenv_path).is_file():
            from dotenv import dotenv_values

            env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        env.update(os.environ if environ is None else environ)

        values: dict[str, object] = {}
        for name in DEMO_ENV:
            if env.get(name):
                values[name.lower()] = env[name]
        for name, default in DEFAULT_PORTS.items():
            attr = name.removeprefix("SANDBOX_").lower()
            values[attr] = int(env.get(name) or default)
        if env.get("SANDBOX_HOST"):
            values["host"] = env["SANDBOX_HOST"]
        if env.get("FRONTEND_URL"):
            values["frontend_url"] = env["FRONTEND_URL"]
        if env.get("SANDBOX_SEED"):
            values["seed"] = int(env["SANDBOX_SEED"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def for_tests(cls, **overrides) -> "SandboxConfig":
        """Free ports, fast webhook retries: what test suites want."""
        base = cls(
            control_port=0,
            stripe_port=0,
            razorpay_port=0,
            paypal_port=0,
            webhook_max_attempts=4,
            webhook_backoff_s=0.05,
            webhook_backoff_max_s=0.4,
            webhook_timeout_s=2.0,
            hang_max_s=10.0,
            expiry_sweep_s=0.2,
        )
        return replace(base, **overrides)
