"""Human words for the catalog's internal names: one table for pages, PDFs and CSVs.

Codes such as ``droplet_hours`` and ``1k_tokens`` stay the API's and the database's; people
read these labels. A code with no label is shown as it is (never an error: a label is words).
"""
from decimal import Decimal

# Resource kinds (billing.terms.RESOURCE_KINDS) as a person names them.
KIND_LABELS: dict[str, str] = {
    "droplet_hours": "Droplet hours",
    "llm_tokens": "LLM tokens",
    "spaces_gb": "Spaces storage",
}

# Units: (one, many). Base units (billing.terms.BASE_UNITS), overage units
# (billing.terms.UNIT_FACTORS) and the recurring lines' "month".
UNIT_LABELS: dict[str, tuple[str, str]] = {
    "hour": ("hour", "hours"),
    "gb": ("GB", "GB"),
    "token": ("token", "tokens"),
    "1k_tokens": ("1,000 tokens", "1,000 tokens"),
    "month": ("month", "months"),
    "rate": ("rate", "rate"),
}

# Line kinds on invoices and quotes.
LINE_KIND_LABELS: dict[str, str] = {
    "plan_base": "Plan",
    "addon": "Addon",
    "overage": "Usage beyond the allowance",
    "tax": "Tax",
    "credit": "Credit",
}


def kind_label(kind: str | None) -> str:
    """"droplet_hours" -> "Droplet hours"."""
    if not kind:
        return ""
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def unit_label(unit: str | None, qty: int | Decimal | None = 1) -> str:
    """"hour" -> "hour" (qty 1) or "hours"; "gb" -> "GB"; "1k_tokens" -> "1,000 tokens"."""
    if not unit:
        return ""
    one, many = UNIT_LABELS.get(unit, (unit, unit))
    return one if qty is None or qty == 1 else many


def per_unit(unit: str | None) -> str:
    """A price's unit: "per hour", "per GB", "per 1,000 tokens"."""
    return f"per {unit_label(unit)}" if unit else ""


def line_kind_label(kind: str | None) -> str:
    return LINE_KIND_LABELS.get(kind or "", (kind or "").replace("_", " ").capitalize())
