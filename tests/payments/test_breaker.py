"""The circuit breaker's rule (failure rate over a window, cool-down, one probe), in one process and shared
between workers through Redis; and an admin's forced state winning over it."""
import random
import uuid

import pytest
import redis

from portal.config import ConfigError, load_config
from portal.payments import routing
from portal.payments.breaker import CircuitBreaker, MemoryBreakerStore, RedisBreakerStore, Rule

RULE = Rule(window=30, min_calls=20, failure_rate=50, cooldown=30)


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def redis_prefix():
    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    prefix = f"hisabpro-test:{uuid.uuid4().hex}:"
    yield client, prefix
    keys = client.keys(prefix + "*")
    if keys:
        client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def make_breaker(request, redis_prefix):
    """A factory of breakers sharing one store (one process, or workers sharing Redis) and one clock."""
    clock = Clock()
    client, prefix = redis_prefix
    store = MemoryBreakerStore() if request.param == "memory" else None
    if store is not None:
        return lambda: CircuitBreaker(store, RULE, clock=clock), clock
    return lambda: CircuitBreaker(RedisBreakerStore(client, prefix), RULE, clock=clock), clock


def calls(breaker, name, clock, outcomes, per_second=4):
    """Feed the breaker answers, `per_second` of them each second; True is a failure."""
    for i, failed in enumerate(outcomes):
        if i and i % per_second == 0:
            clock.now += 1
        if breaker.allow(name):
            (breaker.record_failure if failed else breaker.record_success)(name)


