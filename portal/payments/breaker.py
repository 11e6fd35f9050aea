"""A circuit breaker per gateway, on failure rate: stop calling a gateway while most of its calls fail,
probe it after a cool-down.

closed --(≥ min_calls calls in the last `window` s, ≥ failure_rate % of them failed)--> open
open --(cool-down)--> half_open --(the one probe succeeds: the window is cleared)--> closed
                          '------(the probe fails)--> open again, for another cool-down

A rate, not a run of failures: a gateway failing 30 % of calls at random keeps taking payments (its
failures are retried or fall over), while a real outage fills the window with failures and opens it within
seconds. Only transient failures count as failures (the engine decides what it records); every answer
counts as a call. Calls counted while it is open change nothing; the first answer after the cool-down
decides, and only one caller across all workers is let through to give it.

State lives in Redis when REDIS_URL is set, so every worker sees the same breaker: per gateway the time it
opened, the probe's claim, and one small hash of call and failure counts per second, expiring on its own.
Each operation is one round trip (a Lua script where it reads and writes). Without Redis, the same rule in
this process. Admins can force a breaker open or closed; that choice is stored in the database
(GatewaySetting.forced_breaker) and applied by the router, above this class.

Not pybreaker: it opens on consecutive failures (fail_max), the rule this replaces.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class Rule:
    window: int = 30           # seconds of calls the rate is taken over
    min_calls: int = 40        # fewer calls than this in the window never open it (20 opened by chance)
    failure_rate: int = 50     # percent of those calls failing that opens it
    cooldown: float = 30.0     # seconds open before one probe may go through

    @classmethod
    def from_config(cls, config: Mapping) -> "Rule":
        return cls(window=int(config["BREAKER_WINDOW_SECONDS"]), min_calls=int(config["BREAKER_MIN_CALLS"]),
                   failure_rate=int(config["BREAKER_FAILURE_RATE"]),
                   cooldown=float(Decimal(config["BREAKER_COOLDOWN_SECONDS"])))

    def trips(self, calls: int, failures: int) -> bool:
        return calls >= self.min_calls and failures * 100 >= self.failure_rate * calls


def state_at(opened_at: float | None, now: float, cooldown: float) -> str:
    if opened_at is None:
        return CLOSED
    return OPEN if now < opened_at + cooldown else HALF_OPEN


class MemoryBreakerStore:
    """The rule in this process: one lock, per gateway the time it opened, the probe's claim and counts per second."""

    def __init__(self):
        self._lock = threading.Lock()
        self._opened_at: dict[str, float] = {}
        self._probe_until: dict[str, float] = {}
        self._seconds: dict[str, dict[int, list[int]]] = {}   # gateway -> second -> [calls, failures]

    def opened_at(self, names: Iterable[str]) -> dict[str, float | None]:
        with self._lock:
            return {name: self._opened_at.get(name) for name in names}

    def claim_probe(self, name: str, now: float, rule: Rule) -> bool:
        with self._lock:
            opened = self._opened_at.get(name)
            if state_at(opened, now, rule.cooldown) != HALF_OPEN:
                return opened is None
            if self._probe_until.get(name, 0) > now:
                return False
            self._probe_until[name] = now + rule.cooldown
            return True

    def record(self, name: str, failed: bool, now: float, rule: Rule) -> None:
        with self._lock:
            opened = self._opened_at.get(name)
            if state_at(opened, now, rule.cooldown) == HALF_OPEN:
                self._seconds.pop(name, None)
                self._probe_until.pop(name, None)
                if failed:
                    self._opened_at[name] = now     # the probe failed: another full cool-down
                else:
                    self._opened_at.pop(name)       # it answered: closed, with a clean window
                return
            second = math.floor(now)
            seconds = self._seconds.setdefault(name, {})
            for old in [s for s in seconds if s <= second - rule.window]:
                del seconds[old]
            counts = seconds.setdefault(second, [0, 0])
            counts[0] += 1
            counts[1] += failed
            if opened is None and failed:
                calls, failures = (sum(column) for column in zip(*seconds.values()))
                if rule.trips(calls, failures):
                    self._opened_at[name] = now

    def reset(self, name: str, now: float, rule: Rule) -> None:
        with self._lock:
            self._opened_at.pop(name, None)
            self._probe_until.pop(name, None)
            self._seconds.pop(name, None)


