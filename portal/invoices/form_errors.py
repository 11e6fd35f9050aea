"""Where the invoice form shows each error: the input it belongs to (by element id), in page order.

The service names problems as the API does ("customer.email", "items[1].quantity"); the form needs the
element to mark with aria-invalid, the link target for the summary, and a label a person understands.
"""
from __future__ import annotations

import re

# Page order and plain labels of the fields outside the line table.
HEAD_FIELDS = {
    "customer_name": "Customer name", "customer_email": "Email", "customer_phone": "Phone",
    "currency": "Currency", "due_date": "Due date", "accept_partial": "Part payments",
}
TAIL_FIELDS = {"discount_type": "Discount", "discount_value": "Discount", "notes": "Notes"}
ALIASES = {
    "customer.name": "customer_name", "customer": "customer_name", "customer.email": "customer_email",
    "customer.phone": "customer_phone", "discount": "discount_value", "discount.type": "discount_type",
    "discount.value": "discount_value", "items": "items-0-description",
}
LINE_LABELS = {"description": "description", "quantity": "quantity", "unit_price": "unit price",
               "tax_rate_id": "tax rate", "tax_rate": "tax rate"}
ITEM_RE = re.compile(r"items\[(\d+)\](?:\.(\w+))?")


def element_id(key: str) -> str | None:
    if key in ALIASES:
        return ALIASES[key]
    if key in HEAD_FIELDS or key in TAIL_FIELDS:
        return key
    match = ITEM_RE.fullmatch(key)
    if match:
        name = match.group(2) or "description"
        return f"items-{match.group(1)}-{'tax_rate_id' if name == 'tax_rate' else name}"
    return None


def field_ids(errors: dict[str, str]) -> dict[str, str]:
    """element id -> the error shown beside it (the first one, when two keys land on one field)."""
    shown: dict[str, str] = {}
    for key, message in errors.items():
        target = element_id(key)
        if target and target not in shown:
            shown[target] = message
    return shown


def _label(target: str) -> str:
    if target in HEAD_FIELDS:
        return HEAD_FIELDS[target]
    if target in TAIL_FIELDS:
        return TAIL_FIELDS[target]
    _, row, name = target.split("-", 2)
    return f"Line {int(row) + 1} {LINE_LABELS.get(name, name)}"


def _order(target: str) -> tuple:
    heads, tails = list(HEAD_FIELDS), list(TAIL_FIELDS)
    if target in HEAD_FIELDS:
        return (0, heads.index(target))
    if target in TAIL_FIELDS:
        return (2, tails.index(target))
    _, row, name = target.split("-", 2)
    return (1, int(row), list(LINE_LABELS).index(name) if name in LINE_LABELS else 9)


def summary(errors: dict[str, str]) -> list[tuple[str | None, str, str]]:
    """(element id or None, label, message) for the error summary, in the order the page shows them."""
    linked = sorted(field_ids(errors).items(), key=lambda item: _order(item[0]))
    rows = [(target, _label(target), message) for target, message in linked]
    rows += [(None, key, message) for key, message in errors.items() if element_id(key) is None]
    return rows
