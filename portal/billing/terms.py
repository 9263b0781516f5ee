"""The catalog's terms as the pricing engine sees them, and the resource kinds."""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

# Resource kinds and how a period's events aggregate: counters sum, gauges take the peak.
COUNTER = "counter"
GAUGE = "gauge"
RESOURCE_KINDS: dict[str, str] = {
    "droplet_hours": COUNTER,
    "llm_tokens": COUNTER,
    "spaces_gb": GAUGE,
}
BASE_UNITS: dict[str, str] = {
    "droplet_hours": "hour",
    "llm_tokens": "token",
    "spaces_gb": "gb",
}
# Overage units and how many base units one of them is.
UNIT_FACTORS: dict[str, int] = {
    "hour": 1,
    "gb": 1,
    "1k_tokens": 1000,
}


@dataclass(frozen=True)
class PlanItemTerms:
    resource_kind: str
    included_qty: int
    overage_price_cents: int
    overage_unit: str
    hard_cap_qty: int | None = None

    def __post_init__(self) -> None:
        if self.resource_kind not in RESOURCE_KINDS:
            raise ValueError(f"unknown resource kind {self.resource_kind!r}")
        if self.overage_unit not in UNIT_FACTORS:
            raise ValueError(f"unknown overage unit {self.overage_unit!r}")


@dataclass(frozen=True)
class PlanTerms:
    """One plan version: what a subscription to it costs and includes."""

    plan_code: str
    plan_name: str
    version: int
    currency: str
    base_price_cents: int
    effective_from: date
    items: tuple[PlanItemTerms, ...] = ()


@dataclass(frozen=True)
class AddonTerms:
    """An addon as sold (or as snapshotted on a subscription)."""

    code: str
    name: str
    price_cents: int
    resource_kind: str
    qty: int


Usage = dict[str, Decimal]
