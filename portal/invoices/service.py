"""Invoice operations shared by the staff pages and the JSON API.

Input arrives as plain data (form fields or JSON), is checked completely, and only then changes
anything: a request with any bad field changes nothing and names every bad field.
"""
from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import bindparam, func, or_, tuple_, union_all

from ..extensions import db
from .. import totals as totals_rules
from ..models import AuditEvent, Customer, Invoice, InvoiceSequence, STATUSES, TaxRate, User, utcnow
from ..models.types import UTCDateTime
from ..money import Money, MoneyError, normalize_currency
from ..spreadsheets import safe_cell
from ..validation import EMAIL_RE, MAX_ID

MAX_LINES = 100
MAX_QUANTITY = 1_000_000
# Far above any real invoice, far below BIGINT: a total past it is a typo, not a sale.
MAX_TOTAL_MINOR = 10**15
# Control characters have no place in names or descriptions (PostgreSQL cannot even store NUL).
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
PHONE_RE = re.compile(r"^\+?[0-9 ()-]{6,20}$")
# A quantity or a percent: digits, at most three decimals (checked apart, to say which rule failed).
DECIMAL_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)
DISCOUNT_TYPES = ("percent", "amount")


class InvoiceInputError(ValueError):
    """Every problem with the submitted invoice, by field name."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class MoneyInput:
    """The part of an invoice that decides its total."""
    currency: str
    lines: list[tuple[str, int, Money, TaxRate | None]]
    discount_percent_milli: int = 0
    discount_amount_minor: int = 0

    def totals(self) -> totals_rules.Totals:
        return totals_rules.compute(
            [totals_rules.LineInput(qty, price.minor, rate.name if rate else "", rate.percent_milli if rate else 0)
             for _, qty, price, rate in self.lines],
            discount_percent_milli=self.discount_percent_milli, discount_amount_minor=self.discount_amount_minor)


@dataclass
class InvoiceInput:
    customer_name: str
    customer_email: str
    customer_phone: str
    currency: str
    lines: list[tuple[str, int, Money, TaxRate | None]]
    due_date: date | None
    notes: str
    accept_partial: bool = False
    discount_percent_milli: int = 0
    discount_amount_minor: int = 0
    customer_id: int | None = None  # a hint (the form's picker): preferred when its details match exactly
    errors: dict[str, str] = field(default_factory=dict)


def _text(value, name: str, errors: dict, *, required: bool, max_len: int) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[name] = "must be text"
        return ""
    value = value.strip()
    if CONTROL_CHARS.search(value):
        errors[name] = "must not contain control characters"
    elif required and not value:
        errors[name] = "is required"
    elif len(value) > max_len:
        errors[name] = f"must be at most {max_len} characters"
    return value


def parse_milli(value, what: str, maximum: int) -> int:
    """A number with up to 3 decimals as exact thousandths ("1.5" -> 1500); ValueError says what is wrong.

    A whole JSON number (2) or text ("1.5"); a JSON fraction (1.5) is refused like amounts are, because
    JSON parsers read it as a binary float.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a number such as 1 or \"1.5\"")
    if isinstance(value, float):
        raise ValueError('must be a whole number or text such as "1.5" (a JSON fraction is a float)')
    if isinstance(value, int):
        value = str(value) if abs(value) < 10**30 else "9" * 31
    if not isinstance(value, str):
        raise ValueError("must be a number such as 1 or 1.5")
    text = value.strip()
    if text.startswith("-") and DECIMAL_RE.fullmatch(text[1:]):
        raise ValueError("must be more than zero" if what == "quantity" else "cannot be negative")
    match = DECIMAL_RE.fullmatch(text)
    if match is None:
        raise ValueError("must be a number such as 1 or 1.5 (digits and a '.', no commas)")
    whole, frac = match.group(1).lstrip("0") or "0", match.group(2) or ""
    if len(whole) > len(str(maximum)) or int(whole) > maximum:
        raise ValueError(f"is too large (at most {maximum:,})")
    if len(frac.rstrip("0")) > 3:
        raise ValueError("can have at most 3 decimal places")
    milli = int(whole) * 1000 + int(frac.rstrip("0").ljust(3, "0"))
    if milli > maximum * 1000:
        raise ValueError(f"is too large (at most {maximum:,})")
    return milli


