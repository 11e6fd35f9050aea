"""Money for HisabPro: integer minor units plus an ISO 4217 currency code.

Rules this module enforces (and the rest of the portal relies on):

* An amount is always ``Money(minor=<int>, currency=<ISO code>)``.  ``minor``
  is an exact count of the currency's minor unit (paise, cents, fils, ...).
* No ``float`` ever touches money -- not at the edges and not internally.
  Parsing works on the text / ``Decimal`` digits directly and converts with
  integer arithmetic only; formatting hands Babel an exact ``Decimal``.
* Parsing is strict: a value that has more decimal places than the currency
  allows (``"12.345"`` INR, ``"12.5"`` JPY) is an error, never rounded.
* Every rejection is a :class:`MoneyError` (a ``ValueError``) whose message is
  written for a merchant, because it is shown in forms and JSON API errors.
"""

from __future__ import annotations

import copy
import decimal
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, list_currencies

__all__ = [
    "EXPONENTS",
    "MAX_INTEGER_DIGITS",
    "Money",
    "MoneyError",
    "exponent",
    "normalize_currency",
    "sum_money",
]


class MoneyError(ValueError):
    """Invalid money input or operation; ``str(err)`` is safe to show merchants."""


# ---------------------------------------------------------------------------
# Currencies and exponents
# ---------------------------------------------------------------------------

DEFAULT_EXPONENT: Final = 2

# ISO 4217 minor-unit exponents for every currency that does NOT use 2 decimals.
# This table is the single source of truth for how many decimals an amount has;
# Babel/CLDR's "currency digits" are deliberately NOT used because CLDR differs
# from ISO 4217 for several currencies (e.g. CLDR says IQD, IDR, HUF, COP have 0
# digits; ISO says 3 / 2 / 2 / 2).
#
# ISO 4217 lists ISK as 0-decimal and that is what we store.  Some payment
# gateways disagree with ISO for particular currencies (e.g. they want ISK or
# HUF sent as 2-decimal values); such gateway-specific overrides belong in the
# gateway adapters when they build a request, NOT here.
EXPONENTS: Final[Mapping[str, int]] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
            ).split(),
            0,
        ),
        **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
        # ISO 4217 4-decimal units of account (Chile UF, Uruguay UP).
        **dict.fromkeys("CLF UYW".split(), 4),
    }
)

# Codes Babel knows but that ISO 4217 gives no minor unit ("N.A."): precious
# metals, bond-market units, SDR, and the testing / "no currency" codes.  They
# cannot be represented as integer minor units, so they are not accepted.
_NO_MINOR_UNIT: Final = frozenset(
    "XAG XAU XPD XPT XBA XBB XBC XBD XDR XSU XUA XTS XXX".split()
)

_KNOWN_CURRENCIES: Final = frozenset(list_currencies()) - _NO_MINOR_UNIT

_CODE_RE: Final = re.compile(r"[A-Z]{3}", re.ASCII)

# Largest accepted amount in parse(): 15 digits before the decimal point
# (999,999,999,999,999 major units).  Keeps every amount well inside
# NUMERIC(18, 3) / BIGINT columns and gateway limits.
MAX_INTEGER_DIGITS: Final = 15

# What an amount string may look like: optional minus, ASCII digits, optional
# "." followed by at least one digit.  No exponent, no thousands separators,
# no "+", no non-ASCII digits, no underscores -- Decimal() would accept all of
# those, which is why we do not hand raw text to Decimal().
_AMOUNT_RE: Final = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?", re.ASCII)

_SHOW_MAX: Final = 40


def _show(value: object) -> str:
    """Quote user input for an error message, truncated so huge input stays readable."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > _SHOW_MAX:
        text = text[: _SHOW_MAX - 3] + "..."
    return repr(text)


def normalize_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code, or raise :class:`MoneyError`.

    Leading/trailing whitespace is ignored and case does not matter
    (``" inr "`` -> ``"INR"``).  The code must be three letters and a
    currency Babel (CLDR) knows.
    """
    if not isinstance(code, str):
        raise MoneyError(
            f"Currency code must be text such as 'INR', not {type(code).__name__}"
        )
    normalized = code.strip().upper()
    if not normalized:
        raise MoneyError("Currency code is required, e.g. 'INR'")
    if not _CODE_RE.fullmatch(normalized) or normalized not in _KNOWN_CURRENCIES:
        raise MoneyError(f"Unknown currency code: {_show(code.strip())}")
    return normalized


def exponent(currency: str) -> int:
    """Number of decimal places (minor-unit exponent) of ``currency``."""
    return EXPONENTS.get(normalize_currency(currency), DEFAULT_EXPONENT)


