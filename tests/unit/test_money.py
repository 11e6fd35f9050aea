"""Unit tests for portal.money -- pure, no app, no DB.

Every assertion is on something a merchant would see: the stored amount, the
displayed string, or the error message.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

import pytest
from babel.numbers import get_currency_precision

from portal.money import (
    EXPONENTS,
    Money,
    MoneyError,
    exponent,
    normalize_currency,
    sum_money,
)

# The four currencies the "Done when" names, with their exponents.
CORE = {"INR": 2, "USD": 2, "JPY": 0, "KWD": 3}


# ---------------------------------------------------------------------------
# Currency codes and the exponent table
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("code, places", sorted(CORE.items()))
def test_exponent_of_core_currencies(code, places):
    assert exponent(code) == places


@pytest.mark.parametrize(
    "code, places",
    [("ISK", 0), ("KRW", 0), ("VND", 0), ("CLP", 0), ("XOF", 0),
     ("BHD", 3), ("OMR", 3), ("IQD", 3), ("TND", 3),
     ("EUR", 2), ("GBP", 2), ("AED", 2), ("HUF", 2), ("IDR", 2)],
)
def test_exponent_table_follows_iso_4217(code, places):
    assert exponent(code) == places


def test_exponent_table_lists_only_non_default_exponents():
    assert all(v != 2 for v in EXPONENTS.values())
    assert all(re.fullmatch(r"[A-Z]{3}", k) for k in EXPONENTS)


def test_exponent_table_is_read_only():
    with pytest.raises(TypeError):
        EXPONENTS["INR"] = 0  # type: ignore[index]


@pytest.mark.parametrize("raw", ["inr", " INR ", "Inr", "\tinr\n"])
def test_currency_code_is_normalized(raw):
    assert normalize_currency(raw) == "INR"


@pytest.mark.parametrize("raw", ["XYZ", "rupees", "IN", "INRR", "₹", "US$", "I N", "123"])
def test_unknown_currency_is_rejected_with_the_code_in_the_message(raw):
    with pytest.raises(MoneyError, match=r"^Unknown currency code: ") as exc:
        normalize_currency(raw)
    assert repr(raw.strip()) in str(exc.value)


def test_unknown_currency_message_is_exact():
    with pytest.raises(MoneyError) as exc:
        normalize_currency("XYZ")
    assert str(exc.value) == "Unknown currency code: 'XYZ'"


@pytest.mark.parametrize("raw", ["", "   "])
def test_blank_currency_is_required(raw):
    with pytest.raises(MoneyError, match="Currency code is required"):
        normalize_currency(raw)


@pytest.mark.parametrize("raw", [None, 356, b"INR"])
def test_non_text_currency_is_rejected(raw):
    with pytest.raises(MoneyError, match="Currency code must be text"):
        normalize_currency(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "XDR"])
def test_codes_without_minor_unit_are_rejected(code):
    # Babel knows these, but ISO 4217 gives them no minor unit.
    with pytest.raises(MoneyError, match="Unknown currency code"):
        normalize_currency(code)


def test_exponent_rejects_unknown_currency():
    with pytest.raises(MoneyError, match="Unknown currency code: 'XYZ'"):
        exponent("XYZ")


def test_money_error_is_a_value_error():
    # API error handlers may catch ValueError generically.
    assert issubclass(MoneyError, ValueError)


# ---------------------------------------------------------------------------
# Money construction
# ---------------------------------------------------------------------------


def test_money_normalizes_currency():
    assert Money(100, " inr ").currency == "INR"
    assert Money(100, "inr") == Money(100, "INR")


def test_money_rejects_unknown_currency():
    with pytest.raises(MoneyError, match="Unknown currency code: 'XYZ'"):
        Money(100, "XYZ")


@pytest.mark.parametrize("bad", [12.5, 12.0, Decimal("12"), "1250", True, False, None])
def test_money_minor_must_be_int(bad):
    with pytest.raises(MoneyError, match="must be an int number of minor units"):
        Money(bad, "INR")  # type: ignore[arg-type]


def test_money_is_immutable_and_hashable():
    m = Money(100, "INR")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.minor = 5  # type: ignore[misc]
    assert {m, Money(100, "INR"), Money(100, "USD")} == {m, Money(100, "USD")}


def test_zero():
    z = Money.zero("jpy")
    assert z == Money(0, "JPY")
    assert not z
    assert z.decimal_string() == "0"


def test_bool_is_nonzero():
    assert Money(1, "INR")
    assert Money(-1, "INR")
    assert not Money(0, "INR")


# ---------------------------------------------------------------------------
# Parsing: exact conversions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, currency, minor",
    [
        ("1234.50", "INR", 123450),
        ("1234.5", "INR", 123450),
        ("1234", "INR", 123400),
        ("0.01", "INR", 1),
        ("0.1", "INR", 10),
        ("  1234.50  ", "INR", 123450),
        ("123456.50", "inr", 12345650),
        ("0012.30", "INR", 1230),
        ("1234.50", "USD", 123450),
        ("19.99", "USD", 1999),
        ("0.07", "USD", 7),
        ("1234", "JPY", 1234),
        ("0", "JPY", 0),
        ("1.234", "KWD", 1234),
        ("1.2", "KWD", 1200),
        ("0.005", "KWD", 5),
        ("1234.500", "KWD", 1234500),
        ("999999999999999.99", "INR", 99999999999999999),
        ("999999999999999", "JPY", 999999999999999),
        ("999999999999999.999", "KWD", 999999999999999999),
    ],
)
def test_parse_string_exactly(text, currency, minor):
    m = Money.parse(text, currency)
    assert m.minor == minor
    assert type(m.minor) is int
    assert m.currency == currency.upper()


@pytest.mark.parametrize(
    "value, currency, minor",
    [(12, "INR", 1200), (12, "USD", 1200), (12, "JPY", 12), (12, "KWD", 12000), (0, "INR", 0)],
)
def test_parse_int_is_major_units(value, currency, minor):
    assert Money.parse(value, currency).minor == minor


@pytest.mark.parametrize(
    "value, currency, minor",
    [
        (Decimal("1234.50"), "INR", 123450),
        (Decimal("1234.5"), "INR", 123450),
        (Decimal("0.01"), "USD", 1),
        (Decimal("1E+3"), "INR", 100000),
        (Decimal("500"), "JPY", 500),
        (Decimal("1.234"), "KWD", 1234),
        (Decimal("0.005"), "KWD", 5),
        (Decimal("0E+9"), "JPY", 0),
        (Decimal("0E+100"), "INR", 0),
        (Decimal("0.000"), "KWD", 0),
    ],
)
def test_parse_decimal_exactly(value, currency, minor):
    assert Money.parse(value, currency).minor == minor


def test_point_one_plus_point_two_is_exactly_point_three():
    total = Money.parse("0.1", "INR") + Money.parse("0.2", "INR")
    assert total == Money(30, "INR")
    assert total.decimal_string() == "0.30"
    assert total == Money.parse("0.3", "INR")


def test_many_small_amounts_sum_exactly():
    # Ten thousand 0.01 USD payments are exactly 100.00, no drift.
    assert sum_money([Money.parse("0.01", "USD")] * 10_000, "USD").decimal_string() == "100.00"


# ---------------------------------------------------------------------------
# Parsing: strict rejection
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, currency, message",
    [
        ("12.345", "INR", "INR amounts have at most 2 decimal places: '12.345'"),
        ("0.001", "INR", "INR amounts have at most 2 decimal places: '0.001'"),
        ("12.345", "USD", "USD amounts have at most 2 decimal places: '12.345'"),
        ("12.5", "JPY", "JPY amounts cannot have decimal places: '12.5'"),
        ("12.00", "JPY", "JPY amounts cannot have decimal places: '12.00'"),
        ("1.2345", "KWD", "KWD amounts have at most 3 decimal places: '1.2345'"),
        ("1.0000", "KWD", "KWD amounts have at most 3 decimal places: '1.0000'"),
    ],
)
def test_too_many_decimals_is_an_error_not_rounded(text, currency, message):
    with pytest.raises(MoneyError) as exc:
        Money.parse(text, currency)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "value, currency",
    [(Decimal("12.345"), "INR"), (Decimal("12.5"), "JPY"), (Decimal("1.2345"), "KWD"),
     (Decimal("1E-10"), "USD")],
)
def test_too_many_decimals_in_decimal_input(value, currency):
    with pytest.raises(MoneyError, match=f"^{currency} amounts .* decimal places"):
        Money.parse(value, currency)


@pytest.mark.parametrize(
    "text",
    ["abc", "1e3", "1E3", "NaN", "nan", "Infinity", "-Infinity", "inf", "+5", ".5",
     "5.", "1 234", "1_000", "12.3.4", "₹100", "$5", "0x10", "१२३", "１２", "--5", "5-"],
)
def test_garbage_is_rejected_with_a_hint(text):
    with pytest.raises(MoneyError) as exc:
        Money.parse(text, "INR")
    assert str(exc.value).startswith(f"Not a valid amount: {text!r}")
    assert "e.g. '1234.50'" in str(exc.value)


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_amount_is_required(text):
    with pytest.raises(MoneyError) as exc:
        Money.parse(text, "INR")
    assert str(exc.value) == "Amount is required"


@pytest.mark.parametrize("text", ["1,234.50", "1,23,456.50", "12,50", "1,000"])
def test_thousands_separators_and_decimal_commas_are_rejected(text):
    with pytest.raises(MoneyError) as exc:
        Money.parse(text, "INR")
    msg = str(exc.value)
    assert msg.startswith(f"Amount must not contain commas: {text!r}")
    assert "'1234.50'" in msg


@pytest.mark.parametrize("value", [12.5, 0.1, 12.0, float("nan")])
def test_float_is_rejected_and_told_to_use_a_string(value):
    with pytest.raises(MoneyError) as exc:
        Money.parse(value, "INR")  # type: ignore[arg-type]
    assert "float" in str(exc.value)
    assert "use a string" in str(exc.value)


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_rejected(value):
    with pytest.raises(MoneyError, match="not a true/false value"):
        Money.parse(value, "INR")


@pytest.mark.parametrize("value", [None, [], {"amount": "1"}, b"12.50"])
def test_other_types_are_rejected(value):
    with pytest.raises(MoneyError, match="Amount must be text such as '1234.50'"):
        Money.parse(value, "INR")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"),
                                   Decimal("sNaN")])
def test_non_finite_decimal_is_rejected(value):
    with pytest.raises(MoneyError, match="Amount must be a finite number"):
        Money.parse(value, "INR")


@pytest.mark.parametrize("value", ["-5", "-0.01", "-0", " -12.50 ", -5, Decimal("-5"),
                                   Decimal("-0")])
def test_negative_is_rejected_by_default(value):
    with pytest.raises(MoneyError, match="^Amount cannot be negative"):
        Money.parse(value, "INR")


@pytest.mark.parametrize(
    "value, currency, minor",
    [("-12.50", "INR", -1250), ("-0", "INR", 0), (-5, "JPY", -5), (Decimal("-1.234"), "KWD", -1234)],
)
def test_negative_allowed_when_asked(value, currency, minor):
    assert Money.parse(value, currency, allow_negative=True).minor == minor


def test_negative_still_checks_decimals():
    with pytest.raises(MoneyError, match="at most 2 decimal places"):
        Money.parse("-12.345", "INR", allow_negative=True)


@pytest.mark.parametrize(
    "value",
    ["1000000000000000", "1000000000000000.00", "9" * 5000, 10**15, -(10**15),
     Decimal("1E+15"), Decimal("1E+100000"), Decimal("1000000000000000.5")],
)
def test_too_large_is_rejected(value):
    with pytest.raises(MoneyError, match="^Amount is too large") as exc:
        Money.parse(value, "USD", allow_negative=True)
    assert "at most 15 digits" in str(exc.value)


def test_too_large_message_truncates_huge_input():
    with pytest.raises(MoneyError) as exc:
        Money.parse("9" * 5000, "USD")
    assert len(str(exc.value)) < 200


def test_leading_zeros_do_not_count_as_digits():
    assert Money.parse("000000000000000001.00", "INR").minor == 100


def test_parse_rejects_unknown_currency_before_amount():
    with pytest.raises(MoneyError, match="Unknown currency code: 'rupees'"):
        Money.parse("12.50", "rupees")


def test_parse_accepts_lowercase_currency():
    assert Money.parse("12.50", "inr") == Money(1250, "INR")


# ---------------------------------------------------------------------------
# decimal_string / as_decimal and round trips
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "minor, currency, text",
    [
        (123450, "INR", "1234.50"),
        (1, "INR", "0.01"),
        (0, "INR", "0.00"),
        (-1200, "INR", "-12.00"),
        (-5, "USD", "-0.05"),
        (123450, "USD", "1234.50"),
        (500, "JPY", "500"),
        (-500, "JPY", "-500"),
        (0, "JPY", "0"),
        (1234, "KWD", "1.234"),
        (5, "KWD", "0.005"),
        (1234500, "KWD", "1234.500"),
        (-1, "KWD", "-0.001"),
    ],
)
def test_decimal_string(minor, currency, text):
    assert Money(minor, currency).decimal_string() == text


@pytest.mark.parametrize(
    "minor, currency, text",
    [(123450, "INR", "1234.50"), (0, "INR", "0.00"), (500, "JPY", "500"),
     (1234, "KWD", "1.234"), (-1200, "USD", "-12.00")],
)
def test_as_decimal_is_exact_and_quantized(minor, currency, text):
    d = Money(minor, currency).as_decimal()
    assert isinstance(d, Decimal)
    assert str(d) == text
    assert d.as_tuple().exponent == -exponent(currency)


def _round_trip_minors():
    # Deterministic spread: every value 0..299, then strides through larger
    # magnitudes up to the 15-integer-digit limit, plus edge values.
    values = list(range(300))
    values += list(range(300, 10**7, 99_991))
    values += [10**k for k in range(19)] + [10**k - 1 for k in range(1, 19)]
    values += [123450, 12345650, 1234500, 999999999999999999]
    return values


@pytest.mark.parametrize("currency", ["INR", "USD", "JPY", "KWD", "BHD", "ISK", "CLF"])
def test_decimal_string_round_trips(currency):
    limit = 10 ** (15 + exponent(currency))
    checked = 0
    for minor in _round_trip_minors():
        if minor >= limit:
            continue
        for signed in (minor, -minor):
            m = Money(signed, currency)
            text = m.decimal_string()
            assert Money.parse(text, currency, allow_negative=True) == m, text
            assert Money.parse(m.as_decimal(), currency, allow_negative=True) == m, text
            checked += 1
    assert checked > 500


@pytest.mark.parametrize("currency", sorted(CORE))
def test_parse_then_decimal_string_is_canonical(currency):
    places = CORE[currency]
    for whole in range(0, 2000, 7):
        for frac in range(0, 10**places, max(1, 10**places // 13)):
            text = f"{whole}.{frac:0{places}d}" if places else str(whole)
            assert Money.parse(text, currency).decimal_string() == text


# ---------------------------------------------------------------------------
# Formatting (Babel)
# ---------------------------------------------------------------------------


def test_format_inr_uses_indian_grouping_by_default():
    assert Money(12345650, "INR").format() == "₹1,23,456.50"
    assert Money(12345650, "INR").format("en_IN") == "₹1,23,456.50"


def test_format_inr_large_amount_lakh_crore():
    assert Money(12345678900, "INR").format() == "₹12,34,56,789.00"


def test_format_inr_in_en_us_uses_western_grouping():
    assert Money(12345650, "INR").format("en_US") == "₹123,456.50"


def test_format_usd():
    assert Money(123450, "USD").format() == "$1,234.50"
    assert Money(5, "USD").format() == "$0.05"


def test_format_jpy_has_no_decimals():
    assert Money(1234, "JPY").format() == "¥1,234"
    # en_IN disambiguates the yen symbol; still no decimals.
    assert Money(1234, "JPY").format("en_IN") == "JP¥1,234"


@pytest.mark.parametrize("locale", [None, "en_US", "en_IN"])
def test_format_kwd_has_three_decimals(locale):
    text = Money(1234500, "KWD").format(locale)
    assert "KWD" in text
    assert re.search(r"(?<![\d,])1,234\.500(?!\d)", text), text


def test_format_kwd_exact_en_us():
    # Babel does not apply CLDR currencySpacing, so there is no space.
    assert Money(1234500, "KWD").format() == "KWD1,234.500"
    assert Money(5, "KWD").format() == "KWD0.005"


def test_format_negative():
    assert Money(-1200, "INR").format() == "-₹12.00"
    assert Money(-123450, "USD").format() == "-$1,234.50"


def test_format_other_locale_keeps_our_decimals():
    assert Money(123450, "INR").format("de_DE") == "1.234,50\xa0₹"
    assert Money(1234, "JPY").format("de_DE") == "1.234\xa0¥"
    assert Money(1234500, "KWD").format("de_DE") == "1.234,500\xa0KWD"


@pytest.mark.parametrize(
    "minor, currency, digits",
    [(1234, "IQD", "1.234"), (123456, "IDR", "1,234.56"), (123456, "HUF", "1,234.56"),
     (123456, "COP", "1,234.56")],
)
def test_format_uses_our_exponent_where_cldr_disagrees(minor, currency, digits):
    # CLDR says these have 0 digits; Babel's own currency_digits would round
    # IQD 1.234 to "IQD1" and IDR 1,234.56 to "IDR1,235".
    assert get_currency_precision(currency) == 0
    assert digits in Money(minor, currency).format()


@pytest.mark.parametrize("currency", sorted(CORE))
def test_cldr_agrees_with_our_table_for_core_currencies(currency):
    assert get_currency_precision(currency) == exponent(currency)


@pytest.mark.parametrize("locale", ["xx_YY", "", "not a locale"])
def test_format_unknown_locale(locale):
    with pytest.raises(MoneyError, match="^Unknown locale"):
        Money(100, "USD").format(locale)


# ---------------------------------------------------------------------------
# Arithmetic and comparisons
# ---------------------------------------------------------------------------


def test_add_and_subtract_same_currency():
    a, b = Money.parse("100.25", "INR"), Money.parse("0.75", "INR")
    assert (a + b).decimal_string() == "101.00"
    assert (a - b).decimal_string() == "99.50"
    assert (b - a).decimal_string() == "-99.50"


@pytest.mark.parametrize("op, verb", [(lambda a, b: a + b, "add"), (lambda a, b: a - b, "subtract")])
def test_arithmetic_across_currencies_is_rejected(op, verb):
    with pytest.raises(MoneyError) as exc:
        op(Money(100, "INR"), Money(100, "USD"))
    assert str(exc.value) == f"Cannot {verb} INR and USD amounts"


def test_add_non_money_is_type_error():
    with pytest.raises(TypeError):
        Money(100, "INR") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(100, "INR") + Decimal("1")  # type: ignore[operator]


def test_multiply_by_int_quantity():
    unit = Money.parse("499.99", "INR")
    assert (unit * 3).decimal_string() == "1499.97"
    assert (3 * unit).decimal_string() == "1499.97"
    assert (Money.parse("1.005", "KWD") * 7).decimal_string() == "7.035"
    assert (Money(1500, "JPY") * 0) == Money(0, "JPY")


@pytest.mark.parametrize("factor", [1.5, 2.0, Decimal("1.5"), True, "2", Money(2, "INR")])
def test_multiply_by_non_int_is_rejected(factor):
    with pytest.raises(MoneyError, match="whole-number quantity"):
        Money(100, "INR") * factor  # type: ignore[operator]


def test_multiply_from_left_by_float_is_rejected():
    with pytest.raises(MoneyError, match="whole-number quantity"):
        1.5 * Money(100, "INR")  # type: ignore[operator]


def test_comparisons_same_currency():
    small, big = Money.parse("9.99", "USD"), Money.parse("10", "USD")
    assert small < big and small <= big and big > small and big >= small
    assert small <= Money(999, "USD") and small >= Money(999, "USD")
    assert not (big < small)
    assert max([small, big]) is big


@pytest.mark.parametrize(
    "op", [lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b, lambda a, b: a >= b]
)
def test_comparisons_across_currencies_are_rejected(op):
    with pytest.raises(MoneyError, match="Cannot compare INR and USD amounts"):
        op(Money(100, "INR"), Money(1, "USD"))


def test_order_comparison_with_non_money_is_type_error():
    with pytest.raises(TypeError):
        Money(100, "INR") < 5  # type: ignore[operator]


def test_equality_includes_currency():
    assert Money(100, "INR") != Money(100, "USD")
    assert Money(100, "INR") == Money(100, "INR")
    assert Money(100, "INR") != 100


# ---------------------------------------------------------------------------
# sum_money
# ---------------------------------------------------------------------------


def test_sum_money():
    items = [Money.parse(t, "INR") for t in ("0.10", "0.20", "1234.50", "99.20")]
    assert sum_money(items, "inr").decimal_string() == "1334.00"


def test_sum_money_empty_is_zero_in_that_currency():
    assert sum_money([], "KWD") == Money(0, "KWD")
    assert sum_money(iter(()), "JPY").decimal_string() == "0"


def test_sum_money_mixed_currency_is_rejected():
    with pytest.raises(MoneyError, match="Cannot add INR and USD amounts"):
        sum_money([Money(100, "INR"), Money(100, "USD")], "INR")


def test_sum_money_wrong_target_currency_is_rejected():
    with pytest.raises(MoneyError, match="Cannot add USD and INR amounts"):
        sum_money([Money(100, "INR")], "USD")


@pytest.mark.parametrize("bad", [1, "1.00", Decimal("1"), None])
def test_sum_money_rejects_non_money(bad):
    with pytest.raises(MoneyError, match="Can only sum Money amounts"):
        sum_money([Money(100, "INR"), bad], "INR")  # type: ignore[list-item]


def test_sum_money_unknown_currency():
    with pytest.raises(MoneyError, match="Unknown currency code: 'XYZ'"):
        sum_money([], "XYZ")


# ---------------------------------------------------------------------------
# No float anywhere
# ---------------------------------------------------------------------------


def test_module_never_converts_to_float():
    import inspect

    import portal.money as money_module

    assert "float(" not in inspect.getsource(money_module)


def test_division_is_not_supported():
    # Splitting an amount needs an explicit allocation rule, not "/".
    with pytest.raises(TypeError):
        Money(100, "INR") / 3  # type: ignore[operator]
