"""Pricing a quote: validate the request against the catalog, then run the engine."""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Mapping

from ..billing import quote as engine
from ..billing.terms import RESOURCE_KINDS
from ..models import Addon, PlanVersion
from . import catalog
from .validation import Fields, iso_date, list_of_codes, text, usage_map

QUOTE_FIELDS = {"plan_code", "addons", "projected_usage", "starts_on"}


@dataclass(frozen=True)
class QuoteRequest:
    plan_version: PlanVersion | catalog.CachedVersion
    addons: tuple[Addon | catalog.CachedAddon, ...]
    usage: dict[str, Decimal]
    starts_on: date


def validate_quote_request(data: Mapping[str, Any]) -> QuoteRequest:
    """Check every field against the catalog; raise one ValidationError naming each bad one.
    A quote commits to nothing, so it reads the catalog from the in-process copy (a warm
    quote runs no SQL); a subscription resolves the same codes against the database."""
    fields = Fields(data, allowed=QUOTE_FIELDS)
    plan_code = fields.get("plan_code", text)
    starts_on = fields.get("starts_on", iso_date)
    addon_codes = fields.get("addons", list_of_codes, required=False, default=[])
    usage = fields.get(
        "projected_usage", lambda v: usage_map(v, RESOURCE_KINDS), required=False, default={}
    )
    source = catalog.cached_catalog(plan_code, addon_codes or ())
    version = resolve_plan_version(plan_code, starts_on, fields, source)
    addons = resolve_addons(addon_codes or [], fields, version.currency if version else None,
                            source)
    fields.done()
    return QuoteRequest(version, addons, usage, starts_on)


def resolve_plan_version(plan_code: str | None, starts_on: date | None,
                         fields: Fields, source=catalog) -> PlanVersion | None:
    """The version of ``plan_code`` in effect on ``starts_on``; problems go to ``fields``.
    ``source``: the database (the catalog module) or the cached copy (same lookups)."""
    if plan_code is None:
        return None
    plan = source.plan_by_code(plan_code)
    if plan is None:
        fields.add("plan_code", f"unknown plan {plan_code!r}")
        return None
    if starts_on is None:
        return None
    version = source.version_in_effect(plan, starts_on)
    if version is None:
        fields.add("starts_on", f"no version of plan {plan_code!r} is in effect then")
    return version


def resolve_addons(codes: list[str], fields: Fields, currency: str | None,
                   source=catalog) -> tuple[Addon, ...]:
    """The addons for ``codes``, in the order given; unknown or wrong-currency ones are errors."""
    found = source.addons_by_code(codes)
    unknown = [c for c in codes if c not in found]
    if unknown:
        fields.add("addons", f"unknown addon {', '.join(map(repr, unknown))}")
        return ()
    addons = tuple(found[c] for c in codes)
    retired = [a.code for a in addons if a.retired_at is not None]
    if retired:
        fields.add("addons", f"no longer sold: {', '.join(retired)}")
    if currency is not None:
        foreign = [a.code for a in addons if a.currency != currency]
        if foreign:
            fields.add("addons", f"not sold in {currency}: {', '.join(foreign)}")
    return addons


def price_quote(data: Mapping[str, Any]) -> tuple[QuoteRequest, engine.Quote]:
    req = validate_quote_request(data)
    quote = engine.price(
        req.plan_version.terms(), [a.terms() for a in req.addons], req.usage, req.starts_on
    )
    return req, quote