def test_random_partial_failure_keeps_the_gateway_in_rotation(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    dice = random.Random(11)
    calls(breaker, "stripe", clock, [dice.random() < 0.3 for _ in range(2000)])
    assert breaker.state("stripe") == "closed" and breaker.allow("stripe")


def test_an_outage_opens_it_once_the_window_holds_enough_calls(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    calls(breaker, "stripe", clock, [False] * 40)            # ten seconds of good service
    calls(breaker, "stripe", clock, [True] * 19, per_second=19)
    assert breaker.state("stripe") == "closed"                # 19 of 59 calls failed: under half
    clock.now += 1
    calls(breaker, "stripe", clock, [True] * 21, per_second=21)
    assert breaker.state("stripe") == "open" and not breaker.allow("stripe")
    assert breaker.state("razorpay") == "closed"              # one gateway's outage is its own


def test_fewer_calls_than_the_minimum_never_open_it(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    calls(breaker, "paypal", clock, [True] * 19, per_second=1)
    assert breaker.state("paypal") == "closed"


def test_old_calls_leave_the_window(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    calls(breaker, "paypal", clock, [True] * 15, per_second=15)
    clock.now += 31                                          # those fifteen failures are out of the window
    calls(breaker, "paypal", clock, [True] * 15, per_second=15)
    assert breaker.state("paypal") == "closed"


def open_it(breaker, name, clock):
    calls(breaker, name, clock, [True] * RULE.min_calls, per_second=RULE.min_calls)
    assert breaker.state(name) == "open"


def test_half_open_lets_one_probe_through_and_its_success_closes_with_a_clean_window(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    open_it(breaker, "paypal", clock)
    clock.now += 31
    assert breaker.state("paypal") == "half_open"
    assert breaker.allow("paypal") is True
    assert breaker.allow("paypal") is False                   # a second caller waits for the probe's result
    breaker.record_success("paypal")
    assert breaker.state("paypal") == "closed" and breaker.allow("paypal")
    breaker.record_failure("paypal")                          # the old failures are gone: one is not an outage
    assert breaker.state("paypal") == "closed"


def test_a_failed_probe_opens_it_for_another_cool_down(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    open_it(breaker, "paypal", clock)
    clock.now += 31
    assert breaker.allow("paypal")
    breaker.record_failure("paypal")
    assert breaker.state("paypal") == "open"
    clock.now += 29
    assert breaker.state("paypal") == "open"
    clock.now += 2
    assert breaker.state("paypal") == "half_open" and breaker.allow("paypal")


def test_answers_while_open_change_nothing_until_the_cool_down_ends(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    open_it(breaker, "stripe", clock)
    breaker.record_success("stripe")                          # a call that left before it opened
    assert breaker.state("stripe") == "open"


def test_states_reads_every_gateway_at_once_and_reset_closes(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    open_it(breaker, "stripe", clock)
    assert breaker.states(["stripe", "paypal", "razorpay"]) == {"stripe": "open", "paypal": "closed",
                                                                "razorpay": "closed"}
    breaker.reset("stripe")
    assert breaker.state("stripe") == "closed"
    breaker.record_failure("stripe")
    assert breaker.state("stripe") == "closed"                # reset cleared the window too


def test_two_breakers_sharing_a_store_see_one_state_and_one_probe(make_breaker):
    """Two gunicorn workers (Redis) or two threads (memory): the outage each half saw adds up, and the
    half-open probe is claimed by exactly one of them."""
    factory, clock = make_breaker
    worker_a, worker_b = factory(), factory()
    for i in range(RULE.min_calls):
        (worker_a if i % 2 else worker_b).record_failure("stripe")
    assert worker_a.state("stripe") == worker_b.state("stripe") == "open"
    clock.now += 31
    claims = [worker_a.allow("stripe"), worker_b.allow("stripe"), worker_a.allow("stripe")]
    assert claims.count(True) == 1
    worker_b.record_success("stripe")
    assert worker_a.state("stripe") == "closed"


def test_the_redis_store_reads_every_state_in_one_round_trip(redis_prefix):
    client, prefix = redis_prefix
    sent = []

    class Counting(redis.Redis):
        def execute_command(self, *args, **options):
            sent.append(args[0])
            return super().execute_command(*args, **options)

    counting = Counting.from_url("redis://127.0.0.1:6379/15")
    breaker = CircuitBreaker(RedisBreakerStore(counting, prefix), RULE)
    breaker.record_failure("stripe")  # loads the scripts
    sent.clear()
    breaker.states(["stripe", "paypal", "razorpay"])
    assert len(sent) == 1
    sent.clear()
    assert breaker.allow("stripe")
    assert len(sent) == 1
    sent.clear()
    breaker.record_failure("stripe")
    breaker.record_success("stripe")
    assert len(sent) == 2


class Setting:
    def __init__(self, forced_breaker):
        self.forced_breaker = forced_breaker


def test_an_admins_forced_state_wins_over_the_breaker(make_breaker):
    factory, clock = make_breaker
    breaker = factory()
    open_it(breaker, "stripe", clock)
    held_up = {"stripe": Setting("closed")}
    assert routing.breaker_state("stripe", breaker, held_up) == "closed"
    assert routing.breaker_admits("stripe", breaker, held_up)
    held_down = {"paypal": Setting("open")}
    assert routing.breaker_states(["stripe", "paypal"], breaker, held_down) == {"stripe": "open", "paypal": "open"}
    assert not routing.breaker_admits("paypal", breaker, held_down)
    assert routing.breaker_states(["stripe", "paypal"], breaker, {**held_up, **held_down}) == {
        "stripe": "closed", "paypal": "open"}


@pytest.mark.parametrize("environ, message", [
    ({"BREAKER_FAILURE_RATE": "150"}, "BREAKER_FAILURE_RATE must be a percentage from 1 to 100"),
    ({"BREAKER_MIN_CALLS": "0"}, "BREAKER_MIN_CALLS must be at least 1"),
    ({"BREAKER_WINDOW_SECONDS": "half a minute"}, "BREAKER_WINDOW_SECONDS must be a whole number"),
])
def test_a_malformed_rule_stops_start_up_with_one_line(tmp_path, environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config(instance_path=tmp_path, environ={"SECRET_KEY": "x", **environ})


def test_the_rule_comes_from_the_configuration(tmp_path):
    config = load_config(instance_path=tmp_path, environ={"SECRET_KEY": "x"})
    assert Rule.from_config(config) == Rule(window=30, min_calls=40, failure_rate=50, cooldown=30.0)
