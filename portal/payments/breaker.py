"""A circuit breaker per gateway: stop calling a gateway that keeps failing, probe it after a cool-down.

closed --(N consecutive transient failures)--> open --(cool-down)--> half_open --(probe ok)--> closed
                                                  ^------------------(probe fails)--------------'

State lives in Redis when REDIS_URL is set, so every worker sees the same breaker; otherwise in this
process. Admins can force a breaker open or closed; that choice is stored in the database
(GatewaySetting.forced_breaker) and applied by the router, above this class.
"""
from __future__ import annotations

import threading
import time

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class MemoryBreakerStore:
    def __init__(self):
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._opened_at: dict[str, float] = {}
        self._probe_until: dict[str, float] = {}

    def snapshot(self, name: str) -> tuple[int, float | None]:
        with self._lock:
            return self._failures.get(name, 0), self._opened_at.get(name)

    def claim_probe(self, name: str, now: float, hold: float) -> bool:
        with self._lock:
            if self._probe_until.get(name, 0) > now:
                return False
            self._probe_until[name] = now + hold
            return True

    def add_failure(self, name: str) -> int:
        with self._lock:
            self._failures[name] = self._failures.get(name, 0) + 1
            return self._failures[name]

    def open(self, name: str, now: float) -> None:
        with self._lock:
            self._opened_at[name] = now
            self._probe_until.pop(name, None)

    def reset(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)
            self._opened_at.pop(name, None)
            self._probe_until.pop(name, None)


class RedisBreakerStore:
    """The same operations on Redis keys `hisabpro:breaker:<gateway>:*`."""

    def __init__(self, redis_client, prefix: str = "hisabpro:breaker:"):
        self.redis, self.prefix = redis_client, prefix

    def _key(self, name: str, part: str) -> str:
        return f"{self.prefix}{name}:{part}"

    def snapshot(self, name: str) -> tuple[int, float | None]:
        failures, opened_at = self.redis.mget(self._key(name, "failures"), self._key(name, "opened_at"))
        return int(failures or 0), (float(opened_at) if opened_at is not None else None)

    def claim_probe(self, name: str, now: float, hold: float) -> bool:
        return bool(self.redis.set(self._key(name, "probe"), "1", nx=True, px=max(1, int(hold * 1000))))

    def add_failure(self, name: str) -> int:
        return int(self.redis.incr(self._key(name, "failures")))

    def open(self, name: str, now: float) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self._key(name, "opened_at"), repr(now))
        pipe.delete(self._key(name, "probe"))
        pipe.execute()

    def reset(self, name: str) -> None:
        self.redis.delete(*(self._key(name, p) for p in ("failures", "opened_at", "probe")))


class CircuitBreaker:
    def __init__(self, store, failure_threshold: int = 5, cooldown: float = 30.0, clock=time.time):
        self.store, self.failure_threshold, self.cooldown, self.clock = store, failure_threshold, cooldown, clock

    def state(self, name: str) -> str:
        _, opened_at = self.store.snapshot(name)
        if opened_at is None:
            return CLOSED
        return OPEN if self.clock() < opened_at + self.cooldown else HALF_OPEN

    def allow(self, name: str) -> bool:
        """May a call go to this gateway now? In half-open, only one caller gets the probe."""
        state = self.state(name)
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        return self.store.claim_probe(name, self.clock(), self.cooldown)

    def record_success(self, name: str) -> None:
        failures, opened_at = self.store.snapshot(name)
        if failures or opened_at is not None:
            self.store.reset(name)

    def record_failure(self, name: str) -> None:
        if self.state(name) == HALF_OPEN:
            self.store.open(name, self.clock())  # the probe failed: another full cool-down
            return
        if self.store.add_failure(name) >= self.failure_threshold and self.state(name) == CLOSED:
            self.store.open(name, self.clock())

    def reset(self, name: str) -> None:
        self.store.reset(name)
