"""Stripe amount rules (https://docs.stripe.com/currencies, "Zero-decimal", "Three-decimal",
"Minimum and maximum charge amounts")."""

from __future__ import annotations

from .params import invalid_request

ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                "xof", "xpf"}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}

# Minimum charge in minor units (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500, "dkk": 250,
    "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300,
    "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}
# "The amount value supports up to eight digits" (same page).
MAXIMUM_CHARGE = 99_999_999

SUPPORTED = ZERO_DECIMAL | THREE_DECIMAL | set(MINIMUM_CHARGE) | {
    "isk", "bdt", "egp", "idr", "ils", "kes", "lkr", "mad", "ngn", "php", "pkr", "qar", "sar", "try", "twd", "uah",
    "zar", "cny", "cop", "pen", "ars", "kzt", "ghs",
}


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def format_major(amount: int, currency: str) -> str:
    exp = exponent(currency)
    if exp == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10 ** exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def check_currency(currency: str, param: str) -> str:
    if currency != currency.lower() or currency not in SUPPORTED:
        raise invalid_request(f"Invalid currency: {currency}. Stripe currently supports these currencies: "
                              + ", ".join(sorted(SUPPORTED)), param)
    return currency


def check_unit_amount(amount: int, currency: str, param: str) -> None:
    if amount < 0:
        raise invalid_request("This value must be greater than or equal to 0.", param)
    if currency in THREE_DECIMAL and amount % 10:
        raise invalid_request(f"Amounts in {currency.upper()} must have 0 as the last digit (three-decimal currency).",
                              param, "amount_invalid")
    if currency == "isk" and amount % 100:
        raise invalid_request("ISK amounts must be a multiple of 100 (it is sent as two-decimal but has no "
                              "fractional units).", param, "amount_invalid")


def check_total(total: int, currency: str) -> None:
    minimum = MINIMUM_CHARGE.get(currency, 50)
    if total < minimum:
        raise invalid_request(
            f"The Checkout Session's total amount due must add up to at least {format_major(minimum, currency)} "
            f"{currency}", None, "amount_too_small")
    if total > MAXIMUM_CHARGE:
        raise invalid_request(f"The Checkout Session's total amount due must be no more than "
                              f"{format_major(MAXIMUM_CHARGE, currency)} {currency}", None, "amount_too_large")
