"""Cost against revenue for a period: pure arithmetic over already-priced lines.

Revenue is invoice lines (tax excluded: GST is collected, not earned) in the plan currency.
Cost is the provider's bill lines in its currency, each converted at a configured rate and
rounded half-up on its own. Margin = revenue − cost, grouped by deployment and by kind.
"""
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from .money import round_half_up

# The provider's product names → our resource kinds; anything else (block storage volumes,
# load balancers, snapshots …) is "other": we resell no such kind.
PRODUCT_KINDS = {
    "droplets": "droplet_hours",
    "droplet": "droplet_hours",
    "spaces": "spaces_gb",
    "spaces subscription": "spaces_gb",
    "genai": "llm_tokens",
    "gradient ai": "llm_tokens",
    "gradientai": "llm_tokens",
}
PLAN = "plan"  # revenue from plan base fees, which belong to no single resource kind
OTHER = "other"


@dataclass(frozen=True)
class RevenueLine:
    deployment_id: int | None
    kind: str  # plan_base, addon, overage
    resource_kind: str | None
    amount_cents: int


@dataclass(frozen=True)
class CostLine:
    deployment_id: int | None
    product: str
    amount_cents: int  # in the provider's currency


@dataclass(frozen=True)
class MarginRow:
    key: object
    revenue_cents: int
    cost_cents: int

    @property
    def margin_cents(self) -> int:
        return self.revenue_cents - self.cost_cents

    @property
    def margin_percent(self) -> Decimal | None:
        """Margin as a share of revenue, one decimal; None without revenue."""
        if self.revenue_cents == 0:
            return None
        return (Decimal(self.margin_cents) * 100 / self.revenue_cents).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class MarginReport:
    by_deployment: tuple[MarginRow, ...]
    by_kind: tuple[MarginRow, ...]
    total: MarginRow


def revenue_kind(line: RevenueLine) -> str:
    return PLAN if line.kind == "plan_base" else (line.resource_kind or OTHER)


def cost_kind(product: str) -> str:
    return PRODUCT_KINDS.get(product.strip().lower(), OTHER)


def convert(amount_cents: int, rate: Decimal) -> int:
    return round_half_up(Decimal(amount_cents) * rate)


def margin_report(revenue: Iterable[RevenueLine], costs: Iterable[CostLine],
                  fx_rate: Decimal) -> MarginReport:
    rev_dep, rev_kind = defaultdict(int), defaultdict(int)
    cost_dep, cost_kind_sums = defaultdict(int), defaultdict(int)
    for line in revenue:
        if line.kind == "tax":
            continue
        rev_dep[line.deployment_id] += line.amount_cents
        rev_kind[revenue_kind(line)] += line.amount_cents
    for line in costs:
        amount = convert(line.amount_cents, fx_rate)
        cost_dep[line.deployment_id] += amount
        cost_kind_sums[cost_kind(line.product)] += amount

    def rows(rev, cost):
        keys = sorted(set(rev) | set(cost), key=lambda k: (k is None, str(k)))
        return tuple(MarginRow(k, rev.get(k, 0), cost.get(k, 0)) for k in keys)

    return MarginReport(
        by_deployment=rows(rev_dep, cost_dep),
        by_kind=rows(rev_kind, cost_kind_sums),
        total=MarginRow("total", sum(rev_dep.values()), sum(cost_dep.values())),
    )
