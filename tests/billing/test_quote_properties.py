"""Properties of the quote engine over generated plans, addons, usage and dates."""
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.billing.money import round_half_up
from portal.billing.quote import price
from portal.billing.terms import RESOURCE_KINDS, UNIT_FACTORS, AddonTerms, PlanItemTerms, PlanTerms

# No deadline: a loaded 2-core machine must not turn slowness into failures.
settings.register_profile("portal", deadline=None, max_examples=200)
settings.load_profile("portal")

cents = st.integers(min_value=0, max_value=10_000_000)
qty = st.integers(min_value=0, max_value=10**9)
usage_value = st.one_of(
    st.integers(min_value=0, max_value=10**10).map(Decimal),
    st.decimals(min_value=0, max_value=10**7, places=3, allow_nan=False, allow_infinity=False),
)
dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


@st.composite
def items(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(RESOURCE_KINDS)), unique=True, max_size=3))
    return tuple(
        PlanItemTerms(
            resource_kind=kind,
            included_qty=draw(qty),
            overage_price_cents=draw(st.integers(0, 10_000)),
            overage_unit=draw(st.sampled_from(sorted(UNIT_FACTORS))),
            hard_cap_qty=draw(st.one_of(st.none(), qty)),
        )
        for kind in kinds
    )


@st.composite
def plans(draw):
    return PlanTerms("p", "P", 1, "AUD", draw(cents), date(2024, 1, 1), draw(items()))


addons = st.lists(
    st.builds(AddonTerms, code=st.text(min_size=1, max_size=5), name=st.just("A"),
              price_cents=cents, resource_kind=st.sampled_from(sorted(RESOURCE_KINDS)), qty=qty),
    max_size=3,
)
usages = st.dictionaries(st.sampled_from(sorted(RESOURCE_KINDS)), usage_value)


@given(plans(), addons, usages, dates)
def test_totals_are_sums_of_lines(plan, addon_list, usage, start):
    q = price(plan, addon_list, usage, start)
    assert q.recurring_cents == sum(line.amount_cents for line in q.recurring)
    assert q.first_invoice_cents == sum(line.amount_cents for line in q.first_invoice)
    assert q.overage_cents == sum(line.amount_cents for line in q.overage)
    assert q.all_in_monthly_cents == q.recurring_cents + q.overage_cents
    assert all(isinstance(line.amount_cents, int) for line in q.recurring + q.overage)


@given(plans(), addons, usages, dates)
def test_overage_never_negative_and_never_above_the_caps_price(plan, addon_list, usage, start):
    q = price(plan, addon_list, usage, start)
    items_by_kind = {item.resource_kind: item for item in plan.items}
    for line in q.overage:
        assert line.qty > 0  # no line where the overage is zero
        assert line.amount_cents >= 0
        item = items_by_kind[line.resource_kind]
        if item.hard_cap_qty is not None:
            cap_price = round_half_up(
                Decimal(item.hard_cap_qty) * item.overage_price_cents
                / UNIT_FACTORS[item.overage_unit]
            )
            assert line.amount_cents <= cap_price


@given(plans(), addons, usages, st.sampled_from(sorted(RESOURCE_KINDS)), usage_value, dates)
def test_more_usage_never_costs_less(plan, addon_list, usage, kind, extra, start):
    before = price(plan, addon_list, usage, start)
    more = dict(usage)
    more[kind] = usage.get(kind, Decimal(0)) + extra
    after = price(plan, addon_list, more, start)
    assert after.overage_cents >= before.overage_cents
    assert after.all_in_monthly_cents >= before.all_in_monthly_cents


@given(plans(), addons, dates)
def test_first_invoice_never_exceeds_the_recurring_amount(plan, addon_list, start):
    q = price(plan, addon_list, {}, start)
    assert q.first_invoice_cents <= q.recurring_cents
    for prorated, full in zip(q.first_invoice, q.recurring):
        assert 0 <= prorated.amount_cents <= full.amount_cents


@given(plans(), addons, dates)
def test_a_start_on_the_first_costs_the_full_month(plan, addon_list, start):
    q = price(plan, addon_list, {}, start.replace(day=1))
    assert q.first_invoice == q.recurring
    assert q.first_invoice_cents == q.recurring_cents


@given(plans(), addons, usages, dates)
def test_addons_never_raise_overage(plan, addon_list, usage, start):
    without = price(plan, [], usage, start)
    with_addons = price(plan, addon_list, usage, start)
    assert with_addons.overage_cents <= without.overage_cents
