"""Sign-in throttling on the rate limiter's storage (Redis when REDIS_URL is set, so shared by workers).

Guessing is stopped without letting anyone who knows an address lock its owner out:
- failures are counted per (account, client address): LOGIN_ACCOUNT_LIMIT locks that address only;
- a browser with a device cookie for the account (see devices) is not locked by failures from
  elsewhere; it spends its own budget, LOGIN_DEVICE_LIMIT, past which the cookie is locked and dropped;
- failures for the account from everywhere are counted against LOGIN_ACCOUNT_CEILING; past it, browsers
  without a device cookie get LOGIN_SLOWED_LIMIT attempts per address, and admins are told (audit
  event, Users page);
- every sign-in attempt also counts against LOGIN_IP_LIMIT per address (Flask-Limiter, in routes).
Everything is keyed by the email as typed, whether or not an account exists, so no answer tells
which addresses are registered.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.strategies import MovingWindowRateLimiter

from ..extensions import db, limiter
from ..models import AuditEvent, User
from . import devices

PAIR = "login-failures"              # (email, address)
DEVICE = "login-device-failures"     # device cookie nonce
ACCOUNT = "login-account-failures"   # email, from everywhere
SLOWED = "login-slowed-attempts"     # (email, address) while the account is past its ceiling
CEILING_AUDITED = "login-ceiling-audited"

LOCKED = "locked"
SLOWED_DOWN = "slowed"


@dataclass
class Attempt:
    email: str
    address: str
    device: str | None  # nonce of a valid, unlocked device cookie for this account


def client_network() -> str:
    """The client's address for counting; an IPv6 client counts as its /64, which one host can fill."""
    address = get_remote_address()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _strategy() -> MovingWindowRateLimiter:
    # A moving window: a lock lifts as the oldest failure ages out, not at a clock boundary.
    return MovingWindowRateLimiter(limiter.storage)


def _limit(name: str) -> RateLimitItem:
    return parse(current_app.config[name])


def begin(email: str, user: User | None) -> Attempt:
    nonce = devices.nonce_for(user)
    if nonce is not None and not _strategy().test(_limit("LOGIN_DEVICE_LIMIT"), DEVICE, nonce):
        devices.forget()
        nonce = None
    return Attempt(email=email, address=client_network(), device=nonce)


def refusal(attempt: Attempt) -> str | None:
    """Why this attempt may not even have its password checked (LOCKED, SLOWED_DOWN), or None."""
    if attempt.device is not None:
        return None
    strategy = _strategy()
    if not strategy.test(_limit("LOGIN_ACCOUNT_LIMIT"), PAIR, attempt.email, attempt.address):
        return LOCKED
    if past_ceiling(attempt.email) and not strategy.hit(_limit("LOGIN_SLOWED_LIMIT"), SLOWED,
                                                        attempt.email, attempt.address):
        return SLOWED_DOWN
    return None


def record_failure(attempt: Attempt, user: User | None) -> None:
    strategy = _strategy()
    strategy.hit(_limit("LOGIN_ACCOUNT_LIMIT"), PAIR, attempt.email, attempt.address)
    if attempt.device is not None:
        device_limit = _limit("LOGIN_DEVICE_LIMIT")
        strategy.hit(device_limit, DEVICE, attempt.device)
        if not strategy.test(device_limit, DEVICE, attempt.device):
            devices.forget()
    strategy.hit(_limit("LOGIN_ACCOUNT_CEILING"), ACCOUNT, attempt.email)
    if past_ceiling(attempt.email):
        _audit_ceiling(attempt.email, user)


def record_success(attempt: Attempt, user: User) -> None:
    _strategy().clear(_limit("LOGIN_ACCOUNT_LIMIT"), PAIR, attempt.email, attempt.address)
    devices.remember(user)  # a fresh nonce each time: the old cookie's failures stay with it


def past_ceiling(email: str) -> bool:
    return not _strategy().test(_limit("LOGIN_ACCOUNT_CEILING"), ACCOUNT, email)


def recent_failures(email: str) -> int:
    """Failed sign-ins for this email within the ceiling's window, from everywhere (at most the ceiling)."""
    item = _limit("LOGIN_ACCOUNT_CEILING")
    return item.amount - _strategy().get_window_stats(item, ACCOUNT, email).remaining


def ceiling_window() -> str:
    """The ceiling's window in words: "hour", "30 minutes"."""
    item = _limit("LOGIN_ACCOUNT_CEILING")
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def _audit_ceiling(email: str, user: User | None) -> None:
    # Once per ceiling window and account, not once per failure: the trail must stay readable.
    window = _limit("LOGIN_ACCOUNT_CEILING")
    once = parse(f"1 per {window.multiples} {window.GRANULARITY.name}")
    if not _strategy().hit(once, CEILING_AUDITED, email):
        return
    AuditEvent.record(None, "user.sign_in_ceiling", "user", user.id if user else None,
                      f"{email}: {recent_failures(email)} failed sign-ins in the last {ceiling_window()}; "
                      "browsers that have not signed in to it before are slowed down")
    db.session.commit()
