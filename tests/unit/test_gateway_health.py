"""The one definition of a gateway's state (portal/payments/health.py): facts in, a sentence out."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from portal.payments.health import GatewayFacts, decide, decide_all, where_payments_go

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=timezone.utc)       # 15:00 in Kolkata
KOLKATA = ZoneInfo("Asia/Kolkata")
ROUTES = {"INR": ["razorpay", "stripe"], "USD": ["stripe", "paypal", "razorpay"],
          "*": ["stripe", "paypal", "razorpay"]}
INR_ETC = frozenset({"INR", "USD", "EUR"})


def facts(**changes):
    base = {
        "razorpay": GatewayFacts("razorpay", "Razorpay", INR_ETC),
        "stripe": GatewayFacts("stripe", "Stripe", frozenset({"INR", "USD", "EUR", "JPY"})),
        "paypal": GatewayFacts("paypal", "PayPal", frozenset({"USD", "EUR", "JPY"})),
    }
    for name, change in changes.items():
        base[name] = GatewayFacts(**{**base[name].__dict__, **change})
    return base


def sentences(all_facts, slow_ms=2000, zone=KOLKATA, routes=ROUTES):
    return {name: h.sentence for name, h in decide_all(all_facts, routes, slow_ms=slow_ms, zone=zone,
                                                         now=NOW).items()}


def test_working_when_nothing_is_wrong():
    assert sentences(facts()) == {"razorpay": "Working", "stripe": "Working", "paypal": "Working"}


def test_not_configured_names_exactly_the_missing_variables():
    said = sentences(facts(razorpay={"missing_config": ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET")},
                           paypal={"missing_config": ("PAYPAL_CLIENT_SECRET",)}))
    assert said["razorpay"] == "Not configured: set RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET"
    assert said["paypal"] == "Not configured: set PAYPAL_CLIENT_SECRET"


def test_down_says_since_when_in_the_merchant_zone_how_many_failures_and_where_payments_go():
    down = {"breaker": "open", "down_since": datetime(2026, 12, 2, 5, 12, tzinfo=timezone.utc), "failed_calls": 12}
    said = sentences(facts(razorpay=down))
    assert said["razorpay"] == "Down since 10:42 (12 failed calls); INR payments go through Stripe"
    said = sentences(facts(stripe={**down, "failed_calls": 1}))
    # INR goes to Razorpay first anyway: only the payments that would have reached Stripe are mentioned.
    assert said["stripe"] == "Down since 10:42 (1 failed call); payments in USD and other currencies go through PayPal"


def test_down_on_an_earlier_day_shows_the_date():
    down = {"breaker": "open", "down_since": datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc), "failed_calls": 5}
    assert sentences(facts(razorpay=down))["razorpay"].startswith("Down since 1 Dec 04:30 (5 failed calls)")


def test_down_when_nothing_can_take_its_payments():
    said = sentences(facts(razorpay={"breaker": "open", "failed_calls": 5},
                           stripe={"enabled": False}))
    assert said["razorpay"] == "Down (5 failed calls); nothing can take INR payments"


def test_a_stand_in_that_is_down_or_unconfigured_is_skipped_but_a_recovering_one_is_not():
    all_facts = facts(stripe={"breaker": "open"}, paypal={"missing_config": ("PAYPAL_CLIENT_ID",)})
    assert where_payments_go("stripe", all_facts, ROUTES) == [("USD", "Razorpay"), ("*", "Razorpay")]
    all_facts = facts(stripe={"breaker": "open"}, paypal={"breaker": "half_open"})
    assert where_payments_go("stripe", all_facts, ROUTES) == [("USD", "PayPal"), ("*", "PayPal")]


def test_switched_off_outranks_down_and_says_where_payments_go():
    said = sentences(facts(razorpay={"enabled": False, "breaker": "open", "failed_calls": 3}))
    assert said["razorpay"] == "Switched off by an admin; INR payments go through Stripe"


def test_an_admin_holding_the_breaker_open_is_said_so():
    said = sentences(facts(paypal={"breaker": "open", "breaker_forced": "open",
                                   "down_since": datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)}))
    # Stripe comes first wherever PayPal is listed, so no payment was going to PayPal: nothing moves.
    assert said["paypal"] == "Down since 14:30 (held down by an admin)"


def test_recovering_while_half_open():
    assert sentences(facts(stripe={"breaker": "half_open"}))["stripe"] == "Recovering: the next payment tests it"


def test_only_the_payments_that_would_have_reached_it_are_mentioned():
    # Razorpay is last for USD and every other currency: only its INR payments move when it is down.
    said = sentences(facts(razorpay={"breaker": "open"}))
    assert said["razorpay"] == "Down; INR payments go through Stripe"
    # With both down, INR has nowhere to go, whichever of the two is read.
    said = sentences(facts(razorpay={"breaker": "open"}, stripe={"breaker": "open"}))
    assert said["razorpay"] == "Down; nothing can take INR payments"
    assert said["stripe"] == "Down; nothing can take INR payments; payments in USD and other currencies go through PayPal"


def test_slow_needs_enough_calls_and_a_median_at_the_threshold():
    assert sentences(facts(stripe={"recent_median_ms": 2400, "recent_successes": 5}))["stripe"] == \
        "Slow: answers in 2.4 s"
    assert sentences(facts(stripe={"recent_median_ms": 2000, "recent_successes": 3}))["stripe"] == \
        "Slow: answers in 2.0 s"
    assert sentences(facts(stripe={"recent_median_ms": 1999, "recent_successes": 9}))["stripe"] == "Working"
    assert sentences(facts(stripe={"recent_median_ms": 9000, "recent_successes": 2}))["stripe"] == "Working"
    assert sentences(facts(stripe={"recent_median_ms": 600, "recent_successes": 3}), slow_ms=500)["stripe"] == \
        "Slow: answers in 0.6 s"


def test_down_outranks_slow_and_recovering_outranks_slow():
    slow = {"recent_median_ms": 5000, "recent_successes": 10}
    assert sentences(facts(stripe={**slow, "breaker": "open"}))["stripe"].startswith("Down")
    assert sentences(facts(stripe={**slow, "breaker": "half_open"}))["stripe"].startswith("Recovering")


def test_states_are_named_constants_and_down_carries_its_start():
    since = datetime(2026, 12, 2, 5, 12, tzinfo=timezone.utc)
    f = facts(razorpay={"breaker": "open", "down_since": since})
    result = decide(f["razorpay"], where_payments_go("razorpay", f, ROUTES), slow_ms=2000, zone=KOLKATA, now=NOW)
    assert (result.state, result.since, result.ok) == ("down", since, False)
