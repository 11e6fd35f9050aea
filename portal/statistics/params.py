"""Reading a period and a currency from the query string, for the page, the CSV and the API alike."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ..money import MoneyError, normalize_currency
from ..validation import query_choice, query_date, query_text
from .numbers import Period, PeriodError

PAGE_CHOICES = {"today": "Today", "7": "Last 7 days", "30": "Last 30 days", "90": "Last 90 days",
                "custom": "Custom dates"}
PAGE_DEFAULT = "30"


@dataclass(frozen=True)
class Selection:
    period: Period
    currency: str | None
    all_time: bool
    choice: str              # the page's period choice ("30", "custom"...); "" for the API


def _currency() -> str | None:
    raw = query_text("currency", max_length=10).strip()
    if not raw:
        return None
    try:
        return normalize_currency(raw)
    except MoneyError as exc:
        raise PeriodError(f"'currency': {exc}.") from None


def api_selection(today: date) -> Selection:
    """?from=&to=&currency=: no dates means all time (what the API always answered); `to` alone means
    from the first recorded day, `from` alone up to today. Malformed dates: InvalidParameter (400);
    from after to, too long a period, an unknown currency: PeriodError (422)."""
    first, last = query_date("from"), query_date("to")
    currency = _currency()
    return Selection(Period.checked(first, last, today), currency, first is None and last is None, "")


def page_selection(today: date) -> Selection:
    """The page's ?period=today|7|30|90|custom (default 30) with from/to for custom, and currency."""
    choice = query_choice("period", tuple(PAGE_CHOICES), PAGE_DEFAULT)
    first, last = query_date("from"), query_date("to")
    currency = _currency()
    if choice == "custom":
        if first is None:
            raise PeriodError("Choose the first day of the period ('From').")
        return Selection(Period.checked(first, last, today), currency, False, choice)
    days = 1 if choice == "today" else int(choice)
    return Selection(Period(today - timedelta(days=days - 1), today), currency, False, choice)


def api_query(selection: Selection) -> dict:
    """The API parameters that answer exactly what this selection shows."""
    query = {"from": selection.period.first.isoformat() if selection.period.first else None,
             "to": selection.period.last.isoformat(), "currency": selection.currency}
    return {k: v for k, v in query.items() if v}
