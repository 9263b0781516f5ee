"""The provider's regions: the list a new deployment's region is chosen from.

``provider sync`` (inventory) stores the provider's list (``store``), replacing the last one.
Before the first sync the table is empty and DigitalOcean's published list stands in
(provider/regions.py), so a fresh install and the demo can create deployments at once.
Only an available region is offered or accepted for a new deployment; an existing deployment
keeps whatever region it records, listed or not.
"""
from datetime import datetime

from sqlalchemy import select

from ..extensions import db
from ..models import ProviderRegion
from ..provider.digitalocean import Region
from ..provider.regions import PUBLISHED_REGIONS


def list_regions() -> list[Region]:
    """Every region the provider last listed (available or not), by slug."""
    rows = db.session.scalars(select(ProviderRegion).order_by(ProviderRegion.slug)).all()
    if not rows:
        return sorted(PUBLISHED_REGIONS, key=lambda r: r.slug)
    return [Region(slug=r.slug, name=r.name, available=r.available, sizes=tuple(r.sizes),
                   features=tuple(r.features)) for r in rows]


def available_regions() -> list[Region]:
    """What a new deployment may choose, by name ("Amsterdam 3" … "Toronto 1")."""
    return sorted((r for r in list_regions() if r.available), key=lambda r: (r.name, r.slug))


def labels() -> dict[str, str]:
    """slug → "Sydney 1 (syd1)" for every listed region (a slug not listed shows as itself)."""
    return {r.slug: r.label for r in list_regions()}


def synced() -> bool:
    """Whether the list is the provider's (a sync stored it) rather than the published one."""
    return db.session.scalar(select(ProviderRegion.slug).limit(1)) is not None


def region_problem(slug: str) -> str | None:
    """Why ``slug`` cannot be a new deployment's region (None when it can)."""
    regions = {r.slug: r for r in list_regions()}
    region = regions.get(slug)
    if region is not None and region.available:
        return None
    offered = ", ".join(sorted(s for s, r in regions.items() if r.available))
    if region is not None:
        return f"{region.label} is not available for new deployments; choose one of {offered}"
    return f"is not one of the provider's regions; choose one of {offered}"


def store(regions: list[Region], provider: str, now: datetime) -> int:
    """Replace the stored list with ``regions`` (within the caller's transaction). An empty
    answer keeps the last list: an account always sees some region, so it is a fault."""
    if not regions:
        return 0
    listed = {r.slug: r for r in regions}
    stored = {r.slug: r for r in db.session.scalars(select(ProviderRegion))}
    for slug, row in stored.items():
        if slug not in listed:
            db.session.delete(row)
    for slug, region in listed.items():
        row = stored.get(slug) or ProviderRegion(slug=slug)
        row.name, row.available, row.provider, row.synced_at = (
            region.name, region.available, provider, now)
        row.sizes, row.features = list(region.sizes), list(region.features)
        db.session.add(row)
    return len(listed)
