"""Money arithmetic: `Decimal` throughout, rounded to the cent once, at the end."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)


def cents(amount: Decimal) -> Decimal:
    """Round an amount to the cent, half up, as a bill does."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def usd(amount: Decimal) -> str:
    """Format an amount for people: thousands separators, two decimals."""
    return f"{cents(amount):,.2f}"


def plain(amount: Decimal) -> str:
    """Format a quantity without trailing zeros (``2190``, ``0.25``)."""
    normal = amount.normalize()
    text = f"{normal:f}"
    return text