# KEYS: opened_at, probe. ARGV: per-second key prefix, now, failed (0/1), window, min_calls, rate, cooldown.
_RECORD = """
local opened = redis.call('GET', KEYS[1])
local now, failed, window = tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local second = math.floor(now)
if opened and now >= tonumber(opened) + tonumber(ARGV[7]) then
  for s = second - window, second do redis.call('DEL', ARGV[1] .. s) end
  redis.call('DEL', KEYS[2])
  if failed then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
  return
end
local bucket = ARGV[1] .. second
redis.call('HINCRBY', bucket, 'c', 1)
if failed then redis.call('HINCRBY', bucket, 'f', 1) end
redis.call('EXPIRE', bucket, window + 1)
if opened or not failed then return end
local calls, failures = 0, 0
for s = second - window + 1, second do
  local c = redis.call('HMGET', ARGV[1] .. s, 'c', 'f')
  calls, failures = calls + (tonumber(c[1]) or 0), failures + (tonumber(c[2]) or 0)
end
if calls >= tonumber(ARGV[5]) and failures * 100 >= tonumber(ARGV[6]) * calls then
  redis.call('SET', KEYS[1], ARGV[2])
end
"""

# KEYS: opened_at, probe. ARGV: now, cooldown. 1 when the caller may call: closed, or it took the probe.
_ALLOW = """
local opened = redis.call('GET', KEYS[1])
if not opened then return 1 end
if tonumber(ARGV[1]) < tonumber(opened) + tonumber(ARGV[2]) then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', math.max(1, math.floor(tonumber(ARGV[2]) * 1000))) then return 1 end
return 0
"""


class RedisBreakerStore:
    """The same rule on Redis keys `hisabpro:breaker:<gateway>:*`, shared by every worker and instance."""

    def __init__(self, redis_client, prefix: str = "hisabpro:breaker:"):
        self.redis, self.prefix = redis_client, prefix
        self._record = redis_client.register_script(_RECORD)
        self._allow = redis_client.register_script(_ALLOW)

    def _key(self, name: str, part: str) -> str:
        return f"{self.prefix}{name}:{part}"

    def opened_at(self, names: Iterable[str]) -> dict[str, float | None]:
        names = list(names)
        values = self.redis.mget([self._key(name, "opened_at") for name in names]) if names else []
        return {name: float(value) if value is not None else None for name, value in zip(names, values)}

    def claim_probe(self, name: str, now: float, rule: Rule) -> bool:
        return bool(self._allow(keys=[self._key(name, "opened_at"), self._key(name, "probe")],
                                args=[repr(now), repr(rule.cooldown)]))

    def record(self, name: str, failed: bool, now: float, rule: Rule) -> None:
        self._record(keys=[self._key(name, "opened_at"), self._key(name, "probe")],
                     args=[self._key(name, "s:"), repr(now), int(failed), rule.window, rule.min_calls,
                           rule.failure_rate, repr(rule.cooldown)])

    def reset(self, name: str, now: float, rule: Rule) -> None:
        second = math.floor(now)
        self.redis.delete(self._key(name, "opened_at"), self._key(name, "probe"),
                          *(self._key(name, f"s:{s}") for s in range(second - rule.window, second + 1)))


class CircuitBreaker:
    def __init__(self, store, rule: Rule = Rule(), clock=time.time):
        self.store, self.rule, self.clock = store, rule, clock

    @property
    def cooldown(self) -> float:
        return self.rule.cooldown

    @cooldown.setter
    def cooldown(self, seconds: float) -> None:  # tests and drills shorten the wait
        self.rule = Rule(self.rule.window, self.rule.min_calls, self.rule.failure_rate, seconds)

    def opened_at(self, name: str) -> float | None:
        return self.store.opened_at([name])[name]

    def state(self, name: str) -> str:
        return self.states([name])[name]

    def states(self, names: Iterable[str]) -> dict[str, str]:
        """Every named gateway's state from one read (one Redis round trip)."""
        now = self.clock()
        return {name: state_at(opened, now, self.rule.cooldown)
                for name, opened in self.store.opened_at(names).items()}

    def allow(self, name: str) -> bool:
        """May a call go to this gateway now? In half-open, only one caller across workers gets the probe."""
        return self.store.claim_probe(name, self.clock(), self.rule)

    def record_success(self, name: str) -> None:
        self.store.record(name, False, self.clock(), self.rule)

    def record_failure(self, name: str) -> None:
        self.store.record(name, True, self.clock(), self.rule)

    def reset(self, name: str) -> None:
        self.store.reset(name, self.clock(), self.rule)
