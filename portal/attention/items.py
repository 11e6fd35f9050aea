"""Needs attention: everything staff must act on, as one list, each item with what to do next in words.

`items()` builds the list and `count()` is its length: the navigation badge, Home and the page all use
them, so the number people see is the number of things on the page. Kinds:

- a dispute still open or under review, with its amount, reason and deadline, the most urgent first (an open
  one whose deadline has passed is called overdue); it goes when the gateway reports it won or lost;
- a refund asked for here (portal or API) that failed in the last REFUND_FAILED_DAYS days, with the gateway's
  words, until a new refund of that payment is asked for;
- a refund still requested or pending REFUND_STUCK_HOURS after it was asked for;
- open PaymentMismatch rows (overpaid, paid while void or after a full refund, wrong amount or currency, part
  payments not accepted, another invoice named, a refund in another currency, a refund that failed after it
  succeeded): cleared by an admin's "Dealt with" (audited);
- overpaid invoices with no mismatch on record (money received some other way);
- a gateway down (portal/payments/status.py) while links at it are open;
- no verified webhook from a gateway for WEBHOOK_SILENCE_HOURS while links at it have been open that long;
- WEBHOOK_REJECTED_BURST or more deliveries from one gateway's address failing verification within an hour,
  in the last 24 hours.

Disputes decided lately (won or lost, last DECIDED_DAYS days) are not items: nothing can be done about them,
and a badge that counts what needs no one soon stops being read. The page shows them apart, uncounted
(`decided_disputes()`), so a dispute that leaves the list is seen to have been decided, and how.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app, g, has_request_context, url_for
from sqlalchemy import and_, case, exists, func, or_

from ..extensions import db
from ..merchant import merchant_settings
from ..models import (LIVE_STATUSES, Dispute, Invoice, PaymentLink, PaymentMismatch, Refund, WebhookDelivery,
                      utcnow)
from ..models import ledger as money_rows
from ..money import Money
from ..payments import registry, routing
from ..payments.breaker import OPEN
from ..payments.engine import breaker
from ..payments.status import DOWN, gateway_lines

HOURS = 24
WRONG_MONEY = ("amount", "currency")
REFUND_FAILED_DAYS = 7      # a failed refund is listed this long (or until a new one of that payment is asked for)
REFUND_STUCK_HOURS = 24     # a refund not final this long after it was asked for is listed
DECIDED_DAYS = 30           # disputes won or lost this recently are shown apart, uncounted


@dataclass(frozen=True)
class Item:
    kind: str                    # dispute, dispute_overdue, refund_failed, refund_stuck, overpaid, paid_void,
                                 # paid_refunded, wrong_money, part_payment, other_invoice, refund_reversed,
                                 # refund_currency, mismatch, gateway_down, webhook_silence, rejected_burst
    what: str                    # what is wrong, one sentence
    advice: str                  # what to do next
    since: datetime | None
    links: tuple[tuple[str, str], ...] = ()  # (label, url)
    mismatch_id: int | None = None           # an admin can mark it dealt with


def _gateway_name(name: str) -> str:
    cls = registry.all_classes().get(name)
    return cls.display_name if cls else name


def _invoice_link(invoice_id: int | None, number: str | None) -> tuple[tuple[str, str], ...]:
    if not invoice_id:
        return ()
    return ((f"Invoice {number or '#' + str(invoice_id)}", url_for("invoices.detail", invoice_id=invoice_id)),)


def _mismatch_item(row: PaymentMismatch, invoice: Invoice | None) -> Item:
    gateway = _gateway_name(row.gateway)
    number = invoice.number if invoice else None
    links = _invoice_link(row.invoice_id, number)
    if row.payment_id:
        links += (("Its webhooks", url_for("inbox.index", gateway=row.gateway)),)
    label = f"invoice {number}" if number else "a payment"
    if row.kind == "overpaid":
        extra = (Money(invoice.amount_paid_minor - invoice.total_minor, invoice.currency).format()
                 if invoice and invoice.amount_paid_minor > invoice.total_minor else "the difference")
        return Item("overpaid", f"Overpaid: {label} received more than it asks ({row.detail}).",
                    f"Open the invoice and press \u201cRefund the extra\u201d (admins): it gives {extra} back through "
                    f"{gateway}, and this clears once the refund goes through.",
                    row.created_at, links, row.id)
    if row.kind == "paid_void_invoice":
        return Item("paid_void", f"Paid while void: {row.detail}",
                    "The invoice was void, so the money was not counted. Open the invoice and press \u201cRefund in "
                    f"full\u201d (admins) to give it back through {gateway}, or issue a new invoice for it and mark "
                    "this dealt with.",
                    row.created_at, links, row.id)
    if row.kind in WRONG_MONEY:
        word = "currency" if row.kind == "currency" else "amount"
        return Item("wrong_money", f"Wrong {word} for {label}: {row.detail}.",
                    f"Nothing was recorded. Look the payment up in the {gateway} dashboard"
                    f"{' (' + row.payment_id + ')' if row.payment_id else ''}: refund it, or ask the customer "
                    "to pay the right amount; then mark this dealt with.", row.created_at, links, row.id)
    if row.kind == "partial_not_accepted":
        return Item("part_payment", f"Part payment for {label}: {row.detail}.",
                    "Either refund it at the gateway, or allow part payments on the invoice and ask for the rest; "
                    "then mark this dealt with.", row.created_at, links, row.id)
    if row.kind == "paid_refunded_invoice":
        return Item("paid_refunded", f"Paid after a full refund: {row.detail}.",
                    f"The invoice was refunded in full and is closed, so this payment was not counted. Refund it "
                    f"in the {gateway} dashboard, or ask the customer what it was for and issue a new invoice; then "
                    "mark this dealt with.", row.created_at, links, row.id)
    if row.kind == "refund_reversed":
        return Item("refund_reversed", f"A refund bounced back for {label}: {row.detail}.",
                    "The customer's bank returned the refund (a closed card or account, usually), so the money is "
                    "with you again and the invoice counts it as kept. Ask the customer how they want it back: "
                    "a bank transfer, or a refund once they give another card; then mark this dealt with.",
                    row.created_at, links, row.id)
    if row.kind == "refund_currency":
        return Item("refund_currency", f"A refund in another currency for {label}: {row.detail}.",
                    f"It was not counted, so this invoice does not show it. Look the refund up in the {gateway} "
                    "dashboard: if money did go back, note it on the invoice yourself; then mark this dealt with.",
                    row.created_at, links, row.id)
    if row.kind == "invoice":
        return Item("other_invoice", f"The gateway names another invoice: {row.detail}.",
                    "Nothing was recorded. Check with the customer which invoice they paid before moving any "
                    "money; then mark this dealt with.", row.created_at, links, row.id)
    return Item("mismatch", f"{row.kind.replace('_', ' ').capitalize()}: {row.detail}.",
                f"Check the payment in the {gateway} dashboard, then mark this dealt with.",
                row.created_at, links, row.id)


def _money_items() -> list[Item]:
    rows = db.session.execute(db.select(PaymentMismatch, Invoice)
                              .outerjoin(Invoice, PaymentMismatch.invoice_id == Invoice.id)
                              .where(PaymentMismatch.resolved_at.is_(None))
                              .order_by(PaymentMismatch.created_at.desc(), PaymentMismatch.id.desc())).all()
    found = [_mismatch_item(row, invoice) for row, invoice in rows]
    # Overpaid with no mismatch on record at all (the ledger flags every overpayment it makes).
    flagged = exists().where(PaymentMismatch.invoice_id == Invoice.id, PaymentMismatch.kind == "overpaid")
    for invoice in db.session.scalars(db.select(Invoice).where(Invoice.status == "overpaid", ~flagged)
                                      .order_by(Invoice.id.desc())):
        extra = Money(invoice.amount_paid_minor - invoice.total_minor, invoice.currency).format()
        found.append(Item("overpaid", f"Overpaid: invoice {invoice.number} received {extra} more than it asks.",
                          f"Refund {extra} to the customer at the gateway it came through.", invoice.paid_at,
                          _invoice_link(invoice.id, invoice.number)))
    return found


def _local(moment: datetime) -> str:
    return merchant_settings().local(_aware(moment)).strftime("%d %b %Y %H:%M")


def _in_words(delta: timedelta) -> str:
    """'3 days', '5 hours', 'under an hour'."""
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return "under an hour"


def _dispute_items(now: datetime) -> list[Item]:
    """Active disputes, the most urgent first: open ones by deadline (overdue first, no deadline last), then
    those under review."""
    rows = db.session.execute(db.select(Dispute, Invoice.number).join(Invoice, Invoice.id == Dispute.invoice_id)
                              .where(Dispute.status.in_(money_rows.DISPUTE_ACTIVE_STATUSES))).all()
    far = datetime.max.replace(tzinfo=timezone.utc)
    rows.sort(key=lambda r: (r.Dispute.status != money_rows.DISPUTE_OPEN,
                             _aware(r.Dispute.respond_by) if r.Dispute.respond_by else far, r.Dispute.id))
    found = []
    for dispute, number in rows:
        gateway = _gateway_name(dispute.gateway)
        reason = f" (reason: {dispute.reason.replace('_', ' ')})" if dispute.reason else ""
        what = f"Dispute: the customer's bank disputes {dispute.amount.format()} of invoice {number} at {gateway}{reason}"
        links = _invoice_link(dispute.invoice_id, number)
        deadline = _aware(dispute.respond_by) if dispute.respond_by else None
        if dispute.status == money_rows.DISPUTE_UNDER_REVIEW:
            found.append(Item("dispute", f"{what}; under review.",
                              f"Your answer is with the bank; nothing to do until it decides. This goes away when "
                              f"{gateway} reports the dispute won or lost.", dispute.opened_at, links))
        elif deadline is not None and deadline <= now:
            found.append(Item("dispute_overdue",
                              f"{what}. Overdue: the response was due {_local(deadline)}, {_in_words(now - deadline)} ago.",
                              f"Open the dispute in the {gateway} dashboard now: if it still takes evidence, send the "
                              "invoice, proof of delivery and your messages with the customer; if not, it will be "
                              "decided without you, most likely lost.", dispute.opened_at, links))
        else:
            by = (f"Respond by {_local(deadline)} (in {_in_words(deadline - now)})" if deadline is not None
                  else f"{gateway} gave no deadline")
            found.append(Item("dispute", f"{what}. {by}.",
                              f"In the {gateway} dashboard, send your evidence (the invoice, proof of delivery, your "
                              "messages with the customer) before the deadline, or accept the dispute if the customer "
                              "is right. Do not refund the payment: the bank holds the money already, and a refund "
                              "would give it back twice.", dispute.opened_at, links))
    return found


def decided_disputes(now: datetime | None = None) -> list[tuple[Dispute, str]]:
    """Disputes won or lost in the last DECIDED_DAYS days, newest first, with their invoice number: shown on the
    page apart from the items, and not counted."""
    since = (now or utcnow()) - timedelta(days=DECIDED_DAYS)
    return [tuple(row) for row in db.session.execute(
        db.select(Dispute, Invoice.number).join(Invoice, Invoice.id == Dispute.invoice_id)
        .where(Dispute.status.in_((money_rows.DISPUTE_WON, money_rows.DISPUTE_LOST)), Dispute.closed_at >= since)
        .order_by(Dispute.closed_at.desc(), Dispute.id.desc()))]


def _refund_items(now: datetime) -> list[Item]:
    """Refunds asked for here that failed lately, and refunds of any origin not final after REFUND_STUCK_HOURS."""
    found = []
    R = Refund
    failed = db.session.execute(
        db.select(R, Invoice.number).join(Invoice, Invoice.id == R.invoice_id)
        .where(R.status == money_rows.REFUND_FAILED, R.source.in_(("portal", "api")),
               R.settled_at >= now - timedelta(days=REFUND_FAILED_DAYS))
        .order_by(R.settled_at.desc(), R.id.desc())).all()
    for refund, number in failed:
        if _asked_again(refund) or _reversed(refund):  # done with, or listed as a bounced refund already
            continue
        gateway = _gateway_name(refund.gateway)
        if (refund.failure_code or "").endswith(":refund_exceeds_payment"):
            advice = (f"{gateway} says less is left to refund than this portal knows: most likely a refund was made "
                      f"in the {gateway} dashboard. It is being fetched and will show on the invoice; check there "
                      "what is left before asking again.")
        else:
            advice = ("Nothing left your account. Ask again from the invoice page once the cause is fixed, or give "
                      "the money back another way (a bank transfer) and tell the customer. This goes once a new "
                      f"refund of that payment is asked for, or after {REFUND_FAILED_DAYS} days.")
        failure = refund.failure or "the gateway gave no reason"
        found.append(Item("refund_failed", f"Refund failed: {refund.amount.format()} for invoice {number} at "
                                           f"{gateway}: {failure.rstrip('.')}.", advice, refund.settled_at,
                          _invoice_link(refund.invoice_id, number)))
    stuck = db.session.execute(
        db.select(R, Invoice.number).join(Invoice, Invoice.id == R.invoice_id)
        .where(R.status.in_(money_rows.REFUND_OPEN_STATUSES), R.created_at < now - timedelta(hours=REFUND_STUCK_HOURS))
        .order_by(R.created_at, R.id)).all()
    for refund, number in stuck:
        gateway = _gateway_name(refund.gateway)
        waited = _in_words(now - _aware(refund.created_at))
        if refund.status == money_rows.REFUND_REQUESTED:
            what = (f"Refund not confirmed: {refund.amount.format()} for invoice {number} was asked of {gateway} "
                    f"{waited} ago and its answer never came.")
            advice = (f"Nothing is sent again until it is known whether {gateway} made it; reconciliation keeps asking "
                      f"{gateway} by this refund's reference ({refund.reference or 'none'}). If {gateway} cannot be "
                      f"reached, look for the refund in the {gateway} dashboard before refunding in any other way.")
        else:
            what = (f"Refund still pending: {refund.amount.format()} for invoice {number} at {gateway}, "
                    f"asked for {waited} ago.")
            advice = (f"Some banks take several working days to return a refund, so this may be normal. If the "
                      f"customer says nothing has arrived after a week, look the refund up in the {gateway} dashboard"
                      f" ({refund.refund_id or refund.reference}) and ask {gateway}'s support; nothing to do here.")
        found.append(Item("refund_stuck", what, advice, refund.created_at, _invoice_link(refund.invoice_id, number)))
    return found


def _asked_again(refund: Refund) -> bool:
    """A refund of the same payment asked for after this one, and not failed: the failure was dealt with."""
    return db.session.scalar(db.select(Refund.id).where(
        Refund.payment_row_id == refund.payment_row_id, Refund.id > refund.id,
        Refund.status != money_rows.REFUND_FAILED).limit(1)) is not None


def _reversed(refund: Refund) -> bool:
    """A refund that failed after it succeeded: flagged as a refund_reversed mismatch, listed as that instead."""
    if not refund.refund_id:
        return False
    details = db.session.scalars(db.select(PaymentMismatch.detail).where(
        PaymentMismatch.gateway == refund.gateway, PaymentMismatch.kind == "refund_reversed",
        PaymentMismatch.invoice_id == refund.invoice_id)).all()
    return any(detail.startswith(f"refund {refund.refund_id} ") for detail in details)


def _open_links(now: datetime) -> dict[str, tuple[int, datetime]]:
    """gateway -> (open links, when the oldest was made)."""
    live = and_(PaymentLink.status.in_(LIVE_STATUSES),
                or_(PaymentLink.expires_at.is_(None), PaymentLink.expires_at > now))
    return {gateway: (int(n), oldest) for gateway, n, oldest in db.session.execute(
        db.select(PaymentLink.gateway, func.count(PaymentLink.id), func.min(PaymentLink.created_at))
        .where(live).group_by(PaymentLink.gateway))}


def _links_phrase(n: int) -> str:
    return f"{n} open payment link{'' if n == 1 else 's'}"


def _gateway_items(now: datetime) -> list[Item]:
    config = current_app.config
    profile = merchant_settings()
    open_links = _open_links(now)
    found = []
    # Down means a breaker open; only then are the full health lines (attempt-log reads per gateway) worth
    # building. This list is counted on every staff page, for the navigation badge.
    settings, circuit = routing.settings_by_name(), breaker()
    maybe_down = any(routing.breaker_state(name, circuit, settings) == OPEN for name in open_links)
    for line in gateway_lines(profile.zone) if maybe_down else []:
        if line.state == DOWN and line.name in open_links:
            n, _ = open_links[line.name]
            at_it = f"{_links_phrase(n)} {'is' if n == 1 else 'are'} at {line.display_name}"
            found.append(Item("gateway_down", f"{line.text}. {at_it[0].upper()}{at_it[1:]}.",
                              f"Customers holding those links cannot pay until {line.display_name} answers. "
                              "Nothing to do if it recovers soon; if not, send those customers the pay page again "
                              "so they can pay through another gateway.", line.since,
                              (("Gateway health", url_for("gateways.index")),)))

    silence = timedelta(hours=config["WEBHOOK_SILENCE_HOURS"])
    cutoff = now - silence
    for name, (n, oldest) in open_links.items():
        cls = registry.all_classes().get(name)
        if cls is None or not cls.is_configured(config) or oldest is None or _aware(oldest) > cutoff:
            continue
        last = _last_verified(name)
        if last is not None and _aware(last) > cutoff:
            continue
        hours = config["WEBHOOK_SILENCE_HOURS"]
        heard = (f"since {profile.local(_aware(last)).strftime('%d %b %H:%M')}" if last is not None else "ever")
        found.append(Item("webhook_silence",
                          f"No verified webhook from {cls.display_name} {heard}, for more than {hours} hours, "
                          f"while it has {_links_phrase(n)}.",
                          f"Payments may be arriving without this portal hearing of them. In the {cls.display_name} "
                          "dashboard check that the webhook points at this portal's /webhooks/" + name +
                          " address and that its secret matches; then run `flask --app wsgi payments reconcile` "
                          "to pick up any payment whose webhook never came.",
                          _aware(last) if last is not None else None,
                          (("Its webhooks", url_for("inbox.index", gateway=name)),)))

    found.extend(_bursts(now))
    return found


def _last_verified(gateway: str) -> datetime | None:
    """When the newest verified delivery from a gateway arrived: walks its index (gateway, received_at) from
    the newest end, which stops at once while the gateway's deliveries verify."""
    D = WebhookDelivery
    return db.session.scalar(db.select(D.received_at).where(D.gateway == gateway, D.verified.is_(True))
                             .order_by(D.received_at.desc()).limit(1))


