"""Reading and seeding the catalog, and the in-process copy the quote prices from."""
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session, selectinload

from ..billing.terms import AddonTerms, PlanTerms

from ..extensions import db
from ..models import Addon, Plan, PlanItem, PlanVersion


def list_plans() -> list[Plan]:
    return list(
        db.session.scalars(
            select(Plan)
            .options(selectinload(Plan.versions).selectinload(PlanVersion.items))
            .order_by(Plan.code)
        )
    )


def list_addons() -> list[Addon]:
    return list(db.session.scalars(select(Addon).order_by(Addon.code)))


def plan_by_code(code: str) -> Plan | None:
    return db.session.scalar(select(Plan).where(Plan.code == code))


def addons_by_code(codes) -> dict[str, Addon]:
    codes = list(codes)
    if not codes:
        return {}
    return {a.code: a for a in db.session.scalars(select(Addon).where(Addon.code.in_(codes)))}


def version_in_effect(plan: Plan, on: date) -> PlanVersion | None:
    """The plan version with the latest ``effective_from`` on or before ``on``."""
    return db.session.scalar(
        select(PlanVersion)
        .options(selectinload(PlanVersion.items), selectinload(PlanVersion.plan))
        .where(PlanVersion.plan_id == plan.id, PlanVersion.effective_from <= on)
        .order_by(PlanVersion.effective_from.desc())
        .limit(1)
    )


# --- the catalog as the quote sees it, cached in this process --------------------------------
# Plan versions are immutable and the catalog changes rarely, so a quote need not read it.
# The copy is dropped when this process flushes or commits a catalog write, and expires after
# CACHE_TTL seconds so that a write made in another worker is seen within that time; a plan or
# addon code the copy does not know is looked up in the database (and reloads the copy), so a
# new plan or addon is quotable everywhere at once. docs/decisions.md says why that is safe.

CACHE_TTL = 10.0  # seconds
UNKNOWN_CODE_RELOAD = 1.0  # at most one reload a second for codes the copy does not know


@dataclass(frozen=True)
class CachedPlan:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class CachedVersion:
    """What a quote needs of a plan version (the attributes a PlanVersion has)."""
    plan: CachedPlan
    version: int
    currency: str
    base_price_cents: int
    effective_from: date
    _terms: PlanTerms

    def terms(self) -> PlanTerms:
        return self._terms


@dataclass(frozen=True)
class CachedAddon:
    code: str
    name: str
    currency: str
    price_cents: int
    resource_kind: str
    qty: int
    retired_at: datetime | None
    _terms: AddonTerms

    def terms(self) -> AddonTerms:
        return self._terms


class CatalogSnapshot:
    """The whole catalog as plain frozen values, with the lookups the quote makes."""

    def __init__(self, plans: list[Plan], addons: list[Addon]):
        self.loaded_at = time.monotonic()
        self._plans: dict[str, CachedPlan] = {}
        self._versions: dict[str, list[CachedVersion]] = {}
        for plan in plans:
            cached = CachedPlan(plan.id, plan.code, plan.name)
            self._plans[plan.code] = cached
            self._versions[plan.code] = sorted(
                (CachedVersion(cached, v.version, v.currency, v.base_price_cents,
                               v.effective_from, v.terms()) for v in plan.versions),
                key=lambda v: v.effective_from, reverse=True,
            )
        self._addons = {
            a.code: CachedAddon(a.code, a.name, a.currency, a.price_cents, a.resource_kind,
                                a.qty, a.retired_at, a.terms())
            for a in addons
        }

    def plan_by_code(self, code: str) -> CachedPlan | None:
        return self._plans.get(code)

    def version_in_effect(self, plan: CachedPlan, on: date) -> CachedVersion | None:
        return next((v for v in self._versions[plan.code] if v.effective_from <= on), None)

    def addons_by_code(self, codes) -> dict[str, CachedAddon]:
        return {c: self._addons[c] for c in codes if c in self._addons}

    def knows(self, plan_code: str | None, addon_codes) -> bool:
        return (plan_code is None or plan_code in self._plans) and all(
            c in self._addons for c in addon_codes)


_cache_lock = threading.Lock()
_snapshot: CatalogSnapshot | None = None


