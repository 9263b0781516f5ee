"""Allowances follow the recurring lines: a partial month gets the same share, exactly."""
from datetime import date
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.billing.proration import active_fraction, days_in_month, next_month_start
from portal.billing.quote import allowance, overage_lines, price
from portal.billing.rollup import BilledSubscription, TaxRule, plan_invoice
from portal.billing.terms import PlanItemTerms, PlanTerms

from .catalog_terms import STORAGE_50GB, STUDIO
from .test_quote_properties import addons, plans, usages

APRIL = (date(2026, 4, 1), date(2026, 5, 1))
MAY = (date(2026, 5, 1), date(2026, 6, 1))
GST = TaxRule("GST", Decimal("0.10"))

# A bigger plan to change to (only in tests; the seeded catalog stays as the contract says).
SCALE = PlanTerms(
    plan_code="scale", plan_name="Scale", version=1, currency="AUD", base_price_cents=12000,
    effective_from=date(2026, 1, 1),
    items=(
        PlanItemTerms("droplet_hours", 4464, 1, "hour"),
        PlanItemTerms("llm_tokens", 5_000_000, 1, "1k_tokens"),
        PlanItemTerms("spaces_gb", 500, 2, "gb"),
    ),
)


def sub(sid=1, starts_on=date(2026, 1, 1), last_day=None, addons=(STORAGE_50GB,), plan=STUDIO):
    return BilledSubscription(sid, 10, plan, addons, starts_on, last_day)


def summary(lines):
    return [(l.kind, l.resource_kind, l.amount_cents) for l in lines]


def test_allowance_is_prorated_exactly():
    droplets, tokens, spaces = STUDIO.items
    assert allowance(spaces, [STORAGE_50GB]) == 150
    assert allowance(spaces, [STORAGE_50GB], Fraction(20, 30)) == 100
    assert allowance(tokens, [], Fraction(10, 31)) == Fraction(10_000_000, 31)  # not rounded
    assert allowance(droplets, [], Fraction(10, 31)) == 480  # 1488 = 48 × 31


def test_a_start_inside_the_month_prorates_the_allowance_before_overage():
    # 20/30 of April: droplet_hours 1488 → 992, spaces_gb 150 → 100.
    plan = plan_invoice(*APRIL, [sub(starts_on=date(2026, 4, 11))],
                        {1: {"droplet_hours": Decimal(1200), "spaces_gb": Decimal(120)}}, GST)
    assert summary(plan.lines) == [
        ("plan_base", None, 3333), ("addon", "spaces_gb", 500),
        ("overage", "droplet_hours", 208),  # 1200 − 992 = 208 h × 1c
        ("overage", "spaces_gb", 40),  # 120 − 100 = 20 GB × 2c
        ("tax", None, 408),
    ]
    assert plan.lines[2].qty == 208
    assert "beyond the 992 hour allowance (1,488 × 2/3)" in plan.lines[2].description


def test_an_end_inside_the_month_prorates_the_allowance():
    # Ends on 2026-04-10: 10/30 → droplet_hours allowance 496, used 600 → 104 cents.
    plan = plan_invoice(*APRIL, [sub(last_day=date(2026, 4, 10), addons=())],
                        {1: {"droplet_hours": Decimal(600)}}, GST)
    assert summary(plan.lines)[:-1] == [
        ("plan_base", None, 1667), ("overage", "droplet_hours", 104)]


def test_a_fraction_that_never_ends_is_not_rounded_before_the_line_is():
    # 10/31 of May: tokens allowance 10,000,000/31 = 322,580.645…; spaces 1000/31 = 32.258…
    usage = {1: {"llm_tokens": Decimal(400_000), "spaces_gb": Decimal(33)}}
    plan = plan_invoice(*MAY, [sub(starts_on=date(2026, 5, 22), addons=())], usage, GST)
    lines = {l.resource_kind: l for l in plan.lines if l.kind == "overage"}
    # (400,000 − 10,000,000/31) / 1000 × 1c = 77.419… → 77
    assert lines["llm_tokens"].amount_cents == 77
    assert lines["llm_tokens"].qty == Decimal("77.419355")  # shown to six places
    # 33 − 1000/31 = 23/31 GB × 2c = 1.48 → 1 (a rounded allowance of 32 would give 2)
    assert lines["spaces_gb"].amount_cents == 1
    assert "beyond the 32.26 GB allowance (100 × 10/31)" in lines["spaces_gb"].description