def _too_large(shown: str) -> MoneyError:
    return MoneyError(
        f"Amount is too large: {shown} "
        f"(at most {MAX_INTEGER_DIGITS} digits before the decimal point)"
    )


def _decimal_places_message(currency: str, places: int, shown: str) -> str:
    if places == 0:
        return f"{currency} amounts cannot have decimal places: {shown}"
    unit = "place" if places == 1 else "places"
    return f"{currency} amounts have at most {places} decimal {unit}: {shown}"


def _to_minor(
    negative: bool,
    int_digits: str,
    frac_digits: str,
    currency: str,
    shown: str,
    allow_negative: bool,
) -> int:
    """Digits (ASCII strings) -> exact integer minor units, with all checks."""
    places = EXPONENTS.get(currency, DEFAULT_EXPONENT)
    if negative and not allow_negative:
        raise MoneyError(f"Amount cannot be negative: {shown}")
    if len(frac_digits) > places:
        raise MoneyError(_decimal_places_message(currency, places, shown))
    significant = int_digits.lstrip("0")
    if len(significant) > MAX_INTEGER_DIGITS:
        raise _too_large(shown)
    minor = int(significant or "0") * 10**places + int(
        frac_digits.ljust(places, "0") or "0"
    )
    return -minor if negative else minor