def cached_catalog(plan_code: str | None = None, addon_codes=()) -> CatalogSnapshot:
    """The cached catalog, reloaded when stale, or when it does not know one of the codes and
    the database might (a plan or addon created in another process since)."""
    global _snapshot
    snapshot = _snapshot
    age = time.monotonic() - snapshot.loaded_at if snapshot is not None else None
    if age is not None and age < CACHE_TTL and (
            age < UNKNOWN_CODE_RELOAD or snapshot.knows(plan_code, addon_codes)):
        return snapshot
    with _cache_lock:
        snapshot = CatalogSnapshot(list_plans(), list_addons())
        _snapshot = snapshot
    return snapshot


def forget_cached_catalog() -> None:
    global _snapshot
    _snapshot = None


_CATALOG_MODELS = (Plan, PlanVersion, PlanItem, Addon)


def _catalog_written(_mapper, _connection, target) -> None:
    # Mapper events: they fire for catalog rows only, so other flushes pay nothing.
    session = object_session(target)
    if session is not None:
        session.info["catalog_written"] = True
    forget_cached_catalog()


for _model in _CATALOG_MODELS:
    for _name in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _name, _catalog_written)


@event.listens_for(Session, "do_orm_execute")
def _catalog_bulk_write(state) -> None:
    """``session.execute(update(Addon)…)`` and kin bypass the mapper events."""
    if (state.is_insert or state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ in _CATALOG_MODELS:
        state.session.info["catalog_written"] = True
        forget_cached_catalog()


@event.listens_for(Session, "after_commit")
def _catalog_committed(session) -> None:
    # Again at commit: another request may have reloaded the old catalog in between.
    if session.info.pop("catalog_written", False):
        forget_cached_catalog()


@event.listens_for(Session, "after_soft_rollback")
def _catalog_rolled_back(session, _previous) -> None:
    if session.info.pop("catalog_written", False):
        forget_cached_catalog()


# The contract's seeded catalog. More may be added; these must stay exactly so.
SEED_PLANS = [
    {
        "code": "studio",
        "name": "Studio",
        "description": "A small AI deployment: droplet hours, LLM tokens and Spaces storage.",
        "versions": [
            {
                "version": 1,
                "base_price_cents": 5000,
                "currency": "AUD",
                "effective_from": date(2026, 1, 1),
                "items": [
                    ("droplet_hours", 1488, 1, "hour", None),
                    ("llm_tokens", 1_000_000, 1, "1k_tokens", None),
                    ("spaces_gb", 100, 2, "gb", None),
                ],
            }
        ],
    }
]
SEED_ADDONS = [
    {
        "code": "storage_50gb",
        "name": "Storage 50 GB",
        "price_cents": 750,
        "currency": "AUD",
        "resource_kind": "spaces_gb",
        "qty": 50,
    }
]


def seed_catalog() -> dict[str, int]:
    """Write the seeded catalog where it is missing; never touch what exists. Idempotent."""
    created = {"plans": 0, "versions": 0, "addons": 0}
    for spec in SEED_PLANS:
        plan = plan_by_code(spec["code"])
        if plan is None:
            plan = Plan(code=spec["code"], name=spec["name"], description=spec["description"])
            db.session.add(plan)
            db.session.flush()
            created["plans"] += 1
        existing = {v.version for v in plan.versions}
        for v in spec["versions"]:
            if v["version"] in existing:
                continue
            version = PlanVersion(
                plan=plan,
                version=v["version"],
                base_price_cents=v["base_price_cents"],
                currency=v["currency"],
                effective_from=v["effective_from"],
            )
            db.session.add(version)
            for kind, included, price, unit, cap in v["items"]:
                db.session.add(
                    PlanItem(
                        plan_version=version,
                        resource_kind=kind,
                        included_qty=included,
                        overage_price_cents=price,
                        overage_unit=unit,
                        hard_cap_qty=cap,
                    )
                )
            created["versions"] += 1
    have = addons_by_code(a["code"] for a in SEED_ADDONS)
    for spec in SEED_ADDONS:
        if spec["code"] not in have:
            db.session.add(Addon(**spec))
            created["addons"] += 1
    db.session.commit()
    return created
