from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from portal.billing.money import round_half_up
from portal.billing.proration import active_fraction, fraction_from_start
from portal.billing.quote import overage_lines, price
from portal.billing.terms import PlanItemTerms

from .catalog_terms import STORAGE_50GB, STUDIO


def amounts(lines):
    return [(line.kind, line.resource_kind, line.amount_cents) for line in lines]


def test_studio_bare_costs_its_base_price():
    q = price(STUDIO, [], {}, date(2026, 5, 1))
    assert q.recurring_cents == 5000
    assert q.overage == ()
    assert q.all_in_monthly_cents == 5000
    assert q.first_invoice_cents == 5000


def test_contract_seed_figures_studio_with_storage_from_may_20():
    usage = {"droplet_hours": Decimal(1488), "llm_tokens": Decimal(1_500_000),
             "spaces_gb": Decimal(200)}
    q = price(STUDIO, [STORAGE_50GB], usage, date(2026, 5, 20))
    assert amounts(q.recurring) == [("plan_base", None, 5000), ("addon", "spaces_gb", 750)]
    assert q.recurring_cents == 5750
    # 5000 × 12/31 = 1935.48 → 1935; 750 × 12/31 = 290.32 → 290
    assert amounts(q.first_invoice) == [("plan_base", None, 1935), ("addon", "spaces_gb", 290)]
    assert q.first_invoice_cents == 2225
    assert amounts(q.overage) == [("overage", "llm_tokens", 500), ("overage", "spaces_gb", 100)]
    llm, spaces = q.overage
    assert (llm.qty, llm.unit, llm.unit_price_cents) == (Decimal(500), "1k_tokens", 1)
    assert (spaces.qty, spaces.unit, spaces.unit_price_cents) == (Decimal(50), "gb", 2)
    assert q.overage_cents == 600
    assert q.all_in_monthly_cents == 6350


def test_usage_exactly_at_the_allowance_makes_no_line():
    q = price(STUDIO, [], {"droplet_hours": 1488, "llm_tokens": 1_000_000, "spaces_gb": 100},
              date(2026, 5, 1))
    assert q.overage == ()


def test_without_the_addon_spaces_overage_starts_at_100_gb():
    q = price(STUDIO, [], {"spaces_gb": Decimal(200)}, date(2026, 5, 1))
    assert amounts(q.overage) == [("overage", "spaces_gb", 200)]


def test_two_addons_of_a_kind_both_lift_the_allowance():
    other = replace(STORAGE_50GB, code="storage_50gb_b")
    q = price(STUDIO, [STORAGE_50GB, other], {"spaces_gb": Decimal(210)}, date(2026, 5, 1))
    assert amounts(q.overage) == [("overage", "spaces_gb", 20)]  # 210 − 200 = 10 GB × 2c


@pytest.mark.parametrize(
    "tokens, cents",
    [
        (1_000_499, 0),   # 0.499 × 1c → 0
        (1_000_500, 1),   # 0.5 × 1c → 1 (half-up)
        (1_001_499, 1),   # 1.499 → 1
        (1_001_500, 2),   # 1.5 → 2
        (1_002_500, 3),   # 2.5 → 3 (half-up, not banker's 2)
    ],
)
def test_token_overage_rounds_half_up_per_line(tokens, cents):
    lines = overage_lines(STUDIO, [], {"llm_tokens": Decimal(tokens)})
    assert sum(line.amount_cents for line in lines) == cents


def test_fractional_gauge_usage_prices_exactly():
    lines = overage_lines(STUDIO, [], {"spaces_gb": Decimal("100.25")})  # 0.25 GB × 2c = 0.5
    assert [(line.qty, line.amount_cents) for line in lines] == [(Decimal("0.25"), 1)]


def test_hard_cap_limits_the_billed_overage():
    capped = replace(STUDIO, items=(PlanItemTerms("droplet_hours", 100, 3, "hour", 50),))
    (line,) = overage_lines(capped, [], {"droplet_hours": Decimal(1000)})
    assert (line.qty, line.amount_cents) == (Decimal(50), 150)
    (line,) = overage_lines(capped, [], {"droplet_hours": Decimal(120)})
    assert (line.qty, line.amount_cents) == (Decimal(20), 60)


def test_hard_cap_of_zero_bills_no_overage():
    capped = replace(STUDIO, items=(PlanItemTerms("droplet_hours", 100, 3, "hour", 0),))
    assert overage_lines(capped, [], {"droplet_hours": Decimal(1000)}) == ()


def test_usage_of_a_kind_the_plan_lacks_is_not_priced():
    droplets_only = replace(STUDIO, items=(PlanItemTerms("droplet_hours", 10, 1, "hour"),))
    assert overage_lines(droplets_only, [], {"llm_tokens": Decimal(10**9)}) == ()


@pytest.mark.parametrize(
    "start, fraction",
    [
        (date(2026, 5, 20), Fraction(12, 31)),
        (date(2026, 5, 1), Fraction(1)),
        (date(2026, 5, 31), Fraction(1, 31)),
        (date(2026, 2, 15), Fraction(14, 28)),
        (date(2028, 2, 29), Fraction(1, 29)),  # leap year
        (date(2026, 4, 30), Fraction(1, 30)),
    ],
)
def test_fraction_from_start(start, fraction):
    assert fraction_from_start(start) == fraction


def test_first_invoice_on_the_last_day_of_a_month():
    q = price(STUDIO, [STORAGE_50GB], {}, date(2026, 5, 31))
    # 5000/31 = 161.29 → 161; 750/31 = 24.19 → 24
    assert amounts(q.first_invoice) == [("plan_base", None, 161), ("addon", "spaces_gb", 24)]
    assert "1/31 days from 2026-05-31" in q.first_invoice[0].description


@pytest.mark.parametrize(
    "starts_on, last_day, fraction",
    [
        (date(2026, 1, 1), None, Fraction(1)),            # began before, still running
        (date(2026, 4, 11), None, Fraction(20, 30)),      # starts inside April
        (date(2026, 1, 1), date(2026, 4, 10), Fraction(10, 30)),  # ends inside (10th billed)
        (date(2026, 4, 11), date(2026, 4, 11), Fraction(1, 30)),  # one day
        (date(2026, 5, 1), None, Fraction(0)),            # starts after April
        (date(2026, 1, 1), date(2026, 3, 31), Fraction(0)),  # ended before April
    ],
)
def test_active_fraction_of_april(starts_on, last_day, fraction):
    assert active_fraction(date(2026, 4, 1), date(2026, 5, 1), starts_on, last_day) == fraction


@pytest.mark.parametrize(
    "value, cents",
    [
        (Decimal("0.5"), 1), (Decimal("1.5"), 2), (Decimal("2.5"), 3), (Decimal("2.4999"), 2),
        (Decimal("-0.5"), -1), (Fraction(1, 2), 1), (Fraction(5, 2), 3), (Fraction(-5, 2), -3),
        (Fraction(60000, 31), 1935), (7, 7),
    ],
)
def test_round_half_up(value, cents):
    assert round_half_up(value) == cents
