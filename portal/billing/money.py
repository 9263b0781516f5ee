"""Rounding rules: half-up to the cent, each line on its own."""
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


def round_half_up(value: Decimal | Fraction | int) -> int:
    """Round a fractional amount of cents to whole cents, halves away from zero.

    A ``Fraction`` is rounded exactly (no intermediate decimal expansion), so 5000 × 12/31
    and the like never depend on a context's precision.
    """
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        num, den = value.numerator, value.denominator
        sign = -1 if num < 0 else 1
        q, r = divmod(abs(num), den)
        return sign * (q + (1 if 2 * r >= den else 0))
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