def _quantity(value, name: str, errors: dict) -> int:
    try:
        milli = parse_milli(value, "quantity", MAX_QUANTITY)
    except ValueError as exc:
        errors[name] = str(exc)
        return 0
    if milli <= 0:
        errors[name] = "must be more than zero"
        return 0
    return milli


def _tax_rate(item: dict, name: str, errors: dict, keep_rate_ids: frozenset) -> TaxRate | None:
    """items[].tax_rate_id (a number) or items[].tax_rate (the rate's name); none: no tax."""
    raw_id, raw_name = item.get("tax_rate_id"), item.get("tax_rate")
    rate = None
    if raw_id not in (None, ""):
        if isinstance(raw_id, str) and raw_id.strip().isascii() and raw_id.strip().isdigit():
            raw_id = int(raw_id.strip())
        if isinstance(raw_id, bool) or not isinstance(raw_id, int) or not 0 < raw_id < 2**31:
            errors[f"{name}.tax_rate_id"] = "must be the id of a tax rate"
            return None
        rate = db.session.get(TaxRate, raw_id)
        field_name = f"{name}.tax_rate_id"
    elif raw_name not in (None, ""):
        if not isinstance(raw_name, str):
            errors[f"{name}.tax_rate"] = "must be the name of a tax rate"
            return None
        rate = db.session.scalar(db.select(TaxRate).where(TaxRate.name == raw_name.strip(),
                                                          TaxRate.archived_at.is_(None)).limit(1))
        field_name = f"{name}.tax_rate"
    else:
        return None
    if rate is None or (rate.archived_at is not None and rate.id not in keep_rate_ids):
        errors[field_name] = "is not one of the tax rates in use (Settings → Tax rates)"
        return None
    return rate


def _discount(raw, currency: str, errors: dict) -> tuple[int, int]:
    """`{"type": "percent"|"amount", "value": "10"}` -> (percent thousandths, amount minor)."""
    if raw in (None, "", {}):
        return 0, 0
    if not isinstance(raw, dict):
        errors["discount"] = 'must be an object such as {"type": "percent", "value": "10"}'
        return 0, 0
    kind, value = raw.get("type") or "", raw.get("value")
    if value in (None, "") or (isinstance(value, str) and not value.strip()):
        if kind and kind not in DISCOUNT_TYPES:
            errors["discount.type"] = "must be percent or amount"
        return 0, 0
    if kind not in DISCOUNT_TYPES:
        errors["discount.type"] = "must be percent or amount"
        return 0, 0
    if kind == "percent":
        try:
            percent = parse_milli(value, "percent", 100)
        except ValueError as exc:
            errors["discount.value"] = str(exc).replace("is too large (at most 100)", "must be at most 100 %")
            return 0, 0
        return percent, 0
    if not currency:
        return 0, 0
    try:
        amount = Money.parse(value if not isinstance(value, float) else repr(value), currency)
    except MoneyError as exc:
        errors["discount.value"] = str(exc)
        return 0, 0
    return 0, amount.minor


