"""The circuit breaker's states, in one process and shared between workers through Redis."""
import uuid

import pytest
import redis

from portal.payments.breaker import CircuitBreaker, MemoryBreakerStore, RedisBreakerStore


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(params=["memory", "redis"])
def make_breaker(request):
    clock = Clock()
    if request.param == "memory":
        store = MemoryBreakerStore()
        yield lambda: CircuitBreaker(store, failure_threshold=3, cooldown=30, clock=clock), clock
        return
    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    prefix = f"hisabpro-test:{uuid.uuid4().hex}:"
    yield lambda: CircuitBreaker(RedisBreakerStore(client, prefix), failure_threshold=3, cooldown=30,
                                 clock=clock), clock
    keys = client.keys(prefix + "*")
    if keys:
        client.delete(*keys)


def test_opens_after_consecutive_failures_and_a_success_resets_the_count(make_breaker):
    factory, _ = make_breaker
    breaker = factory()
    breaker.record_failure("stripe")
    breaker.record_failure("stripe")
    breaker.record_success("stripe")
    breaker.record_failure("stripe")
    breaker.record_failure("stripe")
    assert breaker.state("stripe") == "closed" and breaker.allow("stripe")
    breaker.record_failure("stripe")
    assert breaker.state("stripe") == "open" and not breaker.allow("stripe")
    assert breaker.state("razorpay") == "closed"  # one gateway's outage is its own


def test_half_open_lets_exactly_one_probe_through(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    for _ in range(3):
        breaker.record_failure("paypal")
    clock.now += 31
    assert breaker.state("paypal") == "half_open"
    assert breaker.allow("paypal") is True
    assert breaker.allow("paypal") is False  # a second caller waits for the probe's result
    breaker.record_success("paypal")
    assert breaker.state("paypal") == "closed" and breaker.allow("paypal")


def test_a_failed_probe_opens_it_for_another_cool_down(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    for _ in range(3):
        breaker.record_failure("paypal")
    clock.now += 31
    assert breaker.allow("paypal")
    breaker.record_failure("paypal")
    assert breaker.state("paypal") == "open"
    clock.now += 29
    assert breaker.state("paypal") == "open"
    clock.now += 2
    assert breaker.state("paypal") == "half_open"


def test_workers_sharing_redis_see_one_breaker():
    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    prefix = f"hisabpro-test:{uuid.uuid4().hex}:"
    clock = Clock()
    worker_a = CircuitBreaker(RedisBreakerStore(client, prefix), failure_threshold=3, cooldown=30, clock=clock)
    worker_b = CircuitBreaker(RedisBreakerStore(client, prefix), failure_threshold=3, cooldown=30, clock=clock)
    worker_a.record_failure("stripe")
    worker_b.record_failure("stripe")
    worker_a.record_failure("stripe")
    assert worker_b.state("stripe") == "open"
    clock.now += 31
    assert worker_a.allow("stripe") is True
    assert worker_b.allow("stripe") is False  # the probe is taken once across workers
    worker_a.record_success("stripe")
    assert worker_b.state("stripe") == "closed"
    client.delete(*client.keys(prefix + "*") or ["_"])
