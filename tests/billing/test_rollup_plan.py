from datetime import date
from decimal import Decimal

import pytest

from portal.billing.rollup import BilledSubscription, BillingError, TaxRule, plan_invoice, usage_window
from portal.billing.terms import PlanTerms

from .catalog_terms import STORAGE_50GB, STUDIO

APRIL = (date(2026, 4, 1), date(2026, 5, 1))
GST = TaxRule("GST", Decimal("0.10"))


def sub(sid=1, deployment_id=10, starts_on=date(2026, 1, 1), last_day=None, addons=(STORAGE_50GB,),
        plan=STUDIO):
    return BilledSubscription(sid, deployment_id, plan, addons, starts_on, last_day)


def test_contract_april_figures():
    plan = plan_invoice(*APRIL, [sub()], {1: {"droplet_hours": Decimal(2160)}}, GST)
    assert [(l.kind, l.resource_kind, l.deployment_id, l.amount_cents) for l in plan.lines] == [
        ("plan_base", None, 10, 5000),
        ("addon", "spaces_gb", 10, 750),
        ("overage", "droplet_hours", 10, 672),
        ("tax", None, None, 642),
    ]
    assert (plan.subtotal_cents, plan.tax_cents, plan.total_cents) == (6422, 642, 7064)
    assert plan.currency == "AUD"
    tax = plan.lines[-1]
    assert (tax.description, tax.qty, tax.unit, tax.unit_price_cents) == (
        "GST 10%", Decimal("0.10"), "rate", 6422)


def test_subscription_starting_inside_the_period_is_prorated_by_active_days():
    plan = plan_invoice(*APRIL, [sub(starts_on=date(2026, 4, 11))], {}, GST)
    # 20/30 days: 5000 → 3333.33 → 3333; 750 → 500
    assert [l.amount_cents for l in plan.lines] == [3333, 500, 383]
    assert "20/30 days, 2026-04-11 to 2026-04-30" in plan.lines[0].description


def test_subscription_ending_inside_the_period_bills_through_its_last_day():
    plan = plan_invoice(*APRIL, [sub(last_day=date(2026, 4, 10), addons=())], {}, GST)
    assert [l.amount_cents for l in plan.lines] == [1667, 167]  # 5000 × 10/30 = 1666.67
    assert "10/30 days, 2026-04-01 to 2026-04-10" in plan.lines[0].description


def test_two_deployments_sorted_and_tax_on_the_sum_of_rounded_lines():
    plan = plan_invoice(*APRIL, [sub(2, 20, addons=()), sub(1, 10, addons=())], {}, GST)
    assert [(l.deployment_id, l.amount_cents) for l in plan.lines] == [
        (10, 5000), (20, 5000), (None, 1000)]
    assert plan.total_cents == 11000


def test_tax_rounds_half_up():
    cheap = PlanTerms("c", "C", 1, "AUD", 5, date(2026, 1, 1))  # 5c → GST 0.5c → 1c
    plan = plan_invoice(*APRIL, [sub(plan=cheap, addons=())], {}, GST)
    assert (plan.subtotal_cents, plan.tax_cents, plan.total_cents) == (5, 1, 6)


def test_subscriptions_outside_the_period_do_not_bill():
    with pytest.raises(BillingError):
        plan_invoice(*APRIL, [sub(starts_on=date(2026, 5, 1)), sub(2, last_day=date(2026, 3, 31))],
                     {}, GST)


def test_mixed_currencies_cannot_share_an_invoice():
    usd = PlanTerms("u", "U", 1, "USD", 100, date(2026, 1, 1))
    with pytest.raises(BillingError, match="more than one currency"):
        plan_invoice(*APRIL, [sub(), sub(2, 20, plan=usd, addons=())], {}, GST)


@pytest.mark.parametrize(
    "starts_on, last_day, window",
    [
        (date(2026, 1, 1), None, (date(2026, 4, 1), date(2026, 5, 1))),
        (date(2026, 4, 11), None, (date(2026, 4, 11), date(2026, 5, 1))),
        (date(2026, 1, 1), date(2026, 4, 10), (date(2026, 4, 1), date(2026, 4, 11))),
    ],
)
def test_usage_window(starts_on, last_day, window):
    assert usage_window(*APRIL, starts_on, last_day) == window
