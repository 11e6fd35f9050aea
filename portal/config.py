"""Configuration from the environment (and `.env`), documented in docs/configuration.md
(tests/unit/test_docs.py fails when a variable read here is missing there).

Everything an operator sets is read here once; the rest of the app reads `current_app.config`.
"""
from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path
from typing import Callable, TypeVar

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message is one line an operator can act on."""


DEBUG_IN_PRODUCTION = ("PORTAL_ENV=production refuses debug mode (FLASK_DEBUG, flask run --debug or --debugger): "
                       "the Werkzeug debugger runs code for whoever reaches it; unset FLASK_DEBUG")
# gunicorn's exit status for "App failed to load": its master then stops instead of restarting the worker.
APP_LOAD_ERROR = 4

Built = TypeVar("Built")


def exit_on_config_error(build: Callable[[], Built]) -> Built:
    """Start-up for an entry point (wsgi.py, gunicorn.conf.py): a ConfigError ends the process with its one
    line on stderr, not a traceback."""
    try:
        return build()
    except ConfigError as error:
        print(f"hisabpro: cannot start: {error}", file=sys.stderr)
        raise SystemExit(APP_LOAD_ERROR) from None


def debug_flag(env: dict) -> bool:
    """FLASK_DEBUG read the way Flask reads it (`flask run --debug` sets it too)."""
    return (env.get("FLASK_DEBUG") or "").lower() not in ("", "0", "false", "no")


def _int(env: dict, name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _percent(env: dict, name: str, default: int) -> int:
    value = _int(env, name, default, minimum=1)
    if value > 100:
        raise ConfigError(f"{name} must be a percentage from 1 to 100, got {value}")
    return value


MAX_REMINDER_STEPS = 10


def parse_reminder_days(text: str) -> tuple[int, ...]:
    """"-3, 0, 3, 7, 14" -> (-3, 0, 3, 7, 14): days from the due date, negative before it; "" -> no reminders.
    ValueError, in words a merchant can act on, for anything else."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if any(not re.fullmatch(r"[+-]?[0-9]{1,3}", part) for part in parts):
        raise ValueError("must be whole numbers of days separated by commas, like -3, 0, 3, 7, 14")
    days = sorted({int(part) for part in parts})
    if any(abs(day) > 365 for day in days):
        raise ValueError("days must be within a year of the due date (-365 to 365)")
    if len(days) > MAX_REMINDER_STEPS:
        raise ValueError(f"may hold at most {MAX_REMINDER_STEPS} days")
    return tuple(days)


def _reminder_schedule(text: str) -> tuple[int, ...]:
    """The environment's default schedule; a malformed one is a clear start-up error."""
    try:
        return parse_reminder_days(text)
    except ValueError as exc:
        raise ConfigError(f"REMINDER_SCHEDULE {exc}, not {text!r}") from None


def _seconds(env: dict, name: str, default: str) -> str:
    """Durations stay strings of decimal seconds until used, so no float enters the config."""
    from decimal import Decimal, InvalidOperation

    raw = env.get(name) or default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{name} must be a non-negative number of seconds, got {raw!r}")
    return raw


def _rate_limit(env: dict, name: str, default: str) -> str:
    """A rate in Flask-Limiter's notation ("5 per 15 minutes"), checked here rather than at the first sign-in."""
    from limits import parse

    value = env.get(name) or default
    try:
        parse(value)
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as '5 per 15 minutes', got {value!r}") from None
    return value


def _choice(env: dict, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).upper()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {env.get(name)!r}")
    return value


def _rate(env: dict, name: str, default: str) -> str:
    """A rate limit in the `limits` notation ("30 per minute"), checked now rather than at the first request."""
    from limits import parse_many

    raw = env.get(name) or default
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as '30 per minute', got {raw!r}") from None
    return raw