def parse_money_input(data: dict, errors: dict, keep_rate_ids=frozenset()) -> MoneyInput:
    """Currency, lines and discount, checked; problems go into `errors` by field name."""
    currency = ""
    raw_currency = data.get("currency")
    if not isinstance(raw_currency, str) or not raw_currency.strip():
        errors["currency"] = "is required (an ISO 4217 code such as INR or USD)"
    else:
        try:
            currency = normalize_currency(raw_currency)
        except MoneyError as exc:
            errors["currency"] = str(exc)

    lines: list[tuple[str, int, Money, TaxRate | None]] = []
    items = data.get("items")
    if not isinstance(items, list) or not items:
        errors["items"] = "needs at least one line item"
        items = []
    elif len(items) > MAX_LINES:
        errors["items"] = f"can have at most {MAX_LINES} lines"
        items = []
    for i, item in enumerate(items):
        prefix = f"items[{i}]"
        if not isinstance(item, dict):
            errors[prefix] = "must be an object with description, quantity and unit_price"
            continue
        description = _text(item.get("description"), f"{prefix}.description", errors, required=True, max_len=500)
        quantity = _quantity(item.get("quantity", 1), f"{prefix}.quantity", errors)
        rate = _tax_rate(item, prefix, errors, keep_rate_ids)
        unit_price = None
        raw_price = item.get("unit_price")
        if raw_price is None or raw_price == "":
            errors[f"{prefix}.unit_price"] = "is required"
        elif currency:
            try:
                unit_price = Money.parse(raw_price, currency)
            except MoneyError as exc:
                errors[f"{prefix}.unit_price"] = str(exc)
        if unit_price is not None and quantity:
            lines.append((description, quantity, unit_price, rate))
    discount_percent, discount_amount = _discount(data.get("discount"), currency, errors)
    money = MoneyInput(currency, lines, discount_percent, discount_amount)

    if lines and not errors:
        try:
            total = money.totals().total_minor
        except totals_rules.DiscountTooLarge:
            errors["discount.value"] = "cannot be more than the subtotal"
        else:
            if total <= 0:
                errors["items"] = "the invoice total must be more than zero"
            elif total >= MAX_TOTAL_MINOR:
                errors["items"] = (f"the invoice total is too large "
                                   f"(at most {Money(MAX_TOTAL_MINOR - 1, currency).decimal_string()} {currency})")
    return money


def parse_invoice_input(data: dict, keep_rate_ids=frozenset()) -> InvoiceInput:
    """Check a submitted invoice: `{"customer": {...}, "currency", "items": [...], "discount", "due_date", "notes"}`.

    `keep_rate_ids`: archived tax rates still accepted because the draft being edited already uses them.
    """
    errors: dict[str, str] = {}
    if not isinstance(data, dict):
        raise InvoiceInputError({"body": "must be a JSON object"})
    customer = data.get("customer")
    if not isinstance(customer, dict):
        errors["customer"] = "is required: an object with name and email"
        customer = {}
    name = _text(customer.get("name"), "customer.name", errors, required=True, max_len=200)
    email = _text(customer.get("email"), "customer.email", errors, required=True, max_len=254).lower()
    if email and "customer.email" not in errors and not EMAIL_RE.match(email):
        errors["customer.email"] = "is not an email address"
    phone = _text(customer.get("phone"), "customer.phone", errors, required=False, max_len=32)
    if phone and "customer.phone" not in errors and not PHONE_RE.match(phone):
        errors["customer.phone"] = "is not a phone number (digits, spaces, + ( ) -)"

    money = parse_money_input(data, errors, keep_rate_ids)

    due_date = None
    raw_due = data.get("due_date")
    if raw_due not in (None, ""):
        try:
            if not isinstance(raw_due, str):
                raise ValueError
            due_date = date.fromisoformat(raw_due.strip())
        except ValueError:
            errors["due_date"] = "must be a date as YYYY-MM-DD"
    notes = _text(data.get("notes"), "notes", errors, required=False, max_len=5000)
    accept_partial = data.get("accept_partial", False)
    if accept_partial in ("on", "1", "true"):
        accept_partial = True
    elif accept_partial in ("", "0", "false", None):
        accept_partial = False
    if not isinstance(accept_partial, bool):
        errors["accept_partial"] = "must be true or false"

    if errors:
        raise InvoiceInputError(errors)
    return InvoiceInput(name, email, phone, money.currency, money.lines, due_date, notes, accept_partial,
                        money.discount_percent_milli, money.discount_amount_minor,
                        customer_id=_customer_hint(customer.get("id")))


