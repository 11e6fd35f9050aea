"""The webhook inbox's reading side: deliveries filtered and paged newest first, what each outcome means in
words, rejected deliveries per hour, and a delivery's headers and body with secrets masked.

Pages are read by (received_at, id) descending with the filters on indexed columns (gateway, outcome each
with received_at); a deep page still skips its predecessors by OFFSET.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, func

from ..extensions import db
from ..models import WebhookDelivery, utcnow
from ..payments import registry

PER_PAGE = 50
HOURS = 24

# Every outcome a delivery can have (portal/webhooks/routes.py, portal/payments/ledger.py), for people.
OUTCOMES = {
    "applied": "Applied",
    "duplicate": "Duplicate",
    "unknown_object": "Unknown link",
    "mismatch": "Mismatch",
    "rejected": "Rejected",
    "unverified": "Not verified yet",
    "received": "Not finished",
    "failed": "Not applied",
    "ignored": "Nothing to do",
    "link_closed": "Link closed",
    "queued": "Capture queued",
}
MEANING = {
    "applied": "The payment or change it reports was recorded on the invoice.",
    "duplicate": "This event was already processed from an earlier delivery; nothing changed.",
    "unknown_object": "Genuine, but about a link this portal does not know (made elsewhere, or lost in a restore).",
    "mismatch": "Genuine, but it does not match its invoice; it is listed under Needs attention and was not applied.",
    "rejected": "It failed verification and was refused; only its first bytes were kept.",
    "unverified": "The gateway could not be asked to confirm it, so it was not applied; the gateway sends it again.",
    "received": "Handling never finished (stored by an older version before it was verified).",
    "failed": "Genuine and stored, but applying it failed (see the detail); the gateway sends it again, or Reprocess it.",
    "ignored": "Genuine; nothing for this portal to do.",
    "link_closed": "The link expired or was cancelled at the gateway.",
    "queued": "The customer approved the payment; capturing it runs in the background.",
}
BAD_OUTCOMES = ("rejected", "unverified", "received", "failed", "mismatch", "unknown_object")

SECRET_HEADER = re.compile(r"signature|secret|token|key|authorization|cookie|password|-sig$", re.I)
SECRET_FIELD = re.compile(r'("[^"]*(?:secret|password|token|signature|api_?key|card_?number|cvv|cvc)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"',
                          re.I)
MASK = "•••• masked"


@dataclass(frozen=True)
class Filters:
    gateway: str = ""
    outcome: str = ""
    since: datetime | None = None   # UTC instants the merchant's chosen days begin and end
    until: datetime | None = None

    def where(self):
        D = WebhookDelivery
        clauses = []
        if self.gateway:
            clauses.append(D.gateway == self.gateway)
        if self.outcome:
            clauses.append(D.outcome == self.outcome)
        if self.since is not None:
            clauses.append(D.received_at >= self.since)
        if self.until is not None:
            clauses.append(D.received_at < self.until)
        return clauses


def gateway_choices() -> dict[str, str]:
    return {name: cls.display_name for name, cls in registry.all_classes().items()}


def page_of(filters: Filters, page: int) -> tuple[list[WebhookDelivery], bool]:
    """One page, newest first, and whether an older page follows (one row more is read, no COUNT)."""
    D = WebhookDelivery
    rows = db.session.scalars(db.select(D).where(*filters.where())
                              .order_by(D.received_at.desc(), D.id.desc())
                              .offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)).all()
    return rows[:PER_PAGE], len(rows) > PER_PAGE


def rejected_per_hour(now: datetime | None = None) -> list[tuple[datetime, int]]:
    """(start of the hour, deliveries that failed verification in it) for the last 24 hours, oldest first."""
    now = now or utcnow()
    top = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = [top - timedelta(hours=HOURS - i) for i in range(HOURS + 1)]
    D = WebhookDelivery
    hour = case(*[(D.received_at < starts[i + 1], i) for i in range(HOURS)])
    counts = [0] * HOURS
    for index, count in db.session.execute(
            db.select(hour, func.count(D.id))
            .where(D.outcome == "rejected", D.received_at >= starts[0], D.received_at < starts[-1])
            .group_by(hour)):
        counts[int(index)] += int(count)
    return list(zip(starts[:-1], counts))


def secrets_in_config() -> tuple[str, ...]:
    """Every configured key and webhook secret, so a copy of one in a delivery is masked too."""
    found = []
    for name in registry.GATEWAY_CLASSES:
        adapter = registry.get_gateway(name, current_app.config)
        if adapter is not None:
            found.extend(adapter.settings.secrets())
    return tuple(s for s in found if len(s) >= 6)


def _mask_known(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def masked_headers(delivery: WebhookDelivery, secrets: tuple[str, ...] = ()) -> list[tuple[str, str, bool]]:
    """(name, value, masked) for each stored header; signatures and anything secret-like show no value."""
    try:
        stored = json.loads(delivery.headers or "{}")
    except ValueError:
        return [("(unreadable)", "the stored headers are not valid JSON", False)]
    if not isinstance(stored, dict):
        return []
    rows = []
    for name, value in stored.items():
        value = str(value)
        if SECRET_HEADER.search(str(name)):
            rows.append((str(name), f"{MASK} ({len(value)} characters)", True))
        else:
            shown = _mask_known(value, secrets)
            rows.append((str(name), shown, shown != value))
    return rows


def masked_body(delivery: WebhookDelivery, secrets: tuple[str, ...] = ()) -> str:
    """The body as text (bytes that are not UTF-8 shown as �), pretty when it is JSON, secret-like fields
    and configured secrets masked. The template escapes it."""
    text = bytes(delivery.body or b"").decode("utf-8", errors="replace")
    if not delivery.body_truncated:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    text = SECRET_FIELD.sub(lambda m: m.group(1) + f'"{MASK}"', text)
    return _mask_known(text, secrets)