def test_the_hard_cap_is_not_prorated():
    capped = PlanTerms("c", "C", 1, "AUD", 0, date(2026, 1, 1),
                       (PlanItemTerms("droplet_hours", 100, 3, "hour", hard_cap_qty=40),))
    plan = plan_invoice(*APRIL, [sub(starts_on=date(2026, 4, 16), plan=capped, addons=())],
                        {1: {"droplet_hours": Decimal(1000)}}, GST)
    assert summary(plan.lines) == [("plan_base", None, 0), ("overage", "droplet_hours", 120),
                                   ("tax", None, 12)]


def test_a_change_on_the_16th_of_april_bills_half_of_each_plan_and_allowance():
    """Studio + storage through the 15th, then Scale from the 16th: 15/30 each."""
    old = sub(1, starts_on=date(2026, 1, 1), last_day=date(2026, 4, 15))
    new = sub(2, starts_on=date(2026, 4, 16), plan=SCALE, addons=())
    usage = {1: {"droplet_hours": Decimal(1000), "spaces_gb": Decimal(80)},
             2: {"droplet_hours": Decimal(2500), "spaces_gb": Decimal(260)}}
    plan = plan_invoice(*APRIL, [new, old], usage, GST)
    assert summary(plan.lines) == [
        ("plan_base", None, 2500), ("addon", "spaces_gb", 375),
        ("overage", "droplet_hours", 256),  # 1000 − 744
        ("overage", "spaces_gb", 10),  # 80 − 75 = 5 GB × 2c
        ("plan_base", None, 6000),
        ("overage", "droplet_hours", 268),  # 2500 − 2232
        ("overage", "spaces_gb", 20),  # 260 − 250 = 10 GB × 2c
        ("tax", None, 943),
    ]
    assert (plan.subtotal_cents, plan.total_cents) == (9429, 10372)


def test_a_full_month_keeps_the_whole_allowance_and_the_contract_figures():
    plan = plan_invoice(*APRIL, [sub()], {1: {"droplet_hours": Decimal(2160)}}, GST)
    assert summary(plan.lines) == [("plan_base", None, 5000), ("addon", "spaces_gb", 750),
                                   ("overage", "droplet_hours", 672), ("tax", None, 642)]
    q = price(STUDIO, [STORAGE_50GB], {"droplet_hours": 1488, "llm_tokens": 1_500_000,
                                       "spaces_gb": 200}, date(2026, 5, 20))
    assert [l.amount_cents for l in q.overage] == [500, 100]
    assert (q.first_invoice_cents, q.all_in_monthly_cents) == (2225, 6350)


months = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 1)).map(lambda d: d.replace(day=1))
shares = st.tuples(st.integers(1, 31), st.integers(1, 31)).map(sorted)


@settings(deadline=None)
@given(plans(), addons, usages, months)
def test_a_full_month_equals_the_unprorated_quote(plan, addon_list, usage, month):
    period = (month, next_month_start(month))
    billed = plan_invoice(*period, [sub(starts_on=month, plan=plan, addons=tuple(addon_list))],
                          {1: usage}, GST)
    q = price(plan, addon_list, usage, month)
    assert summary(billed.lines[:-1]) == summary(q.recurring + q.overage)
    assert billed.subtotal_cents == q.all_in_monthly_cents


@settings(deadline=None)
@given(plans(), addons, usages, months, shares)
def test_a_prorated_allowance_never_exceeds_the_full_one(plan, addon_list, usage, month, share):
    first, last = (min(d, days_in_month(month)) for d in share)
    fraction = active_fraction(month, next_month_start(month), month.replace(day=first),
                               month.replace(day=last))
    assert 0 < fraction <= 1
    for item in plan.items:
        part = allowance(item, addon_list, fraction)
        assert part <= allowance(item, addon_list)
        assert part == allowance(item, addon_list) * fraction  # exact: never rounded
    full = {l.resource_kind: l.amount_cents for l in overage_lines(plan, addon_list, usage)}
    prorated = {l.resource_kind: l.amount_cents
                for l in overage_lines(plan, addon_list, usage, fraction)}
    # Less allowance never means less overage (the cap holds either way).
    assert all(prorated.get(kind, 0) >= cents for kind, cents in full.items())


def test_zero_days_is_never_billed():
    # A subscription billing no day of the period is not in the plan at all.
    assert active_fraction(*APRIL, date(2026, 5, 1), None) == 0
    assert active_fraction(*APRIL, date(2026, 1, 1), date(2026, 3, 31)) == 0
