"""`merchant_settings()`: the merchant's details and defaults as one read-only value, read once a request.

Everything that depends on "today" (due dates, overdue, the last 30 days) asks this for the merchant's
time zone, so a merchant in Kolkata sees Kolkata's days whatever the server's clock says.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, g

from ..config import parse_reminder_days
from ..extensions import db
from ..models import MerchantSetting, utcnow
from ..models.merchant import DEFAULT_CURRENCY, DEFAULT_PAYMENT_TERMS_DAYS, DEFAULT_TIME_ZONE
from ..money import MoneyError, normalize_currency
from ..payments import registry
from ..validation import EMAIL_RE

MAX_TERMS_DAYS = 365
LIMITS = {"business_name": 200, "address": 1000, "tax_id": 32, "invoice_footer": 1000, "reply_to_email": 254}
# GSTIN (15 characters), EU VAT numbers (country prefix + up to 12), US EIN (12-3456789): letters,
# digits, and the spaces, dots, slashes and hyphens people type between groups.
# Control characters have no place in text shown to customers (PostgreSQL cannot even store NUL).
CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TAX_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]*$")


@dataclass(frozen=True)
class MerchantProfile:
    business_name: str
    address: str
    tax_id: str
    default_currency: str
    time_zone: str
    payment_terms_days: int
    invoice_footer: str
    reply_to_email: str = ""              # empty: replies go to MAIL_FROM
    reminder_days: tuple[int, ...] = ()   # days from the due date a reminder goes out

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def now(self) -> datetime:
        return utcnow().astimezone(self.zone)

    def today(self, at: datetime | None = None) -> date:
        """The merchant's date now, or at the instant `at`."""
        return (at or utcnow()).astimezone(self.zone).date()

    def default_due_date(self) -> date:
        return self.today() + timedelta(days=self.payment_terms_days)

    def start_of(self, day: date) -> datetime:
        """The instant (aware, UTC) the merchant's `day` begins: local midnight, DST included."""
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(ZoneInfo("UTC"))

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)


def describe_reminder_days(days: tuple[int, ...]) -> str:
    """(-3, 0, 3, 7, 14) -> "3 days before the due date, on it, and 3, 7 and 14 days after"."""
    def listed(numbers: list[int]) -> str:
        words = [str(n) for n in numbers]
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]

    before = [-d for d in reversed(days) if d < 0]
    after = [d for d in days if d > 0]
    parts = []
    if before:
        parts.append(f"{listed(before)} day{'s' if before != [1] else ''} before the due date")
    if 0 in days:
        parts.append("on the due date" if not before else "on it")
    if after:
        parts.append(f"{listed(after)} day{'s' if after != [1] else ''} after" + ("" if parts else " the due date"))
    if not parts:
        return "no reminders"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def format_reminder_days(days: tuple[int, ...]) -> str:
    return ", ".join(str(day) for day in days)


def _from_row(row: MerchantSetting | None) -> MerchantProfile:
    config = current_app.config
    default_name, default_days = config["MERCHANT_NAME"], tuple(config.get("REMINDER_SCHEDULE", ()))
    if row is None:  # until an admin saves settings, the environment's defaults apply
        return MerchantProfile(default_name, "", "", config.get("INVOICE_DEFAULT_CURRENCY", DEFAULT_CURRENCY),
                               DEFAULT_TIME_ZONE, config.get("INVOICE_PAYMENT_TERMS_DAYS", DEFAULT_PAYMENT_TERMS_DAYS), "",
                               "", default_days)
    try:  # saved through parse_settings_input, so it parses; a hand-edited row falls back rather than break pages
        days = default_days if row.reminder_schedule is None else parse_reminder_days(row.reminder_schedule)
    except ValueError:
        days = default_days
    return MerchantProfile(row.business_name or default_name, row.address, row.tax_id, row.default_currency,
                           row.time_zone, row.payment_terms_days, row.invoice_footer, row.reply_to_email, days)


def merchant_settings() -> MerchantProfile:
    """The merchant's settings, read from the database once per request (or app context)."""
    profile = g.get("_merchant_profile")
    if profile is None:
        profile = g._merchant_profile = _from_row(db.session.get(MerchantSetting, 1))
    return profile


def forget_cached() -> None:
    g.pop("_merchant_profile", None)


def offered_currencies() -> list[str]:
    """Currencies the configured gateways can take (each adapter declares its own); with no gateway
    configured yet, those any gateway the portal knows could take, so a new install can still choose."""
    classes = registry.all_classes()
    configured = [cls for name, cls in classes.items() if cls.is_configured(current_app.config)]
    return sorted(set().union(*(cls.currencies for cls in (configured or classes.values()))))


