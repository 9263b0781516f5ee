"""The contract's seeded catalog as engine terms (no database)."""
from datetime import date

from portal.billing.terms import AddonTerms, PlanItemTerms, PlanTerms

STUDIO = PlanTerms(
    plan_code="studio",
    plan_name="Studio",
    version=1,
    currency="AUD",
    base_price_cents=5000,
    effective_from=date(2026, 1, 1),
    items=(
        PlanItemTerms("droplet_hours", 1488, 1, "hour"),
        PlanItemTerms("llm_tokens", 1_000_000, 1, "1k_tokens"),
        PlanItemTerms("spaces_gb", 100, 2, "gb"),
    ),
)
STORAGE_50GB = AddonTerms("storage_50gb", "Storage 50 GB", 750, "spaces_gb", 50)
