"""How an invoice's total is computed: the one function behind the form's running total, the save,
the API, the pay page and the amount every gateway is asked for (README "How totals are computed").

Everything is integer arithmetic on minor units; quantities are thousandths (1.5 -> 1500) and
percentages are thousandths of a percent (8.875 % -> 8875). Every rounding is half-up, once, per line:

1. Line net      = quantity x unit price, rounded half-up to the minor unit.
2. Subtotal      = sum of line nets.
3. Discount      = a percent of the subtotal, rounded half-up; or an amount (at most the subtotal).
4. The discount is shared over the lines in proportion to their nets: each line gets the rounded-down
   share, and the minor units left over go one each to the lines with the largest remainders
   (earlier line first on a tie), so the shares add up to the discount exactly.
5. Line tax      = (line net - its discount share) x the line's rate, rounded half-up.
6. Tax per rate  = sum of the line taxes at that rate (rates named as on the lines).
7. Total         = subtotal - discount + all line taxes.
"""
from __future__ import annotations

from dataclasses import dataclass

MILLI = 1000                 # quantity thousandths per unit
PERCENT_MILLI = 100 * 1000   # thousandths of a percent in a whole


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator to the nearest integer, halves up (both non-negative)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class LineInput:
    quantity_milli: int
    unit_price_minor: int
    tax_name: str = ""            # "" : no tax on this line
    tax_percent_milli: int = 0


@dataclass(frozen=True)
class LineTotals:
    net_minor: int
    discount_minor: int
    tax_minor: int


@dataclass(frozen=True)
class TaxTotal:
    name: str
    percent_milli: int
    taxable_minor: int
    tax_minor: int


@dataclass(frozen=True)
class Totals:
    lines: tuple[LineTotals, ...]
    subtotal_minor: int
    discount_minor: int
    taxes: tuple[TaxTotal, ...]
    total_minor: int

    @property
    def tax_minor(self) -> int:
        return sum(t.tax_minor for t in self.taxes)


class DiscountTooLarge(ValueError):
    """An amount discount above the subtotal: the invoice would go negative."""


def line_net(quantity_milli: int, unit_price_minor: int) -> int:
    return round_half_up(quantity_milli * unit_price_minor, MILLI)


def discount_amount(subtotal_minor: int, percent_milli: int = 0, amount_minor: int = 0) -> int:
    if percent_milli:
        return round_half_up(subtotal_minor * percent_milli, PERCENT_MILLI)
    if amount_minor > subtotal_minor:
        raise DiscountTooLarge("the discount cannot be more than the subtotal")
    return amount_minor


def allocate(amount: int, weights: list[int]) -> list[int]:
    """Split `amount` over `weights` proportionally, largest remainder first; the parts sum to `amount`."""
    whole = sum(weights)
    if not amount or not whole:
        return [0] * len(weights)
    shares = [amount * w // whole for w in weights]
    remainders = [amount * w % whole for w in weights]
    left = amount - sum(shares)
    # Largest remainder first; on a tie, the earlier line.
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    return shares


def compute(lines: list[LineInput], *, discount_percent_milli: int = 0, discount_amount_minor: int = 0) -> Totals:
    nets = [line_net(line.quantity_milli, line.unit_price_minor) for line in lines]
    subtotal = sum(nets)
    discount = discount_amount(subtotal, discount_percent_milli, discount_amount_minor)
    shares = allocate(discount, nets)
    line_totals = []
    by_rate: dict[tuple[str, int], list[int]] = {}
    for line, net, share in zip(lines, nets, shares):
        taxable = net - share
        tax = round_half_up(taxable * line.tax_percent_milli, PERCENT_MILLI) if line.tax_name else 0
        line_totals.append(LineTotals(net, share, tax))
        if line.tax_name:
            sums = by_rate.setdefault((line.tax_name, line.tax_percent_milli), [0, 0])
            sums[0] += taxable
            sums[1] += tax
    taxes = tuple(TaxTotal(name, pct, taxable, tax) for (name, pct), (taxable, tax) in by_rate.items())
    total = subtotal - discount + sum(t.tax_minor for t in taxes)
    return Totals(tuple(line_totals), subtotal, discount, taxes, total)


def format_milli(value: int) -> str:
    """Thousandths as the shortest exact decimal: 1500 -> "1.5", 2000 -> "2", 8875 -> "8.875"."""
    whole, frac = divmod(value, MILLI)
    return f"{whole}.{frac:03d}".rstrip("0") if frac else str(whole)
