"""What an invoice owes, how credit splits and spreads, and credit-note GST: pure, no database."""
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.billing.credit import CreditRequest, credit_note_totals, gst_credited_so_far, line_errors
from portal.billing.money import round_half_up
from portal.billing.settlement import (
    Owed,
    allocate,
    amount_due_cents,
    payment_error,
    refundable_cents,
    split_credit,
)

RATE = Decimal("0.10")


def test_amount_due_is_what_is_left_and_never_negative():
    assert amount_due_cents(6325) == 6325
    assert amount_due_cents(6325, paid=2000) == 4325
    assert amount_due_cents(6325, paid=2000, credited=825, applied=500) == 3000
    assert amount_due_cents(6325, paid=6325, credited=825) == 0
    assert Owed(6325, 6325, 825).released_cents == 825


def test_payment_errors():
    assert payment_error(4325, 4325) is None
    assert payment_error(4326, 4325) == "is more than the amount due (4325 cents)"
    assert payment_error(0, 10) == "must be more than 0"


def test_a_credit_comes_off_what_is_due_first_and_the_rest_leaves_the_invoice():
    assert (split_credit(825, 325).against_invoice_cents, split_credit(825, 325).excess_cents) == (325, 500)
    assert (split_credit(300, 6325).against_invoice_cents, split_credit(300, 6325).excess_cents) == (300, 0)
    assert split_credit(300, 0).excess_cents == 300
    assert refundable_cents(1000, 175) == 825 and refundable_cents(0, 0) == 0


def test_a_balance_is_spread_oldest_first():
    assert allocate(5500, [(1, 6325), (2, 100)]) == [(1, 5500)]
    assert allocate(7000, [(1, 6325), (2, 1000)]) == [(1, 6325), (2, 675)]
    assert allocate(100, [(1, 0), (2, 50), (3, 80)]) == [(2, 50), (3, 50)]
    assert allocate(0, [(1, 10)]) == []


def test_two_notes_credit_the_gst_exactly_where_per_note_rounding_is_a_cent_off():
    # Invoice subtotal 5750 → GST 575. Per note: 0.5 → 1 and 574.5 → 575 = 576.
    first = credit_note_totals([CreditRequest(1, 5)], RATE, 0, 0)
    second = credit_note_totals([CreditRequest(1, 4995), CreditRequest(2, 750)], RATE, 5, first.tax_cents)
    assert (first.subtotal_cents, first.tax_cents, first.total_cents) == (5, 1, 6)
    assert (second.subtotal_cents, second.tax_cents, second.total_cents) == (5745, 574, 6319)
    assert round_half_up(Decimal(5) * RATE) + round_half_up(Decimal(5745) * RATE) == 576
    assert first.tax_cents + second.tax_cents == gst_credited_so_far(5750, RATE) == 575


@settings(deadline=None, max_examples=200)
@given(st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=12),
       st.sampled_from([Decimal("0.10"), Decimal("0.15"), Decimal("0.075")]))
def test_any_split_of_a_subtotal_into_notes_credits_the_invoice_gst_exactly(parts, rate):
    subtotal, tax = 0, 0
    for cents in parts:
        note = credit_note_totals([CreditRequest(1, cents)], rate, subtotal, tax)
        assert note.tax_cents >= 0
        subtotal, tax = subtotal + note.subtotal_cents, tax + note.tax_cents
    assert tax == round_half_up(Decimal(sum(parts)) * rate)


def test_line_errors():
    remaining = {10: 5000, 11: 50}
    assert line_errors([CreditRequest(10, 5000), CreditRequest(11, 50)], remaining) == {}
    assert line_errors([CreditRequest(11, 51)], remaining) == {
        "lines[0].amount_cents": "is more than what is left of the line (50 cents)"}
    assert line_errors([CreditRequest(99, 1)], remaining) == {
        "lines[0].line_id": "is not a non-tax line of this invoice"}
    assert line_errors([CreditRequest(10, 1), CreditRequest(10, 1)], remaining) == {
        "lines[1].line_id": "is named twice"}
    assert line_errors([], remaining) == {"lines": "name at least one line of the invoice"}
