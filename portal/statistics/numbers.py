"""Payment statistics for a period of merchant days and an optional currency: one function,
`payment_statistics(period, currency)`, whose answer the Statistics page, its CSV and
`GET /api/v1/payments/statistics` all render.

Where the numbers come from
- Every number is a sum over merchant days (the merchant's time zone, merchant_settings().zone) of the
  same per-day aggregates, computed by `aggregate()` from the raw rows: the attempt log (gateway_attempts),
  the click trail (link_clicks), payments, refunds and disputes.
- Finished days are kept in the rollup table statistics_daily by the periodic job `statistics_rollup`
  (portal/jobs.py PERIODIC); the days after the rollup's end, today always among them, are aggregated
  live by the same function. So the rollup only makes a period cheaper, never different.
- Breaker openings are derived from the attempt log, replaying the breaker's own rule call by call, in
  the order the answers came (BREAKER_FAILURE_RATE % of at least BREAKER_MIN_CALLS calls in the last BREAKER_WINDOW_SECONDS failed
  opens it; after BREAKER_COOLDOWN_SECONDS the first answer is the probe's: a failure opens it again, a
  success closes it). Admin resets and forced states leave no trace in the log, so they are not counted;
  calls answered within the same few milliseconds by different workers may reach Redis in another order.
- Latency percentiles come from a histogram: exact to the millisecond below 100 ms, to 10 ms below 1 s,
  to 100 ms below 10 s, to the second above (the value shown is the bottom of its bucket).
- Latency and breaker openings belong to a gateway, not to a currency: asked for one currency, they still
  count every call to the gateway. Every other number follows the currency of the invoice concerned.
- Money back is counted apart from money collected, on the day it left: "refunded" is refunds that succeeded,
  by the day they first did (succeeded_at); "charged_back" is disputes lost, by the day they closed (closed_at);
  "net" is collected - refunded - charged_back per currency, so a refund this month of last month's payment
  lowers this month's net. Both days are written once and are always today when written, so a rolled-up day
  never misses one. A refund that fails after it succeeded (Stripe, rare) keeps its succeeded_at and comes back
  as a negative refund on the day it failed, so live and rolled-up periods agree.
- Links paid: links whose first payment arrived in the period; the average time to pay is measured from
  the link's creation to that first payment. Conversion is links paid over links created in the same
  period, so a short period can show more links paid than created.
"""
from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import and_, case, exists, func, insert, literal, or_, select
from sqlalchemy.orm import aliased

from .. import jobs
from ..extensions import db
from ..merchant import MerchantProfile, merchant_settings
from ..models import (Dispute, GatewayAttempt, Invoice, LinkClick, Payment, PaymentLink, Refund, StatisticsDaily,
                      StatisticsRollup, utcnow)
from ..models import ledger as money_rows
from ..money import Money
from ..payments import registry, routing
from ..payments.base import TRANSIENT_KINDS
from ..payments.breaker import MemoryBreakerStore, Rule
from ..payments.engine import ERROR_WORDS, breaker

MAX_PERIOD_DAYS = 3660          # ten years: longer periods are refused (422)
SETTLE = timedelta(minutes=15)  # a day is rolled up this long after it ends: slow calls have committed by then
ROLLUP_CHUNK_DAYS = 7           # days aggregated per query while catching up
# Metrics kept per day for the daily tables and charts; the others are only summed over the period.
DAILY_METRICS = ("attempts", "successes", "links_created", "links_paid", "collected", "refunded", "charged_back")
# Money metrics, per currency: what arrived, and what went back (a refund, a lost dispute).
MONEY_METRICS = ("collected", "refunded", "charged_back")

# What a failure or a customer's return means, in words a merchant reads (the engine's words for errors).
REASON_WORDS = {
    **ERROR_WORDS,
    "declined": "declined the customer's payment",
    "cancelled": "saw the customer cancel and come back",
}


class PeriodError(ValueError):
    """A period or currency the statistics cannot be asked for (from after to, too long, unknown code)."""


