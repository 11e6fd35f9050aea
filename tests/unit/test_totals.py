"""The rules of portal/totals.py (README "How totals are computed"), worked in INR, USD, JPY and KWD.

Each expected number is worked by hand in the comment beside it, in the currency's minor units.
"""
import pytest

from portal.money import Money
from portal.totals import DiscountTooLarge, LineInput, allocate, compute, format_milli, round_half_up

GST18 = ("GST 18%", 18_000)
GST5 = ("GST 5%", 5_000)
SALES = ("Sales tax 8.875%", 8_875)


def line(qty_milli, price, currency, rate=None):
    name, pct = rate or ("", 0)
    return LineInput(qty_milli, Money.parse(price, currency).minor, name, pct)


def test_half_up_rounds_halves_up_and_nothing_else():
    assert [round_half_up(n, 10) for n in (14, 15, 16, 25, 0)] == [1, 2, 2, 3, 0]
    assert round_half_up(1, 3) == 0 and round_half_up(2, 3) == 1
    with pytest.raises(ValueError):
        round_half_up(-1, 2)


def test_inr_two_rates_fractional_quantity_and_percent_discount():
    totals = compute([line(1500, "999.99", "INR", GST18), line(2000, "250.00", "INR", GST5)],
                     discount_percent_milli=10_000)
    # 1.5 x 99999 paise = 149998.5 -> 149999; 2 x 25000 = 50000
    assert [l.net_minor for l in totals.lines] == [149999, 50000]
    assert totals.subtotal_minor == 199999
    # 10 % of 199999 = 19999.9 -> 20000, shared 14999.97 / 5000.02: floors 14999 + 5000, the paisa left
    # goes to the larger remainder (line 1)
    assert totals.discount_minor == 20000
    assert [l.discount_minor for l in totals.lines] == [15000, 5000]
    # tax on 134999 at 18 % = 24299.82 -> 24300; on 45000 at 5 % = 2250
    assert [(t.name, t.taxable_minor, t.tax_minor) for t in totals.taxes] == [
        ("GST 18%", 134999, 24300), ("GST 5%", 45000, 2250)]
    assert totals.total_minor == 199999 - 20000 + 24300 + 2250 == 206549
    assert Money(totals.total_minor, "INR").decimal_string() == "2065.49"


def test_usd_half_cent_rounds_up_and_three_decimal_rate():
    totals = compute([line(500, "0.25", "USD", SALES), line(1000, "10.00", "USD", SALES)])
    # 0.5 x 25 cents = 12.5 -> 13; 8.875 % of (13 + 1000) cents = 89.90... per line: 1.15375 -> 1, 88.75 -> 89
    assert [l.net_minor for l in totals.lines] == [13, 1000]
    assert [l.tax_minor for l in totals.lines] == [1, 89]
    assert totals.taxes[0].tax_minor == 90 and totals.taxes[0].taxable_minor == 1013
    assert totals.total_minor == 1103


def test_jpy_has_no_minor_unit_and_amount_discount():
    totals = compute([line(1500, "333", "JPY", ("Consumption tax 10%", 10_000))], discount_amount_minor=100)
    # 1.5 x 333 = 499.5 -> 500 yen; minus 100; 10 % of 400 = 40
    assert totals.subtotal_minor == 500 and totals.discount_minor == 100
    assert totals.tax_minor == 40 and totals.total_minor == 440


def test_kwd_three_decimals():
    totals = compute([line(2500, "1.333", "KWD", ("VAT 5%", 5_000)), line(1000, "0.001", "KWD")],
                     discount_percent_milli=12_500)
    # 2.5 x 1333 fils = 3332.5 -> 3333; subtotal 3334; 12.5 % = 416.75 -> 417 shared 416.875 / 0.125:
    # floors 416 + 0, the fils left goes to line 1 (remainder 0.875 > 0.125)
    assert totals.subtotal_minor == 3334 and totals.discount_minor == 417
    assert [l.discount_minor for l in totals.lines] == [417, 0]
    # 5 % of 2916 = 145.8 -> 146; the untaxed line adds nothing
    assert totals.taxes[0].tax_minor == 146
    assert totals.total_minor == 3334 - 417 + 146 == 3063
    assert Money(totals.total_minor, "KWD").decimal_string() == "3.063"


def test_discount_shares_always_add_up_and_ties_go_to_the_earlier_line():
    assert allocate(1, [100, 100, 100]) == [1, 0, 0]
    assert allocate(2, [100, 100, 100]) == [1, 1, 0]
    for amount in range(0, 50):
        assert sum(allocate(amount, [7, 13, 1, 29])) == amount


def test_whole_discount_leaves_nothing_and_too_large_amount_is_refused():
    assert compute([line(1000, "100.00", "INR", GST18)], discount_percent_milli=100_000).total_minor == 0
    with pytest.raises(DiscountTooLarge):
        compute([line(1000, "1.00", "USD")], discount_amount_minor=101)


def test_lines_without_tax_give_the_old_total():
    totals = compute([line(2000, "1234.50", "INR")])
    assert totals.total_minor == 246900 and totals.taxes == ()


def test_thousandths_print_exactly():
    assert [format_milli(v) for v in (1500, 2000, 8875, 1, 18000)] == ["1.5", "2", "8.875", "0.001", "18"]
