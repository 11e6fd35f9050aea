"""The admins' gateway settings and routing rules, read once per process and kept until an admin changes them.

A click needs both, and reading two tables on every click cost more than the rest of a reuse click. Every
admin write path calls changed() after its commit: a new version token goes into the shared cache (Redis
when REDIS_URL is set), and each worker and instance reloads when the token it holds differs. A click reads
the token in the same cache round trip as its link lookup (links.cached_link_and_version).

Without Redis the cache belongs to one process, so a change made in another worker could not reach this
one: there a snapshot is trusted for LOCAL_TRUST_SECONDS only.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Mapping

from flask import current_app

from ..extensions import cache, db
from ..models import GatewaySetting, RoutingRule

VERSION_KEY = "gateway-settings-version"
LOCAL_TRUST_SECONDS = 5.0


@dataclass(frozen=True)
class Setting:
    """One gateway's admin choices, detached from any session (GatewaySetting's fields the router reads)."""
    name: str
    enabled: bool
    forced_breaker: str | None


@dataclass(frozen=True)
class Snapshot:
    version: str
    settings: Mapping[str, Setting]
    rules: Mapping[str, list[str]]  # currency -> gateway order; '*' for every other currency
    loaded_at: float = field(default_factory=time.monotonic)


class _Holder:
    def __init__(self):
        self.lock = threading.Lock()
        self.snapshot: Snapshot | None = None


def _holder() -> _Holder:
    return current_app.extensions.setdefault("hisabpro.admin_settings", _Holder())


def current(version: str | None = None, version_known: bool = False) -> Snapshot:
    """The settings and rules to route by. `version`: the token when the caller fetched it already."""
    if not version_known:
        version = cache.get(VERSION_KEY)
    holder = _holder()
    snapshot = holder.snapshot
    shared = bool(current_app.config.get("REDIS_URL"))
    if (snapshot is not None and version is not None and snapshot.version == version
            and (shared or time.monotonic() - snapshot.loaded_at < LOCAL_TRUST_SECONDS)):
        return snapshot
    if version is None:  # never set, or evicted: start one, keeping another worker's if it got there first
        cache.add(VERSION_KEY, secrets.token_hex(8), timeout=0)
        version = cache.get(VERSION_KEY) or ""
    # The token is read before the tables: a change committed meanwhile carries a newer token, so the next
    # click reloads instead of keeping what we read here under the new token.
    snapshot = Snapshot(
        version=version,
        settings={s.name: Setting(s.name, s.enabled, s.forced_breaker)
                  for s in db.session.scalars(db.select(GatewaySetting))},
        rules={r.currency: r.order for r in db.session.scalars(db.select(RoutingRule))},
    )
    with holder.lock:
        holder.snapshot = snapshot
    return snapshot


def changed() -> None:
    """Call after committing a change to gateway settings or routing rules: every process reloads."""
    cache.set(VERSION_KEY, secrets.token_hex(8), timeout=0)
    _holder().snapshot = None
