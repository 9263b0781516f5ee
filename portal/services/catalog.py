"""Reading and seeding the catalog."""
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import selectinload

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