class SettingsInputError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _text(form, name: str, errors: dict, *, multiline: bool = False, required: bool = False) -> str:
    value = (form.get(name) or "").strip()
    if multiline:
        value = value.replace("\r\n", "\n")
    bad = CONTROL_CHARS_RE.search(value) or (not multiline and "\n" in value)
    if bad:
        errors[name] = "must not contain control characters" + ("" if multiline else " or line breaks")
    elif required and not value:
        errors[name] = "is required"
    elif len(value) > LIMITS[name]:
        errors[name] = f"must be at most {LIMITS[name]} characters (this is {len(value)})"
    return value


def parse_settings_input(form) -> dict:
    """Check every field of the settings form; raise SettingsInputError naming each bad one."""
    errors: dict[str, str] = {}
    values = {
        "business_name": _text(form, "business_name", errors, required=True),
        "address": _text(form, "address", errors, multiline=True),
        "tax_id": _text(form, "tax_id", errors),
        "invoice_footer": _text(form, "invoice_footer", errors, multiline=True),
    }
    # The email fields came later: a form without them (an older page still open) leaves them as they are.
    if "reply_to_email" in form:
        reply_to = values["reply_to_email"] = _text(form, "reply_to_email", errors)
        if reply_to and "reply_to_email" not in errors and (
                not EMAIL_RE.match(reply_to) or any(c in reply_to for c in ",;<>\"")):
            errors["reply_to_email"] = "must be one email address like accounts@yourshop.in, or empty"
    if "reminder_schedule" in form:
        try:
            values["reminder_schedule"] = format_reminder_days(parse_reminder_days(form["reminder_schedule"]))
        except ValueError as exc:
            errors["reminder_schedule"] = str(exc)
    if values["tax_id"] and "tax_id" not in errors and not TAX_ID_RE.match(values["tax_id"]):
        errors["tax_id"] = "may hold letters, digits, spaces and . / - only (e.g. 29ABCDE1234F1Z5)"

    raw_currency = (form.get("default_currency") or "").strip()
    try:
        currency = normalize_currency(raw_currency)
        offered = offered_currencies()
        if currency not in offered:
            errors["default_currency"] = (f"none of the configured gateways takes {currency}; "
                                          f"choose one of {', '.join(offered)}")
        values["default_currency"] = currency
    except MoneyError as exc:
        errors["default_currency"] = str(exc)

    zone = (form.get("time_zone") or "").strip()
    try:
        if zone not in available_timezones():  # also refuses "", paths and oddities ZoneInfo would try
            raise ZoneInfoNotFoundError(zone)
        ZoneInfo(zone)
        values["time_zone"] = zone
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = f"is not a time zone we know: {zone[:60]!r}; choose one such as Asia/Kolkata"

    terms = (form.get("payment_terms_days") or "").strip()
    if not re.fullmatch(r"[0-9]{1,3}", terms) or int(terms) > MAX_TERMS_DAYS:
        errors["payment_terms_days"] = f"must be a whole number of days from 0 to {MAX_TERMS_DAYS}"
    else:
        values["payment_terms_days"] = int(terms)

    if errors:
        raise SettingsInputError(errors)
    return values


def stored_values() -> dict:
    """What the form shows: the saved row, or the defaults (MERCHANT_NAME for the name) before any save."""
    profile = _from_row(db.session.get(MerchantSetting, 1))
    return {
        "business_name": profile.business_name, "address": profile.address, "tax_id": profile.tax_id,
        "default_currency": profile.default_currency, "time_zone": profile.time_zone,
        "payment_terms_days": str(profile.payment_terms_days), "invoice_footer": profile.invoice_footer,
        "reply_to_email": profile.reply_to_email, "reminder_schedule": format_reminder_days(profile.reminder_days),
    }


def save_settings(values: dict) -> list[str]:
    """Store checked values (every field); return the names of the fields that changed."""
    before = stored_values()
    row = db.session.get(MerchantSetting, 1)
    before_row_name = row.business_name if row is not None else ""
    if row is None:
        row = MerchantSetting(id=1)
        db.session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    if not before_row_name and values["business_name"] == current_app.config["MERCHANT_NAME"]:
        row.business_name = ""  # saving the other fields is not choosing a name: MERCHANT_NAME still applies
    forget_cached()
    return [name for name, value in values.items() if str(value) != before[name]]