def _customer_hint(value) -> int | None:
    """The id a picker chose, or None: only a hint, so a value that is no usable id is simply ignored."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
        return number if 0 < number <= MAX_ID else None
    return None


def _find_or_create_customer(data: InvoiceInput) -> Customer:
    """Reuse a current customer only when every detail matches.

    A later invoice spelling the name differently is a new customer, not a rename: an issued invoice must
    keep showing the name it was issued to. Superseded versions (portal/customers/service.py) are never
    reused, so new invoices go to a customer as they are now. Among customers with the same details, the
    one the picker chose (`customer_id`) wins.
    """
    same_details = db.select(Customer).where(
        Customer.email == data.customer_email, Customer.name == data.customer_name,
        Customer.phone == data.customer_phone, Customer.current_id.is_(None))
    customer = None
    if data.customer_id is not None:
        customer = db.session.scalar(same_details.where(Customer.id == data.customer_id))
    if customer is None:
        customer = db.session.scalar(same_details.order_by(Customer.id).limit(1))
    if customer is None:
        customer = Customer(name=data.customer_name, email=data.customer_email, phone=data.customer_phone)
        db.session.add(customer)
    return customer


def create_invoice(data: InvoiceInput, actor: User, via: str | None = None) -> Invoice:
    year = utcnow().year
    invoice = Invoice(
        number=InvoiceSequence.next_number(year),
        customer=_find_or_create_customer(data),
        currency=data.currency,
        due_date=data.due_date,
        notes=data.notes,
        accept_partial=data.accept_partial,
        created_by_id=actor.id,
    )
    invoice.set_lines(data.lines, data.discount_percent_milli, data.discount_amount_minor)
    db.session.add(invoice)
    db.session.flush()
    AuditEvent.record(actor, "invoice.created", "invoice", invoice.id,
                      f"{invoice.number} for {invoice.total.format()}", via=via)
    db.session.commit()
    return invoice


def update_invoice(invoice: Invoice, data: InvoiceInput, actor: User, via: str | None = None) -> Invoice:
    before = invoice.total.format()
    invoice.change_currency(data.currency)
    invoice.set_lines(data.lines, data.discount_percent_milli, data.discount_amount_minor)
    invoice.customer = _find_or_create_customer(data)
    invoice.due_date = data.due_date
    invoice.notes = data.notes
    invoice.accept_partial = data.accept_partial
    after = invoice.total.format()
    AuditEvent.record(actor, "invoice.edited", "invoice", invoice.id,
                      f"total {before} → {after}" if after != before else f"saved; total still {after}", via=via)
    db.session.commit()
    return invoice


def open_invoice(invoice: Invoice, actor: User, via: str | None = None) -> Invoice:
    from ..mail import outbox

    invoice.open()
    AuditEvent.record(actor, "invoice.opened", "invoice", invoice.id, "issued to the customer", via=via)
    # The customer hears of it in the same transaction: issued means emailed (or kept in the outbox to read).
    outbox.queue_invoice(invoice, "invoice_issued", invoice.customer.email, f"invoice_issued:{invoice.id}")
    db.session.commit()
    return invoice


def void_invoice(invoice: Invoice, actor: User, via: str | None = None) -> Invoice:
    invoice.void()
    AuditEvent.record(actor, "invoice.voided", "invoice", invoice.id, via=via)
    db.session.commit()
    return invoice


# Sortable columns of the invoice list and the CSV: each is a key SQL can order by (indexed where it
# matters), and every order ends on the id so pages never repeat or skip an invoice when values tie.
# Amounts sort within their currency: 500 JPY is not more than 400 USD.
SORT_COLUMNS = {
    "created": lambda: (Invoice.created_at,),
    "number": lambda: (Invoice.number,),
    # The customer's id keeps two customers of one name apart, so the order is the index's (ix_customers_lower_name).
    "customer": lambda: (func.lower(Customer.name), Customer.id),
    "amount": lambda: (Invoice.currency, Invoice.total_minor),
    "due": lambda: (Invoice.due_date,),
    "status": lambda: (Invoice.status,),
}
DEFAULT_SORT = "created"
SORT_DIRECTIONS = ("asc", "desc")


@dataclass(frozen=True)
class ListFilters:
    """What the invoice list and its CSV export are asked for; the same object drives both."""

    q: str = ""
    status: str = ""
    created_from: date | None = None
    created_to: date | None = None
    sort: str = DEFAULT_SORT
    dir: str = "desc"
    zone: tzinfo = timezone.utc  # whose days `created_from` and `created_to` are: the merchant's

    def conditions(self) -> list:
        conditions = []
        if self.status:
            if self.status not in STATUSES:
                raise InvoiceInputError({"status": f"must be one of {', '.join(STATUSES)}"})
            conditions.append(Invoice.status == self.status)
        q = (self.q or "").strip()
        if q:
            escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{escaped}%"
            # A union of the two ways to match rather than an OR across the join: each part can use its own
            # index on PostgreSQL (trigram indexes, migration b7e4c2a91d08; invoices by customer), where an
            # OR made it read every invoice. No query needs the join to filter.
            matching_customers = db.select(Customer.id).where(or_(
                func.lower(Customer.name).like(like, escape="\\"),
                func.lower(Customer.email).like(like, escape="\\"),
            ))
            conditions.append(Invoice.id.in_(union_all(
                db.select(Invoice.id).where(func.lower(Invoice.number).like(like, escape="\\")),
                db.select(Invoice.id).where(Invoice.customer_id.in_(matching_customers)),
            )))
        # Whole days of the merchant's calendar, inclusive at both ends, as instants on the indexed column.
        # The first and last days a date can name bound nothing (their midnights may not exist in UTC).
        if self.created_from and self.created_from > date.min:
            conditions.append(Invoice.created_at >= self._midnight(self.created_from))
        if self.created_to and self.created_to < date.max - timedelta(days=1):
            conditions.append(Invoice.created_at < self._midnight(self.created_to + timedelta(days=1)))
        return conditions

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(timezone.utc)

    def order_by(self) -> list:
        descending = self.dir == "desc"
        keys = [key.desc() if descending else key.asc() for key in (*SORT_COLUMNS[self.sort](), Invoice.id)]
        if self.sort == "due":
            # No due date comes last either way (PostgreSQL's own ascending order, so its index serves it).
            keys[0] = keys[0].nulls_last()
        return keys


def search_query(q: str | None, status: str | None, filters: ListFilters | None = None):
    """Invoices matching a search (number, customer name or email), status and dates, in the asked order."""
    filters = filters or ListFilters(q=q or "", status=status or "")
    return _in_order(db.select(Invoice).where(*filters.conditions()), filters)


def _in_order(stmt, filters: ListFilters):
    stmt = stmt.order_by(*filters.order_by())
    if filters.sort == "customer":  # the only order that reads the customer's row
        stmt = stmt.join(Invoice.customer)
    return stmt


class InvoicePage(Pagination):
    """One page of the list in two steps: the page's ids first, found in the indexes alone however deep the
    page (OFFSET over whole rows made page 2,000 read and join 50,000 invoices), then those rows with what
    they show. `options` load what the caller needs besides (the API's lines, links and payments)."""

    def _query_items(self) -> list:
        filters = self._query_args["filters"]
        ids = (_in_order(db.select(Invoice.id).where(*filters.conditions()), filters)
               .limit(self.per_page).offset(self._query_offset).subquery())
        stmt = _in_order(db.select(Invoice).join(ids, Invoice.id == ids.c.id), filters)
        return list(db.session.execute(stmt.options(*self._query_args.get("options", ()))).unique().scalars())

    def _query_count(self) -> int:
        return invoice_count(self._query_args["filters"])


def invoice_count(filters: ListFilters) -> int:
    return db.session.scalar(db.select(func.count()).select_from(
        db.select(Invoice.id).where(*filters.conditions()).subquery()))


def invoice_page(filters: ListFilters, page: int, per_page: int, options=(), count: bool = True) -> InvoicePage:
    return InvoicePage(page=page, per_page=per_page, max_per_page=None, error_out=False, count=count,
                       filters=filters, options=options)


class CursorError(ValueError):
    """A cursor this list did not hand out (or from an order it no longer serves)."""


def newest_first_cursor(invoice: Invoice) -> str:
    """An opaque mark just after `invoice` in the newest-first order (created_at, then id, both descending).
    Clients pass it back as they got it; its contents are ours to change."""
    mark = f"{invoice.created_at.astimezone(timezone.utc).isoformat()}|{invoice.id}"
    return base64.urlsafe_b64encode(mark.encode()).decode().rstrip("=")


def _cursor_mark(cursor: str) -> tuple[datetime, int]:
    try:
        mark = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        created, invoice_id = mark.split("|")
        created_at, invoice_id = datetime.fromisoformat(created), int(invoice_id)
        if created_at.tzinfo is None or not 0 < invoice_id <= MAX_ID:
            raise ValueError("no offset, or an id no row can have")
        created_at = created_at.astimezone(timezone.utc)  # overflows here, not in the query, at year 1 or 9999
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise CursorError("not a cursor this list handed out") from None
    return created_at, invoice_id


def invoices_after(filters: ListFilters, cursor: str, per_page: int, options=()) -> list[Invoice]:
    """The page after `cursor` in the newest-first order (keyset pagination): a row comparison on
    (created_at, id) that ix_invoices_created (or ix_invoices_status_created under a status filter) answers
    from its position, however deep, where OFFSET counts every row before the page."""
    if filters.sort != DEFAULT_SORT or filters.dir != "desc":
        raise CursorError("cursors follow the newest-first order only")
    created_at, invoice_id = _cursor_mark(cursor)
    after = tuple_(Invoice.created_at, Invoice.id) < tuple_(
        bindparam("cursor_created", created_at, type_=UTCDateTime), bindparam("cursor_id", invoice_id))
    stmt = (db.select(Invoice).where(*filters.conditions(), after).order_by(*filters.order_by())
            .limit(per_page).options(*options))
    return list(db.session.execute(stmt).unique().scalars())


def totals_by_currency(filters: ListFilters) -> list[dict]:
    """Count, total and paid per currency of every invoice the filters match (not just one page), in SQL.
    The counts add up to the list's length, so the list needs no count query of its own."""
    rows = db.session.execute(
        db.select(Invoice.currency, func.count(Invoice.id), func.sum(Invoice.total_minor),
                  func.sum(Invoice.amount_paid_minor))
        .where(*filters.conditions())
        .group_by(Invoice.currency).order_by(Invoice.currency)
    )
    return [{"currency": currency, "count": count, "total": Money(int(total or 0), currency),
             "paid": Money(int(paid or 0), currency)} for currency, count, total, paid in rows]


CSV_COLUMNS = ["number", "status", "customer", "email", "currency", "total", "paid", "due_date", "created_at"]


def export_csv(stmt) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for invoice in db.session.scalars(stmt.execution_options(yield_per=500)):
        writer.writerow([
            invoice.number,
            invoice.status,
            safe_cell(invoice.customer.name),
            safe_cell(invoice.customer.email),
            invoice.currency,
            invoice.total.decimal_string(),
            invoice.amount_paid.decimal_string(),
            invoice.due_date.isoformat() if invoice.due_date else "",
            invoice.created_at.isoformat(),
        ])
    return out.getvalue()
