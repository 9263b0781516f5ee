"""Reading what was last synced from the provider, and accepting drift."""
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..clock import utcnow
from ..errors import Conflict, NotFound, ValidationError
from ..extensions import db
from ..models import Deployment, DriftItem, ProviderBalance, ProviderCostLine, ProviderResource, SyncRun, User
from ..permissions import check
from . import audit
from .paging import Sorts, totals


def inventory_query(include_vanished: bool = False):
    query = select(ProviderResource).options(selectinload(ProviderResource.deployment)) \
        .order_by(ProviderResource.kind, ProviderResource.name, ProviderResource.id)
    if not include_vanished:
        query = query.where(ProviderResource.vanished_at.is_(None))
    return query


# The inventory page: by name (A to Z, the default) or kind, the id breaking ties.
INVENTORY_SORTS = Sorts({"name": (ProviderResource.name, str), "kind": (ProviderResource.kind, str)},
                        "name", ProviderResource.id)


def inventory_page_query(user=None, include_vanished: bool = False, search: str | None = None):
    """The inventory page's rows: ``search`` keeps resources whose name contains it."""
    query = inventory_query(include_vanished)
    if search and search.strip():
        if len(search) > 255:
            raise ValidationError({"q": "must be at most 255 characters"})
        query = query.where(ProviderResource.name.icontains(search.strip(), autoescape=True))
    return query


def inventory_totals(query, keyset=None, cursor=None):
    return totals(query, {}, keyset, cursor)


def inventory(include_vanished: bool = False) -> list[ProviderResource]:
    return list(db.session.scalars(inventory_query(include_vanished)))


def drift_query(status: str | None = "open"):
    query = select(DriftItem).options(selectinload(DriftItem.resource), selectinload(DriftItem.accepted_by)) \
        .order_by(DriftItem.opened_at.desc(), DriftItem.id.desc())
    if status:
        query = query.where(DriftItem.status == status)
    return query


def drift_items(status: str | None = "open") -> list[DriftItem]:
    return list(db.session.scalars(drift_query(status)))


def recently_closed_drift(limit: int) -> list[DriftItem]:
    """The newest closed (accepted or resolved) drift items."""
    return list(db.session.scalars(
        select(DriftItem).options(selectinload(DriftItem.resource), selectinload(DriftItem.accepted_by))
        .where(DriftItem.status != "open")
        .order_by(DriftItem.closed_at.desc(), DriftItem.id.desc()).limit(limit)))


def latest_balance() -> ProviderBalance | None:
    return db.session.scalar(select(ProviderBalance).order_by(ProviderBalance.id.desc()).limit(1))


def cost_lines(period_start) -> list[ProviderCostLine]:
    return list(db.session.scalars(
        select(ProviderCostLine).where(ProviderCostLine.period == period_start)
        .order_by(ProviderCostLine.invoice_ref, ProviderCostLine.line_no)))


def last_runs() -> dict[str, SyncRun]:
    """The newest run of each part, and the newest successful one."""
    runs = {}
    for part in ("inventory", "billing"):
        runs[part] = db.session.scalar(select(SyncRun).where(SyncRun.part == part)
                                       .order_by(SyncRun.id.desc()).limit(1))
        runs[f"{part}_ok"] = db.session.scalar(select(SyncRun).where(SyncRun.part == part, SyncRun.ok)
                                               .order_by(SyncRun.id.desc()).limit(1))
    return runs


def get_drift(drift_id: int) -> DriftItem:
    item = db.session.get(DriftItem, drift_id)
    if item is None:
        raise NotFound(f"no drift item {drift_id}")
    return item


def accept_drift(user: User, drift_id: int) -> DriftItem:
    """Adopt the observed state; idempotent (accepting an accepted item changes nothing).

    region → the deployment's region becomes the observed one; size → the recorded size does;
    untagged, unknown deployment, vanished → the portal acknowledges the resource as it is.
    """
    check(user, "provider.manage")
    item = db.session.scalar(select(DriftItem).where(DriftItem.id == drift_id).with_for_update())
    if item is None:
        raise NotFound(f"no drift item {drift_id}")
    if item.status == "accepted":
        db.session.rollback()
        return item
    if item.status == "resolved":
        db.session.rollback()
        raise Conflict(f"drift item {drift_id} resolved itself at the last sync; nothing to accept")
    resource = item.resource
    if item.kind == "region_changed":
        deployment = db.session.get(Deployment, item.deployment_id)
        deployment.region = item.observed["region"]
    elif item.kind == "size_changed":
        resource.recorded_size = item.observed["size"]
    else:
        resource.acknowledged = True
    item.status, item.closed_at, item.accepted_by_id = "accepted", utcnow(), user.id
    audit.record(user, "drift.accept", "drift", item.id, kind=item.kind,
                 provider_id=item.provider_id, observed=item.observed, recorded=item.recorded)
    db.session.commit()
    return item