def _bursts(now: datetime) -> list[Item]:
    threshold = current_app.config["WEBHOOK_REJECTED_BURST"]
    top = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = [top - timedelta(hours=HOURS - i) for i in range(HOURS + 1)]
    D = WebhookDelivery
    hour = case(*[(D.received_at < starts[i + 1], i) for i in range(HOURS)])
    worst: dict[str, tuple[int, int]] = {}
    for gateway, index, count in db.session.execute(
            db.select(D.gateway, hour, func.count(D.id))
            .where(D.outcome == "rejected", D.received_at >= starts[0], D.received_at < starts[-1])
            .group_by(D.gateway, hour)):
        if count >= threshold and (gateway not in worst or count > worst[gateway][1]):
            worst[gateway] = (int(index), int(count))
    profile = merchant_settings()
    found = []
    for gateway, (index, count) in sorted(worst.items()):
        name = _gateway_name(gateway)
        start = starts[index]
        found.append(Item("rejected_burst",
                          f"{count} deliveries to the {name} webhook address failed verification in the hour from "
                          f"{profile.local(start).strftime('%d %b %H:00')}.",
                          f"If {name}'s own deliveries are failing, the webhook secret here differs from the one in "
                          f"the {name} dashboard: set the same secret on both sides, and the gateway's retries will verify. "
                          "Otherwise someone is sending forgeries: they are refused and cut to 2 kB; nothing to do "
                          "unless it goes on. This item clears 24 hours after the burst.", start,
                          (("The rejected deliveries", url_for("inbox.index", gateway=gateway, outcome="rejected")),)))
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def items(now: datetime | None = None) -> list[Item]:
    """Everything that needs attention now: disputes first (they have deadlines), then refunds, then other money
    problems (newest first), then gateways and webhooks."""
    now = now or utcnow()
    return _dispute_items(now) + _refund_items(now) + _money_items() + _gateway_items(now)


def count() -> int:
    """How many things need attention: the length of `items()`, once per request."""
    if not has_request_context():
        return len(items())
    if "attention_count" not in g:
        g.attention_count = len(items())
    return g.attention_count