def _database_url(raw: str | None, instance_path: Path) -> str:
    if not raw:
        return f"sqlite:///{instance_path / 'hisabpro.db'}"
    # Heroku-style URLs say postgres://; SQLAlchemy wants a driver name, and we ship psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def _secret_key(env: dict, instance_path: Path, production: bool) -> str:
    key = env.get("SECRET_KEY")
    if key:
        return key
    if production:
        raise ConfigError("SECRET_KEY must be set when PORTAL_ENV=production")
    # Development: generate once and keep it, so sessions survive restarts.
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def load_config(instance_path: Path | None = None, environ: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment and `.env` (environment wins)."""
    if environ is None:
        load_dotenv(PROJECT_ROOT / ".env", override=False)
        environ = dict(os.environ)
    env = environ
    instance_path = Path(instance_path or env.get("PORTAL_INSTANCE_PATH") or DEFAULT_INSTANCE_PATH)
    portal_env = env.get("PORTAL_ENV", "development")
    if portal_env not in ("development", "production", "test"):
        raise ConfigError(f"PORTAL_ENV must be development, production or test, got {portal_env!r}")
    production = portal_env == "production"
    if production and debug_flag(env):
        raise ConfigError(DEBUG_IN_PRODUCTION)
    redis_url = env.get("REDIS_URL") or None

    return {
        "PORTAL_ENV": portal_env,
        "SECRET_KEY": _secret_key(env, instance_path, production),
        "SQLALCHEMY_DATABASE_URI": _database_url(env.get("DATABASE_URL"), instance_path),
        # Statement parameters (stored webhook headers, token hashes) never go into logs or error messages.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "REDIS_URL": redis_url,
        "FRONTEND_URL": (env.get("FRONTEND_URL") or "http://127.0.0.1:5000").rstrip("/"),
        "MERCHANT_NAME": env.get("MERCHANT_NAME") or "HisabPro Demo Store",
        # Email to customers (portal/mail): unset SMTP_URL keeps every message in the outbox, to be read there.
        "SMTP_URL": env.get("SMTP_URL") or "",
        "MAIL_FROM": env.get("MAIL_FROM") or "",
        "SMTP_TIMEOUT_SECONDS": _int(env, "SMTP_TIMEOUT_SECONDS", 10, minimum=1),
        # Payment reminders (portal/mail/reminders.py): days from the due date (negative: before it), and how
        # often the worker looks for invoices due one today.
        "REMINDER_SCHEDULE": _reminder_schedule(env.get("REMINDER_SCHEDULE", "-3,0,3,7,14")),
        "REMINDER_INTERVAL_SECONDS": _int(env, "REMINDER_INTERVAL_SECONDS", 3600),
        "LOG_LEVEL": _choice(env, "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        # Background jobs run in a thread of each web process; tests run them explicitly.
        "JOBS_IN_PROCESS": (env.get("JOBS_IN_PROCESS") or "1").lower() not in ("0", "false", "no"),
        "RECONCILE_INTERVAL_SECONDS": _int(env, "RECONCILE_INTERVAL_SECONDS", 900),
        # How often finished days are added to the Statistics rollup (portal/statistics/numbers.py).
        "STATISTICS_ROLLUP_INTERVAL_SECONDS": _int(env, "STATISTICS_ROLLUP_INTERVAL_SECONDS", 600),
        # Sessions: never readable by scripts, not sent on cross-site posts, HTTPS-only in production.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "PERMANENT_SESSION_LIFETIME": 12 * 3600,
        "WTF_CSRF_TIME_LIMIT": 12 * 3600,
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024),
        # Number of reverse proxies in front of us whose X-Forwarded-* headers we trust.
        "TRUSTED_PROXY_COUNT": _int(env, "TRUSTED_PROXY_COUNT", 0),
        # Sign-in throttling (see portal/auth/throttle.py). Failures per account from one client address:
        "LOGIN_ACCOUNT_LIMIT": _rate_limit(env, "LOGIN_ACCOUNT_LIMIT", "5 per 15 minutes"),
        # Sign-in attempts from one client address, whatever the account:
        "LOGIN_IP_LIMIT": _rate_limit(env, "LOGIN_IP_LIMIT", "30 per 15 minutes"),
        # Failures from a browser holding a device cookie (it signed in before) before the cookie is dropped:
        "LOGIN_DEVICE_LIMIT": _rate_limit(env, "LOGIN_DEVICE_LIMIT", "5 per 15 minutes"),
        # Failures per account from everywhere before browsers without a device cookie are slowed down:
        "LOGIN_ACCOUNT_CEILING": _rate_limit(env, "LOGIN_ACCOUNT_CEILING", "100 per hour"),
        # ...to this many attempts per client address for that account:
        "LOGIN_SLOWED_LIMIT": _rate_limit(env, "LOGIN_SLOWED_LIMIT", "1 per 15 minutes"),
        "LOGIN_DEVICE_COOKIE_DAYS": _int(env, "LOGIN_DEVICE_COOKIE_DAYS", 365, minimum=1),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "CACHE_TYPE": "RedisCache" if redis_url else "SimpleCache",
        "CACHE_REDIS_URL": redis_url,
        "CACHE_DEFAULT_TIMEOUT": 300,
        "CACHE_KEY_PREFIX": "hisabpro:",
        "INVOICES_PER_PAGE": _int(env, "INVOICES_PER_PAGE", 25, minimum=1),
        # The invoice form's defaults until merchant settings exist (issue 9).
        "INVOICE_DEFAULT_CURRENCY": (env.get("INVOICE_DEFAULT_CURRENCY") or "INR").strip().upper(),
        "INVOICE_PAYMENT_TERMS_DAYS": _int(env, "INVOICE_PAYMENT_TERMS_DAYS", 14),
        # Gateways. Kept here so `payments check` and later issues read one place.
        "RAZORPAY_KEY_ID": env.get("RAZORPAY_KEY_ID"),
        "RAZORPAY_KEY_SECRET": env.get("RAZORPAY_KEY_SECRET"),
        "RAZORPAY_WEBHOOK_SECRET": env.get("RAZORPAY_WEBHOOK_SECRET"),
        "RAZORPAY_API_BASE": env.get("RAZORPAY_API_BASE") or "https://api.razorpay.com",
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY"),
        "STRIPE_PUBLISHABLE_KEY": env.get("STRIPE_PUBLISHABLE_KEY"),
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET"),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or "https://api.stripe.com",
        "PAYPAL_CLIENT_ID": env.get("PAYPAL_CLIENT_ID"),
        "PAYPAL_CLIENT_SECRET": env.get("PAYPAL_CLIENT_SECRET"),
        "PAYPAL_WEBHOOK_ID": env.get("PAYPAL_WEBHOOK_ID"),
        "PAYPAL_MODE": env.get("PAYPAL_MODE") or "sandbox",
        # Where a PayPal webhook's signing certificate may be fetched from (comma-separated URL prefixes).
        "PAYPAL_CERT_URL_PREFIXES": tuple(p.strip() for p in (env.get("PAYPAL_CERT_URL_PREFIXES") or
            "https://api.paypal.com/,https://api-m.paypal.com/,"
            "https://api.sandbox.paypal.com/,https://api-m.sandbox.paypal.com/").split(",") if p.strip()),
        "WEBHOOK_MAX_BYTES": _int(env, "WEBHOOK_MAX_BYTES", 256 * 1024, minimum=1024),
        # Deliveries that fail verification, per client address: past this, 429 and nothing stored.
        "WEBHOOK_REJECTED_LIMIT": _rate(env, "WEBHOOK_REJECTED_LIMIT", "30 per minute"),
        # Deliveries older than this are deleted, except unapplied and unresolved mismatched ones.
        "WEBHOOK_RETENTION_DAYS": _int(env, "WEBHOOK_RETENTION_DAYS", 90, minimum=1),
        "WEBHOOK_PRUNE_INTERVAL_SECONDS": _int(env, "WEBHOOK_PRUNE_INTERVAL_SECONDS", 3600),
        # Needs attention: a gateway with links open this long and no verified webhook in that time.
        "WEBHOOK_SILENCE_HOURS": _int(env, "WEBHOOK_SILENCE_HOURS", 24, minimum=1),
        # Needs attention: this many deliveries from one gateway failing verification within an hour.
        "WEBHOOK_REJECTED_BURST": _int(env, "WEBHOOK_REJECTED_BURST", 20, minimum=1),
        "STRIPE_WEBHOOK_TOLERANCE_SECONDS": _int(env, "STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1),
        # Seconds a PayPal webhook's signed PAYPAL-TRANSMISSION-TIME may be from now, either way (as Stripe's).
        "PAYPAL_WEBHOOK_TOLERANCE_SECONDS": _int(env, "PAYPAL_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1),
        "PAYPAL_API_BASE": env.get("PAYPAL_API_BASE")
        or (
            "https://api-m.paypal.com"
            if env.get("PAYPAL_MODE") == "live"
            else "https://api-m.sandbox.paypal.com"
        ),
        "PAYMENT_LINK_CACHE_SECONDS": _int(env, "PAYMENT_LINK_CACHE_SECONDS", 300),
        "PAYMENT_RETRY_ATTEMPTS": _int(env, "PAYMENT_RETRY_ATTEMPTS", 3, minimum=1),
        # Defaults keep one click under 10 s with every gateway hanging: each gateway gets at most
        # PAYMENT_GATEWAY_BUDGET_SECONDS, the whole click at most PAYMENT_CLICK_DEADLINE_SECONDS.
        "PAYMENT_RETRY_BASE_DELAY": _seconds(env, "PAYMENT_RETRY_BASE_DELAY", "0.1"),
        "GATEWAY_TIMEOUT_SECONDS": _seconds(env, "GATEWAY_TIMEOUT_SECONDS", "2"),
        "PAYMENT_GATEWAY_BUDGET_SECONDS": _seconds(env, "PAYMENT_GATEWAY_BUDGET_SECONDS", "3"),
        "PAYMENT_CLICK_DEADLINE_SECONDS": _seconds(env, "PAYMENT_CLICK_DEADLINE_SECONDS", "9"),
        "PAYMENT_LINK_TTL_SECONDS": _int(env, "PAYMENT_LINK_TTL_SECONDS", 24 * 3600, minimum=30 * 60),
        # A breaker opens when BREAKER_FAILURE_RATE % of at least BREAKER_MIN_CALLS calls in the last
        # BREAKER_WINDOW_SECONDS failed (portal/payments/breaker.py).
        "BREAKER_WINDOW_SECONDS": _int(env, "BREAKER_WINDOW_SECONDS", 30, minimum=1),
        "BREAKER_MIN_CALLS": _int(env, "BREAKER_MIN_CALLS", 40, minimum=1),
        "BREAKER_FAILURE_RATE": _percent(env, "BREAKER_FAILURE_RATE", 50),
        "BREAKER_COOLDOWN_SECONDS": _seconds(env, "BREAKER_COOLDOWN_SECONDS", "30"),
        # A gateway whose successful calls take this long at the median is "Slow" (portal/payments/health.py).
        "GATEWAY_SLOW_MS": _int(env, "GATEWAY_SLOW_MS", 2000, minimum=1),
    }
