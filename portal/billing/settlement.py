"""What an invoice still owes, and how money against it is split: pure, integer cents.

An invoice owes ``total − paid − credited − credit applied`` and never less than nothing:
what a credit note takes off beyond what was still due leaves the invoice (as the tenant's
credit balance, or as a refund owed) rather than making the invoice owe a negative amount.
"""
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Owed:
    """An invoice's money as stored on it."""

    total_cents: int
    paid_cents: int = 0
    credited_cents: int = 0
    credit_applied_cents: int = 0

    @property
    def amount_due_cents(self) -> int:
        return max(0, self.total_cents - self.paid_cents - self.credited_cents
                   - self.credit_applied_cents)

    @property
    def released_cents(self) -> int:
        """What credit notes took off beyond what was due: balance or refunds, not the invoice's."""
        return max(0, self.paid_cents + self.credited_cents + self.credit_applied_cents
                   - self.total_cents)


def amount_due_cents(total: int, paid: int = 0, credited: int = 0, applied: int = 0) -> int:
    return Owed(total, paid, credited, applied).amount_due_cents


def payment_error(amount_cents: int, due_cents: int) -> str | None:
    """Why a payment of ``amount_cents`` cannot be recorded against ``due_cents``, or None."""
    if amount_cents <= 0:
        return "must be more than 0"
    if amount_cents > due_cents:
        return f"is more than the amount due ({due_cents} cents)"
    return None


@dataclass(frozen=True)
class CreditSplit:
    """A credit note's total: the part that reduces what the invoice owes, and the excess that
    leaves it (the invoice was already settled for that much)."""

    against_invoice_cents: int
    excess_cents: int


def split_credit(credit_total_cents: int, due_cents: int) -> CreditSplit:
    against = min(credit_total_cents, max(0, due_cents))
    return CreditSplit(against, credit_total_cents - against)


def refundable_cents(paid_cents: int, refunded_cents: int) -> int:
    """At most what was paid on the invoice and not yet refunded."""
    return max(0, paid_cents - refunded_cents)


def allocate(balance_cents: int, dues: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spread a credit balance over invoices, in the order given (oldest first):
    ``[(invoice_id, due_cents)]`` → ``[(invoice_id, applied_cents)]`` (only positive ones)."""
    out, left = [], max(0, balance_cents)
    for invoice_id, due in dues:
        if left <= 0:
            break
        applied = min(left, max(0, due))
        if applied:
            out.append((invoice_id, applied))
            left -= applied
    return out


def total_applied(allocations: Iterable[tuple[int, int]]) -> int:
    return sum(amount for _, amount in allocations)
