"""Credit notes (Australian adjustment notes): which lines may be credited, and the GST.

GST credited so far = half-up(credited subtotal so far × the invoice's rate); a note's GST is
that minus what earlier notes credited. Rounding the running total, not each note, keeps the
invoice whole: crediting every line credits exactly the invoice's GST, in any number of notes.
"""
from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping, Sequence

from .money import round_half_up


@dataclass(frozen=True)
class CreditRequest:
    line_id: int
    amount_cents: int


@dataclass(frozen=True)
class CreditTotals:
    subtotal_cents: int
    tax_cents: int

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents


def gst_credited_so_far(credited_subtotal_cents: int, rate: Decimal) -> int:
    return round_half_up(Decimal(credited_subtotal_cents) * rate)


def credit_note_totals(lines: Sequence[CreditRequest], rate: Decimal,
                       subtotal_before_cents: int, tax_before_cents: int) -> CreditTotals:
    """The next note's subtotal and GST, given what earlier notes on the invoice credited."""
    subtotal = sum(line.amount_cents for line in lines)
    tax = gst_credited_so_far(subtotal_before_cents + subtotal, rate) - tax_before_cents
    return CreditTotals(subtotal, tax)


def line_errors(requests: Sequence[CreditRequest],
                remaining: Mapping[int, int]) -> dict[str, str]:
    """Field errors (``lines[i].…``) for credit lines against what is left of each invoice
    line (``remaining``: line id → cents still creditable; non-tax lines only)."""
    errors: dict[str, str] = {}
    if not requests:
        return {"lines": "name at least one line of the invoice"}
    seen: set[int] = set()
    for index, req in enumerate(requests):
        key = f"lines[{index}]"
        if req.line_id not in remaining:
            errors[f"{key}.line_id"] = "is not a non-tax line of this invoice"
        elif req.line_id in seen:
            errors[f"{key}.line_id"] = "is named twice"
        elif req.amount_cents <= 0:
            errors[f"{key}.amount_cents"] = "must be more than 0"
        elif req.amount_cents > remaining[req.line_id]:
            errors[f"{key}.amount_cents"] = (
                f"is more than what is left of the line ({remaining[req.line_id]} cents)")
        seen.add(req.line_id)
    return errors