@dataclass(frozen=True)
class Period:
    """Merchant days `first`..`last`, both included; `first` None means from the first recorded day."""

    first: date | None
    last: date

    @classmethod
    def checked(cls, first: date | None, last: date | None, today: date) -> Period:
        last = last or today
        if last > today + timedelta(days=1):
            raise PeriodError(f"'to' ({last.isoformat()}) is in the future; the last day can be today ({today.isoformat()}).")
        if first is not None and first > last:
            raise PeriodError(f"'from' ({first.isoformat()}) is after 'to' ({last.isoformat()}).")
        if first is not None and (last - first).days + 1 > MAX_PERIOD_DAYS:
            raise PeriodError(f"A period can be at most {MAX_PERIOD_DAYS} days long.")
        return cls(first, last)


# ---- aggregating raw rows ---------------------------------------------------------------------------

def _latency_bucket(column):
    return case((column < 100, column), (column < 1000, column // 10 * 10),
                (column < 10000, column // 100 * 100), else_=column // 1000 * 1000)


def _day_index(column, starts):
    return case(*[(column < starts[i + 1], i) for i in range(len(starts) - 1)], else_=len(starts) - 2)


def aggregate(profile: MerchantProfile, days: list[date], rule: Rule) -> list[tuple]:
    """(day, gateway, currency, metric, key, value) for every number of the consecutive merchant `days`,
    straight from the raw rows. The rollup stores exactly these; live days are these too."""
    starts = [profile.start_of(day) for day in days] + [profile.start_of(days[-1] + timedelta(days=1))]
    lo, hi = starts[0], starts[-1]
    out: list[tuple] = []

    def run(stmt, metrics, values: int = 1):
        """Sum the last `values` columns of `stmt` per the others (day index, gateway, currency, extra keys);
        metrics(*extra keys) names each summed column: [(metric, key), ...], None to leave it out."""
        inner = stmt.subquery()
        cols = list(inner.c)
        keys, sums = cols[:-values], cols[-values:]
        for row in db.session.execute(select(*keys, *(func.sum(c) for c in sums)).group_by(*keys)):
            head, totals = row[:-values], row[-values:]
            day, gateway, currency = days[int(head[0])], head[1] or "", head[2] or ""
            for named, total in zip(metrics(*head[3:]), totals):
                if named is not None and total:
                    out.append((day, gateway, currency, named[0], named[1], int(total)))

    one = lambda condition: case((condition, 1), else_=0)  # noqa: E731
    a, inv = GatewayAttempt, Invoice
    creates = and_(a.operation == "create", a.created_at >= lo, a.created_at < hi)
    base = (_day_index(a.created_at, starts).label("d"), a.gateway.label("g"),
            func.coalesce(inv.currency, "").label("c"))
    joined = lambda stmt: stmt.select_from(a).outerjoin(inv, inv.id == a.invoice_id)  # noqa: E731
    success, retry = a.outcome == "success", a.attempt > 1
    run(joined(select(*base, literal(1).label("n"), one(success).label("ok"), one(retry).label("r"),
                      one(and_(retry, success)).label("rok"))).where(creates),
        lambda: [("attempts", ""), ("successes", ""), ("retries", ""), ("retry_successes", "")], values=4)
    # Latency is the gateway's, whatever the currency (stored under currency ''): one histogram per gateway-day.
    run(select(base[0], base[1], literal("").label("c"), _latency_bucket(a.duration_ms).label("k"),
               literal(1).label("n")).where(creates, success), lambda k: [("latency", str(int(k)))])
    run(joined(select(*base, func.coalesce(a.error_kind, "").label("kind"), func.coalesce(a.error_code, "").label("code"),
                      literal(1).label("n"))).where(creates, a.outcome == "failure"),
        lambda kind, code: [("failure", f"{kind}:{code}"[:100])])

    click = LinkClick
    click_base = (_day_index(click.created_at, starts).label("d"), func.coalesce(click.gateway, "").label("g"),
                  inv.currency.label("c"))
    in_range = and_(click.created_at >= lo, click.created_at < hi)
    click_metrics = {"created": "links_created", "reused": "cache_hits", "failed": "links_failed",
                     "declined": "customer_declined", "cancelled": "customer_cancelled"}
    run(select(*click_base, click.outcome.label("o"), literal(1).label("n"),
               one(and_(click.outcome == "created", click.fallback.is_(True))).label("f"))
        .select_from(click).join(inv, inv.id == click.invoice_id)
        .where(in_range, click.outcome.in_(tuple(click_metrics))),
        lambda outcome: [(click_metrics[outcome], ""), ("fallback_received", "")], values=2)
    # A gateway gave a click away when it failed there and the click got its link from another gateway.
    given = (select(_day_index(click.created_at, starts).label("d"), a.gateway.label("g"), inv.currency.label("c"),
                    click.id.label("click")).distinct()
             .select_from(click).join(inv, inv.id == click.invoice_id).join(a, a.click_id == click.id)
             .where(in_range, click.outcome == "created", click.fallback.is_(True), a.gateway != click.gateway,
                    a.operation == "create", a.outcome == "failure")).subquery()
    run(select(given.c.d, given.c.g, given.c.c, literal(1).label("n")).select_from(given),
        lambda: [("fallback_given", "")])

    p = Payment
    paid = and_(p.received_at >= lo, p.received_at < hi)  # every row is money that arrived
    pay_base = (_day_index(p.received_at, starts).label("d"), p.gateway.label("g"), p.currency.label("c"))
    run(select(*pay_base, p.amount_minor.label("m"), literal(1).label("n")).where(paid),
        lambda: [("collected", ""), ("payments", "")], values=2)
    earlier = aliased(Payment)
    first_payment = ~exists().where(
        earlier.payment_link_id == p.payment_link_id,
        or_(earlier.received_at < p.received_at, and_(earlier.received_at == p.received_at, earlier.id < p.id)))
    first = and_(paid, p.payment_link_id.is_not(None), first_payment)
    run(select(*pay_base, literal(1).label("n"), _seconds_between(PaymentLink.created_at, p.received_at).label("s"))
        .join(PaymentLink, PaymentLink.id == p.payment_link_id).where(first),
        lambda: [("links_paid", ""), ("time_to_pay_s", "")], values=2)

    # Money back, on the day it left (a refund's succeeded_at, a dispute's closed_at: each set once). A refund
    # that failed after it succeeded comes back on the day it failed (settled_at), as a negative figure.
    r = Refund
    run(select(_day_index(r.succeeded_at, starts).label("d"), r.gateway.label("g"), r.currency.label("c"),
               r.amount_minor.label("m"), literal(1).label("n"))
        .where(r.succeeded_at >= lo, r.succeeded_at < hi),
        lambda: [("refunded", ""), ("refunds", "")], values=2)
    run(select(_day_index(r.settled_at, starts).label("d"), r.gateway.label("g"), r.currency.label("c"),
               (-r.amount_minor).label("m"), literal(-1).label("n"))
        .where(r.status == money_rows.REFUND_FAILED, r.succeeded_at.is_not(None), r.settled_at >= lo,
               r.settled_at < hi),
        lambda: [("refunded", ""), ("refunds", "")], values=2)
    dp = Dispute
    run(select(_day_index(dp.closed_at, starts).label("d"), dp.gateway.label("g"), dp.currency.label("c"),
               dp.amount_minor.label("m"), literal(1).label("n"))
        .where(dp.status == money_rows.DISPUTE_LOST, dp.closed_at >= lo, dp.closed_at < hi),
        lambda: [("charged_back", ""), ("chargebacks", "")], values=2)

    for day, gateway, count in _breaker_openings(starts, rule):
        out.append((days[day], gateway, "", "breaker_openings", "", count))
    return out


def _seconds_between(earlier, later):
    if db.engine.dialect.name == "postgresql":
        return func.floor(func.extract("epoch", later - earlier))
    return func.cast((func.julianday(later) - func.julianday(earlier)) * 86400, db.Integer)


def _answered_at(attempt):
    """When a call's answer reached the breaker, in epoch seconds: its start plus how long it took."""
    took = func.coalesce(attempt.duration_ms, 0) / 1000.0
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", attempt.created_at) + took
    return (func.julianday(attempt.created_at) - 2440587.5) * 86400.0 + took  # SQLite keeps naive UTC


def _breaker_openings(starts, rule: Rule) -> list[tuple[int, str, int]]:
    """Replay each gateway's breaker (portal/payments/breaker.py) over the attempt log between starts[0]
    and starts[-1]: every call calls.call fed it, in the order the answers came (a call's start plus its
    duration), fed to the breaker's own in-process store, which counts and judges them as it does live."""
    a = GatewayAttempt
    # As calls.call feeds the breaker: every answer, but only the failures of a click's own calls (its
    # creates and lookups), never a background job's.
    counted_failure = and_(a.outcome == "failure", a.error_kind.in_(tuple(TRANSIENT_KINDS)),
                           or_(a.operation == "create", a.click_id.is_not(None)))
    answered = or_(a.outcome.in_(("success", "not_found")), counted_failure)
    since = starts[0] - timedelta(seconds=rule.window)  # calls already in the window when the period starts
    in_reach = and_(a.created_at >= since, a.created_at < starts[-1])
    # A gateway with no failure in reach opened nothing: its calls are not even read.
    failing = select(a.gateway).where(in_reach, counted_failure).distinct()
    answered_at = _answered_at(a)
    rows = db.session.execute(
        select(a.gateway, answered_at, a.outcome == "failure")
        .where(in_reach, answered, a.gateway.in_(failing))
        .order_by(a.gateway, answered_at, a.id))
    bounds = [_aware(start).timestamp() for start in starts]

    def day_of(at: float) -> int:  # an answer may land after the last day ends: it belongs to that day
        return min(bisect_right(bounds, at), len(bounds) - 1) - 1

    counts: dict[tuple[int, str], int] = defaultdict(int)
    store = MemoryBreakerStore()  # the breaker's own rule, fed the answers in the order they came
    for name, at, failed in rows:
        at = float(at)
        before = store.opened_at([name])[name]
        store.record(name, bool(failed), at, rule)
        opened = store.opened_at([name])[name]
        if opened is not None and opened != before and at >= bounds[0]:  # tripped, or a failed probe
            counts[(day_of(at), name)] += 1
    return [(day, name, count) for (day, name), count in counts.items()]


# ---- the rollup -------------------------------------------------------------------------------------

def _earliest_raw_day(profile: MerchantProfile) -> date | None:
    firsts = [db.session.scalar(select(func.min(GatewayAttempt.created_at))),
              db.session.scalar(select(func.min(LinkClick.created_at))),
              db.session.scalar(select(func.min(Payment.received_at)))]
    firsts = [f for f in firsts if f is not None]
    return profile.today(min(_aware(f) for f in firsts)) if firsts else None


def _aware(value):
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _rule() -> Rule:
    return Rule.from_config(current_app.config)


def roll_up(profile: MerchantProfile | None = None, now: datetime | None = None) -> int:
    """Add every finished merchant day after the rollup's end to statistics_daily; returns days added.
    Safe to run at any time: each chunk of days is written with the rollup's new end in one commit.
    A day counts as finished SETTLE after the merchant's midnight (`now` defaults to the clock)."""
    profile = profile or merchant_settings()
    state = db.session.get(StatisticsRollup, 1)
    if state is None:
        state = StatisticsRollup(id=1, time_zone=profile.time_zone, rolled_through=None)
        db.session.add(state)
    elif state.time_zone != profile.time_zone:  # the merchant's days moved: count them again
        db.session.execute(StatisticsDaily.__table__.delete())
        state.time_zone, state.rolled_through = profile.time_zone, None
    now = now or utcnow()
    last_finished = profile.today(now - SETTLE) - timedelta(days=1)
    first = state.rolled_through + timedelta(days=1) if state.rolled_through else _earliest_raw_day(profile)
    if first is None:  # nothing recorded yet: nothing to roll up
        db.session.commit()
        return 0
    added = 0
    while first <= last_finished:
        days = [first + timedelta(days=i) for i in range(min(ROLLUP_CHUNK_DAYS, (last_finished - first).days + 1))]
        rows = aggregate(profile, days, _rule())
        merged: dict[tuple, int] = defaultdict(int)
        for day, gateway, currency, metric, key, value in rows:
            merged[(day, gateway, currency, metric, key)] += value
        if merged:
            db.session.execute(insert(StatisticsDaily), [
                {"day": k[0], "gateway": k[1], "currency": k[2], "metric": k[3], "key": k[4], "value": v}
                for k, v in merged.items()])
        state.rolled_through = days[-1]
        db.session.commit()
        added += len(days)
        first = days[-1] + timedelta(days=1)
    db.session.commit()
    return added


def _stored(first: date, last: date, currency: str | None) -> list[tuple]:
    """Rolled-up numbers for days first..last, as aggregate() rows. Only the metrics drawn per day keep their
    day; the others (latency buckets, failure reasons...) come summed over the days, dated `first`."""
    d = StatisticsDaily
    where = [d.day >= first, d.day <= last]
    if currency:
        where.append(d.currency.in_((currency, "")))
    per_day = db.session.execute(
        select(d.day, d.gateway, d.currency, d.metric, d.key, func.sum(d.value))
        .where(*where, d.metric.in_(DAILY_METRICS)).group_by(d.day, d.gateway, d.currency, d.metric, d.key)).all()
    summed = db.session.execute(
        select(d.gateway, d.currency, d.metric, d.key, func.sum(d.value))
        .where(*where, d.metric.not_in(DAILY_METRICS)).group_by(d.gateway, d.currency, d.metric, d.key)).all()
    return [tuple(row) for row in per_day] + [(first, *row) for row in summed]


# ---- the answer -------------------------------------------------------------------------------------

def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None  # a ratio for display, not money


def percentile(histogram: dict[int, int], fraction: float) -> int | None:
    """Nearest-rank percentile over a {value: count} histogram (as stats._percentile over a sorted list)."""
    total = sum(histogram.values())
    if not total:
        return None
    index = min(total - 1, max(0, round(fraction * (total - 1))))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen > index:
            return value
    return None  # unreachable


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def payment_statistics(period: Period, currency: str | None = None, all_time: bool = False) -> dict:
    """Everything the Statistics page shows, as JSON-ready values (money as decimal strings)."""
    profile = merchant_settings()
    today = profile.today()
    state = db.session.get(StatisticsRollup, 1)
    rolled = state.rolled_through if state is not None and state.time_zone == profile.time_zone else None
    first, earliest = period.first, _earliest_raw_day(profile)
    if first is None:
        stored_first = db.session.scalar(select(func.min(StatisticsDaily.day))) if rolled else None
        first = min(d for d in (stored_first, earliest, period.last) if d is not None)
    last = period.last
    days = _days(first, last)

    rows: list[tuple] = []
    live_first = first
    if rolled is not None and rolled >= first:
        rows.extend(_stored(first, min(last, rolled), currency))
        live_first = rolled + timedelta(days=1)
    if earliest is not None and live_first < earliest:
        live_first = earliest  # no row is older: the days before cost nothing
    if earliest is not None and live_first <= last and profile.start_of(live_first) <= utcnow():
        live_last = min(last, today)
        rows.extend(row for row in aggregate(profile, _days(live_first, live_last), _rule())
                    if not currency or row[2] in (currency, ""))

    names = list(registry.GATEWAY_CLASSES)
    totals: dict[tuple[str, str], int] = defaultdict(int)          # (metric, gateway) -> value
    by_key: dict[tuple[str, str, str], int] = defaultdict(int)     # (metric, gateway, key) -> value
    money: dict[tuple[str, str, str], int] = defaultdict(int)      # (metric, gateway, currency) -> minor
    daily: dict[tuple[date, str, str], int] = defaultdict(int)     # (day, metric, gateway) -> value
    daily_money: dict[tuple[date, str, str], int] = defaultdict(int)  # (day, metric, currency) -> minor
    latency: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))  # gateway -> {ms: calls}
    for day, gateway, cur, metric, key, value in rows:
        value = int(value)
        if metric == "latency":
            latency[gateway][int(key)] += value
            continue
        totals[(metric, gateway)] += value
        if key:
            by_key[(metric, gateway, key)] += value
        if metric in MONEY_METRICS:
            money[(metric, gateway, cur)] += value
            daily_money[(day, metric, cur)] += value
        if metric in DAILY_METRICS:
            daily[(day, metric, gateway)] += value

    def total(metric: str) -> int:
        return sum(v for (m, _), v in totals.items() if m == metric)

    config = current_app.config
    settings = routing.settings_by_name()
    configured = {name: registry.get_gateway(name, config) is not None for name in names}
    enabled = {name: name not in settings or settings[name].enabled for name in names}
    currencies = sorted({cur for (_, _, cur), v in money.items() if v} | ({currency} if currency else set()))

    def amounts(metric: str, gateway: str | None = None) -> dict[str, int]:
        """currency -> minor units of a money metric, for one gateway or all."""
        return {cur: sum(v for (m, g, c), v in money.items() if m == metric and c == cur
                         and (gateway is None or g == gateway)) for cur in currencies}

    def net(collected: dict[str, int], refunded: dict[str, int], charged_back: dict[str, int]) -> dict[str, int]:
        return {cur: collected[cur] - refunded[cur] - charged_back[cur] for cur in currencies}

    def shown(minor: dict[str, int], keep=lambda cur: True) -> dict[str, str]:
        return {cur: Money(m, cur).decimal_string() for cur, m in minor.items() if keep(cur)}
    reasons = []
    for (metric, gateway, key), count in by_key.items():
        if metric == "failure":
            kind, _, code = key.partition(":")
            reasons.append({"gateway": gateway, "kind": kind, "code": code or None, "count": count,
                            "words": f"{_display(gateway)} {REASON_WORDS.get(kind, kind.replace('_', ' '))}"
                                     + (f" ({code})" if code else "")})
    for outcome in ("declined", "cancelled"):
        for name in names:
            count = totals.get((f"customer_{outcome}", name), 0)
            if count:
                reasons.append({"gateway": name, "kind": outcome, "code": None, "count": count,
                                "words": f"{_display(name)} {REASON_WORDS[outcome]}"})
    reasons.sort(key=lambda r: (-r["count"], r["gateway"], r["kind"], r["code"] or ""))

    by_gateway = {}
    for name in names:
        g_money = {m: amounts(m, name) for m in MONEY_METRICS}
        g_net = net(*(g_money[m] for m in MONEY_METRICS))
        moved = lambda cur: any(g_money[m][cur] for m in MONEY_METRICS)  # noqa: E731
        attempts, successes = totals.get(("attempts", name), 0), totals.get(("successes", name), 0)
        retries, retry_ok = totals.get(("retries", name), 0), totals.get(("retry_successes", name), 0)
        histogram = latency.get(name, {})
        by_gateway[name] = {
            "display_name": _display(name),
            "configured": configured[name],
            "enabled": enabled[name],
            "breaker": routing.breaker_state(name, breaker(), settings),
            "calls": attempts,
            "attempts": attempts,
            "successes": successes,
            "failures": attempts - successes,
            "success_rate": _rate(successes, attempts),
            "latency_ms": {"p50": percentile(histogram, 0.5), "p95": percentile(histogram, 0.95)},
            "retries": retries,
            "retry_successes": retry_ok,
            "retry_success_rate": _rate(retry_ok, retries),
            "links_created": totals.get(("links_created", name), 0),
            "cache_hits": totals.get(("cache_hits", name), 0),
            "fallbacks_received": totals.get(("fallback_received", name), 0),
            "fallbacks_given": totals.get(("fallback_given", name), 0),
            "breaker_openings": totals.get(("breaker_openings", name), 0),
            "collected": shown(g_money["collected"], lambda cur: g_money["collected"][cur]),
            # Added with refunds (issue 12): per currency the gateway moved money in, in the period.
            "refunded": shown(g_money["refunded"], moved),
            "charged_back": shown(g_money["charged_back"], moved),
            "net": shown(g_net, moved),
            "refunds": totals.get(("refunds", name), 0),
        }

    links_created, links_failed = total("links_created"), total("links_failed")
    cache_hits, links_paid = total("cache_hits"), total("links_paid")
    retries, retry_successes = total("retries"), total("retry_successes")
    time_to_pay = total("time_to_pay_s")
    collected_minor, refunded_minor, charged_back_minor = (amounts(m) for m in MONEY_METRICS)
    net_minor = net(collected_minor, refunded_minor, charged_back_minor)
    day_money = {day: {m: {cur: daily_money.get((day, m, cur), 0) for cur in currencies} for m in MONEY_METRICS}
                 for day in days}
    return {
        # The keys the API has always had (docs/endpoints.md); over the period now.
        "total_gateways": len(names),
        "configured_gateways": sum(configured.values()),
        "enabled_gateways": sum(1 for n in names if configured[n] and enabled[n]),
        "links_created": links_created,
        "links_failed": links_failed,
        "links_paid": links_paid,
        "cache_hits": cache_hits,
        "cache_misses": links_created + links_failed,
        "cache_hit_rate": _rate(cache_hits, cache_hits + links_created + links_failed),
        "retries": retries,
        "retry_successes": retry_successes,
        "retry_success_rate": _rate(retry_successes, retries),
        "fallbacks": total("fallback_received"),
        "by_gateway": by_gateway,
        "collected": shown(collected_minor),
        # Added with the Statistics page.
        "period": {"from": first.isoformat(), "to": last.isoformat(), "days": len(days),
                   "all_time": all_time, "time_zone": profile.time_zone},
        "currency": currency,
        "collected_minor": collected_minor,
        "payments": total("payments"),
        "conversion_rate": _rate(links_paid, links_created),
        "average_seconds_to_pay": (time_to_pay // links_paid) if links_paid else None,
        "attempts": total("attempts"),
        "breaker_openings": total("breaker_openings"),
        "fallbacks_given": total("fallback_given"),
        "reasons": reasons,
        # Added with refunds (issue 12): money back apart from money collected; net = collected - refunded -
        # charged_back, per currency.
        "refunded": shown(refunded_minor),
        "refunded_minor": refunded_minor,
        "charged_back": shown(charged_back_minor),
        "charged_back_minor": charged_back_minor,
        "net": shown(net_minor),
        "net_minor": net_minor,
        "refunds": total("refunds"),
        "chargebacks": total("chargebacks"),
        "daily": [{
            "date": day.isoformat(),
            "links_created": sum(daily.get((day, "links_created", n), 0) for n in names + [""]),
            "links_paid": sum(daily.get((day, "links_paid", n), 0) for n in names),
            "collected": shown(day_money[day]["collected"]),
            "refunded": shown(day_money[day]["refunded"]),
            "charged_back": shown(day_money[day]["charged_back"]),
            "net": shown(net(*(day_money[day][m] for m in MONEY_METRICS))),
            "by_gateway": {n: {"attempts": daily.get((day, "attempts", n), 0),
                               "successes": daily.get((day, "successes", n), 0),
                               "success_rate": _rate(daily.get((day, "successes", n), 0),
                                                     daily.get((day, "attempts", n), 0))} for n in names},
        } for day in days],
    }


def _display(name: str) -> str:
    try:
        return registry.gateway_class(name).display_name
    except KeyError:
        return name or "No gateway"


@jobs.handler("statistics_rollup")
def statistics_rollup() -> None:
    roll_up()
