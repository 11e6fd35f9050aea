"""Needs attention: everything staff must act on, as one list, each item with what to do next in words.

`items()` builds the list and `count()` is its length: the navigation badge, Home and the page all use
them, so the number people see is the number of things on the page. Kinds:

- open PaymentMismatch rows (overpaid, paid while void, wrong amount or currency, part payments not
  accepted, another invoice named): cleared by an admin's "Dealt with" (audited);
- overpaid invoices with no mismatch on record (money received some other way);
- a gateway down (portal/payments/status.py) while links at it are open;
- no verified webhook from a gateway for WEBHOOK_SILENCE_HOURS while links at it have been open that long;
- WEBHOOK_REJECTED_BURST or more deliveries from one gateway's address failing verification within an hour,
  in the last 24 hours.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app, g, has_request_context, url_for
from sqlalchemy import and_, case, exists, func, or_

from ..extensions import db
from ..merchant import merchant_settings
from ..models import LIVE_STATUSES, Invoice, PaymentLink, PaymentMismatch, WebhookDelivery, utcnow
from ..money import Money
from ..payments import registry, routing
from ..payments.breaker import OPEN
from ..payments.engine import breaker
from ..payments.status import DOWN, gateway_lines

HOURS = 24
WRONG_MONEY = ("amount", "currency")


@dataclass(frozen=True)
class Item:
    kind: str                    # overpaid, paid_void, wrong_money, part_payment, other_invoice, mismatch,
                                 # gateway_down, webhook_silence, rejected_burst
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
                    f"Refund {extra} to the customer in the {gateway} dashboard, then mark this dealt with.",
                    row.created_at, links, row.id)
    if row.kind == "paid_void_invoice":
        return Item("paid_void", f"Paid while void: {row.detail}",
                    f"The invoice was void, so the money was not counted. Refund the payment in the {gateway} "
                    "dashboard, or issue a new invoice for it; then mark this dealt with.",
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
    """Everything that needs attention now: money first (newest first), then gateways and webhooks."""
    now = now or utcnow()
    return _money_items() + _gateway_items(now)


def count() -> int:
    """How many things need attention: the length of `items()`, once per request."""
    if not has_request_context():
        return len(items())
    if "attention_count" not in g:
        g.attention_count = len(items())
    return g.attention_count
