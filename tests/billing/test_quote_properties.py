"""Properties of the quote engine over generated plans, addons, usage and dates."""
from datetime import date
from decimal import Decimal

from hypothesis import example, given, settings
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


def _reference_overage(plan, addon_list, usage, fraction):
    """The contract's overage rule written plainly in ``Fraction`` arithmetic (how the
    engine computed it before its integer formulation): (kind, qty, amount) per line."""
    from fractions import Fraction

    out = []
    for item in plan.items:
        whole = item.included_qty + sum(a.qty for a in addon_list
                                        if a.resource_kind == item.resource_kind)
        over = max(Fraction(0), Fraction(usage.get(item.resource_kind, 0)) - whole * fraction)
        if item.hard_cap_qty is not None:
            over = min(over, Fraction(item.hard_cap_qty))
        if over == 0:
            continue
        qty = over / UNIT_FACTORS[item.overage_unit]
        out.append((item.resource_kind, qty, round_half_up(qty * item.overage_price_cents)))
    return out


fractions_of_a_month = st.integers(28, 31).flatmap(
    lambda days: st.integers(1, days).map(lambda active: (active, days)))


_TOKENS = PlanTerms("p", "P", 1, "AUD", 0, date(2024, 1, 1), (
    PlanItemTerms("llm_tokens", 1000, 1, "1k_tokens"),
    PlanItemTerms("spaces_gb", 3, 1, "gb", hard_cap_qty=7)))


@example(_TOKENS, [], {"llm_tokens": Decimal(1500)}, (31, 31))  # 0.5 cents: half-up to 1
@example(_TOKENS, [], {"llm_tokens": Decimal(1499)}, (31, 31))  # 0.499: down to 0
@example(_TOKENS, [], {"spaces_gb": Decimal("3.5")}, (1, 2))  # 2 GB over 1.5: 2 cents
@example(_TOKENS, [], {"spaces_gb": Decimal(10**6)}, (1, 30))  # capped at 7
@example(_TOKENS, [], {"llm_tokens": Decimal(1000)}, (31, 31))  # exactly the allowance: no line
@given(plans(), addons, usages, fractions_of_a_month)
def test_the_integer_overage_is_the_exact_rational_one(plan, addon_list, usage, share):
    """``overage_lines`` works on integer numerators and denominators for speed; every line
    (which items bill, the quantity to the last digit, the cents) equals the plain
    ``Fraction`` formulation, for whole and prorated months, fractional usage and caps."""
    from fractions import Fraction

    from portal.billing.quote import _decimal, overage_lines

    fraction = Fraction(*share)
    lines = overage_lines(plan, addon_list, usage, fraction)
    expected = _reference_overage(plan, addon_list, usage, fraction)
    assert [(line.resource_kind, line.qty, line.amount_cents) for line in lines] == [
        (kind, _decimal(qty), cents) for kind, qty, cents in expected]
    assert all(str(line.qty) == str(_decimal(qty)) for line, (_, qty, _) in zip(lines, expected))


# Every type of usage value the engine is handed or could be: a Decimal from the database or
# the quote's validation (with an exponent: Decimal("1E+3") from "1e3", 6 places, huge sums),
# a plain int, and negative figures (a credit-like correction summed in), which bill nothing.
any_usage_value = st.one_of(
    st.integers(min_value=-10**6, max_value=10**30),
    st.integers(min_value=-10**6, max_value=10**30).map(Decimal),
    st.decimals(min_value=-10**3, max_value=10**15, places=6, allow_nan=False, allow_infinity=False),
    st.builds(lambda digits, exp: Decimal(digits).scaleb(exp),
              st.integers(0, 10**6), st.integers(-6, 12)),
)
any_usages = st.dictionaries(st.sampled_from(sorted(RESOURCE_KINDS)), any_usage_value)


@example(_TOKENS, [], {"llm_tokens": Decimal("1.5E+3")}, (31, 31))  # "1.5e3" typed: 1 cent
@example(_TOKENS, [], {"llm_tokens": -5}, (31, 31))  # negative: no line
@example(PlanTerms("p", "P", 1, "AUD", 0, date(2024, 1, 1), (
    PlanItemTerms("spaces_gb", 0, 5, "gb", hard_cap_qty=0),)), [], {"spaces_gb": Decimal(9)}, (7, 30))
@given(plans(), addons, any_usages, fractions_of_a_month)
def test_the_integer_overage_equals_the_rational_one_for_every_usage_type(plan, addon_list, usage, share):
    from fractions import Fraction

    from portal.billing.quote import _decimal, overage_lines

    fraction = Fraction(*share)
    lines = overage_lines(plan, addon_list, usage, fraction)
    expected = _reference_overage(plan, addon_list, usage, fraction)
    assert [(line.resource_kind, str(line.qty), line.amount_cents) for line in lines] == [
        (kind, str(_decimal(qty)), cents) for kind, qty, cents in expected]
