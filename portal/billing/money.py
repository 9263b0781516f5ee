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
        return divide_half_up(value.numerator, value.denominator)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def divide_half_up(num: int, den: int) -> int:
    """``num / den`` (``den`` > 0) rounded to a whole number, halves away from zero, in
    integers: the rounding of :func:`round_half_up` for a ratio held as two ints."""
    sign = -1 if num < 0 else 1
    q, r = divmod(abs(num), den)
    return sign * (q + (1 if 2 * r >= den else 0))


# Symbols printed before amounts; the ISO code is shown beside them where it matters.
CURRENCY_SYMBOLS = {"AUD": "$", "USD": "US$", "NZD": "NZ$"}


def format_cents(cents: int, symbol: str = "") -> str:
    """Integer cents as "1,234.56" (with ``symbol``: "-$1,234.56"): exact, never a float."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{symbol}{whole:,}.{part:02d}"


def cents_from_units(amount: Decimal) -> int:
    """An amount in currency units (Decimal("12.345")) as integer cents, half-up."""
    return round_half_up(amount * 100)


def cents_from_text(text: str) -> int | None:
    """What a person types in a form ("43.25", "1,234.5", "$12") as integer cents, or None
    when it is not an amount with at most two decimals. Exact: Decimal, never float."""
    import re

    cleaned = (text or "").strip().replace(",", "").lstrip("$").strip()
    if not re.fullmatch(r"[0-9]{1,13}(\.[0-9]{1,2})?", cleaned):
        return None
    return int(Decimal(cleaned) * 100)