# ---------------------------------------------------------------------------
# Money
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``minor`` units of ``currency`` (ISO 4217 code).

    ``Money(123450, "INR")`` is ₹1,234.50.  Construct from user input with
    :meth:`parse`, never from a float.
    """

    minor: int
    currency: str

    def __post_init__(self) -> None:
        # bool is a subclass of int; True paise is a bug, not an amount.
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise MoneyError(
                "Money.minor must be an int number of minor units, "
                f"not {type(self.minor).__name__}: {_show(self.minor)}"
            )
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    # -- construction -------------------------------------------------------

    @classmethod
    def parse(
        cls,
        text: str | int | decimal.Decimal,
        currency: str,
        *,
        allow_negative: bool = False,
    ) -> Money:
        """Parse a major-unit amount exactly.

        * ``str``: ``"1234.5"``, ``"1234.50"``, ``" 1234.50 "``.  Rejected:
          empty, thousands separators or decimal commas (``"1,234.50"``),
          exponents (``"1e3"``), ``"NaN"``/``"Infinity"``, ``"+5"``, ``".5"``.
        * ``int``: whole major units (``12`` INR -> 1200 paise).
        * ``Decimal``: must be finite.
        * ``float`` (and ``bool``) are always rejected.

        More decimal places than the currency allows is an error (``"12.345"``
        INR, ``"12.5"`` JPY, ``"12.00"`` JPY) -- nothing is ever rounded.
        Negative amounts (including ``"-0"``) are rejected unless
        ``allow_negative=True``.
        """
        code = normalize_currency(currency)

        if isinstance(text, bool):
            raise MoneyError(
                f"Amount must be a number, not a true/false value ({text})"
            )
        if isinstance(text, float):
            raise MoneyError(
                f"Amount must not be a float ({text!r}); "
                "use a string such as '12.50' or a Decimal"
            )

        if isinstance(text, int):
            shown = _show(text)
            # Check size before str(): str() of a huge int is slow / may raise.
            if abs(text) >= 10**MAX_INTEGER_DIGITS:
                raise _too_large(shown)
            minor = _to_minor(text < 0, str(abs(text)), "", code, shown, allow_negative)
            return cls(minor, code)

        if isinstance(text, decimal.Decimal):
            shown = _show(text)
            if not text.is_finite():
                raise MoneyError(f"Amount must be a finite number: {shown}")
            sign, digit_tuple, exp = text.as_tuple()
            assert isinstance(exp, int)  # finite => int exponent
            digits = "".join(map(str, digit_tuple))
            if digits.strip("0") == "":
                # Zero with any exponent (0E+9, 0.000...): only the places count.
                int_digits, frac_digits = "0", "0" * max(0, -exp)
            elif exp >= 0:
                if len(digits) + exp > MAX_INTEGER_DIGITS:
                    raise _too_large(shown)
                int_digits, frac_digits = digits + "0" * exp, ""
            else:
                places = -exp
                padded = digits.rjust(places + 1, "0")
                int_digits, frac_digits = padded[:-places], padded[-places:]
            minor = _to_minor(
                bool(sign), int_digits, frac_digits, code, shown, allow_negative
            )
            return cls(minor, code)

        if not isinstance(text, str):
            raise MoneyError(
                "Amount must be text such as '1234.50', "
                f"not {type(text).__name__}"
            )

        stripped = text.strip()
        shown = _show(stripped)
        if not stripped:
            raise MoneyError("Amount is required")
        match = _AMOUNT_RE.fullmatch(stripped)
        if match is None:
            if "," in stripped:
                raise MoneyError(
                    f"Amount must not contain commas: {shown}; write it without "
                    "thousands separators and with '.' as the decimal point, "
                    "e.g. '1234.50'"
                )
            raise MoneyError(
                f"Not a valid amount: {shown}; use digits with an optional "
                "decimal point, e.g. '1234.50'"
            )
        minus, int_digits, frac_digits = match.groups()
        minor = _to_minor(
            minus == "-", int_digits, frac_digits or "", code, shown, allow_negative
        )
        return cls(minor, code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    # -- conversion ---------------------------------------------------------

    @property
    def exponent(self) -> int:
        return EXPONENTS.get(self.currency, DEFAULT_EXPONENT)

    def decimal_string(self) -> str:
        """Major units with exactly the currency's decimals, no separators.

        INR 123450 -> ``"1234.50"``; JPY 500 -> ``"500"``; KWD 1234 ->
        ``"1.234"``; INR -1200 -> ``"-12.00"``.  ``Money.parse`` accepts it back.
        """
        places = self.exponent
        sign = "-" if self.minor < 0 else ""
        if places == 0:
            return f"{sign}{abs(self.minor)}"
        major, frac = divmod(abs(self.minor), 10**places)
        return f"{sign}{major}.{frac:0{places}d}"

    def as_decimal(self) -> decimal.Decimal:
        """Exact ``Decimal`` in major units, quantized to the currency's places."""
        digits = tuple(int(c) for c in str(abs(self.minor)))
        return decimal.Decimal((int(self.minor < 0), digits, -self.exponent))

    def format(self, locale: str | None = None) -> str:
        """Human display via Babel, e.g. ``₹1,23,456.50`` (en_IN), ``$1,234.50``.

        Default locale: ``en_IN`` for INR, ``en_US`` otherwise.  The number of
        decimals always comes from :data:`EXPONENTS`, never from CLDR.
        """
        if locale is None:
            locale = "en_IN" if self.currency == "INR" else "en_US"
        try:
            loc = Locale.parse(locale)
        except (UnknownLocaleError, ValueError, TypeError) as exc:
            raise MoneyError(f"Unknown locale: {_show(locale)}") from exc
        # Take the locale's own currency pattern (symbol position, grouping
        # such as Indian 2-digit groups) and pin its fraction digits to OUR
        # exponent.  With Babel's currency_digits=True CLDR's digits would be
        # used instead, and CLDR rounds e.g. IQD/IDR/HUF to 0 decimals.
        pattern = copy.copy(loc.currency_formats["standard"])
        places = self.exponent
        pattern.frac_prec = (places, places)
        return format_currency(
            self.as_decimal(),
            self.currency,
            format=pattern,
            locale=loc,
            currency_digits=False,
            decimal_quantization=True,
        )

    def __str__(self) -> str:
        return f"{self.decimal_string()} {self.currency}"

    def __bool__(self) -> bool:
        return self.minor != 0

    # -- arithmetic ---------------------------------------------------------

    def _same_currency(self, other: Money, verb: str) -> None:
        if other.currency != self.currency:
            raise MoneyError(
                f"Cannot {verb} {self.currency} and {other.currency} amounts"
            )

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(self.minor - other.minor, self.currency)

    def __mul__(self, quantity: object) -> Money:
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise MoneyError(
                "Money can only be multiplied by a whole-number quantity (int), "
                f"not {type(quantity).__name__}"
            )
        return Money(self.minor * quantity, self.currency)

    __rmul__ = __mul__

    # -- comparisons (same currency only) ------------------------------------

    def _cmp_key(self, other: object) -> tuple[int, int] | None:
        if not isinstance(other, Money):
            return None
        self._same_currency(other, "compare")
        return self.minor, other.minor

    def __lt__(self, other: object) -> bool:
        pair = self._cmp_key(other)
        return NotImplemented if pair is None else pair[0] < pair[1]

    def __le__(self, other: object) -> bool:
        pair = self._cmp_key(other)
        return NotImplemented if pair is None else pair[0] <= pair[1]

    def __gt__(self, other: object) -> bool:
        pair = self._cmp_key(other)
        return NotImplemented if pair is None else pair[0] > pair[1]

    def __ge__(self, other: object) -> bool:
        pair = self._cmp_key(other)
        return NotImplemented if pair is None else pair[0] >= pair[1]


def sum_money(items: Iterable[Money], currency: str) -> Money:
    """Sum amounts that must all be in ``currency``; empty -> zero."""
    total = Money.zero(currency)
    for item in items:
        if not isinstance(item, Money):
            raise MoneyError(
                f"Can only sum Money amounts, not {type(item).__name__}"
            )
        total = total + item
    return total
