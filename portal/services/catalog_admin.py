"""Changing the catalog: new plans, new plan versions, new addons, retiring an addon.

Nothing issued or subscribed changes: a subscription keeps the version and the addon terms it
was made with (snapshotted), so a new version only prices what starts on or after its
``effective_from``, and a retired addon only stops being offered.
"""
import re

from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..billing.terms import BASE_UNITS, RESOURCE_KINDS, UNIT_FACTORS
from ..clock import utcnow
from ..errors import Conflict, NotFound
from ..extensions import db
from ..models import Addon, Plan, PlanItem, PlanVersion, User
from . import audit
from .catalog import plan_by_code
from .validation import FieldError, Fields, iso_date, text

_CODE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$")
MAX_CENTS = 10**12          # ten billion a month: far beyond any real price, exact in BIGINT
MAX_QTY = 10**15            # the usage ceiling (base units)
CURRENCIES = ("AUD", "USD", "NZD")
# Which overage units a resource kind may be sold in (a token is never sold by the hour).
UNITS_FOR_KIND = {"droplet_hours": ("hour",), "llm_tokens": ("1k_tokens",), "spaces_gb": ("gb",)}
PLAN_FIELDS = {"code", "name", "description", "versions"}
VERSION_FIELDS = {"base_price_cents", "currency", "effective_from", "items", "version"}
ITEM_FIELDS = {"resource_kind", "included_qty", "overage_price_cents", "overage_unit", "hard_cap_qty"}
ADDON_FIELDS = {"code", "name", "price_cents", "currency", "resource_kind", "qty"}


def code(value: Any) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise FieldError("must be 1-63 lowercase letters, digits, '-' or '_', "
                         "starting and ending with a letter or digit")
    return value


def whole(high: int):
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError("must be a whole number")
        if not 0 <= value <= high:
            raise FieldError(f"must be from 0 to {high:,}")
        return value
    return check


def currency(value: Any) -> str:
    if value not in CURRENCIES:
        raise FieldError(f"must be one of {', '.join(CURRENCIES)}")
    return value


def resource_kind(value: Any) -> str:
    if value not in RESOURCE_KINDS:
        raise FieldError(f"must be one of {', '.join(RESOURCE_KINDS)}")
    return value


def _items(value: Any) -> list[dict]:
    """Plan items as the catalog shows them; every problem names the item's index."""
    if not isinstance(value, list) or not value:
        raise FieldError("must be a non-empty list of plan items")
    items, kinds = [], set()
    for index, raw in enumerate(value):
        if not isinstance(raw, dict):
            raise FieldError(f"item {index} must be an object")
        fields = Fields(raw, ITEM_FIELDS)
        kind = fields.get("resource_kind", resource_kind)
        item = {
            "resource_kind": kind,
            "included_qty": fields.get("included_qty", whole(MAX_QTY)),
            "overage_price_cents": fields.get("overage_price_cents", whole(MAX_CENTS)),
            "overage_unit": fields.get("overage_unit", lambda u: u if u in UNIT_FACTORS else _bad_unit()),
            "hard_cap_qty": fields.get("hard_cap_qty", whole(MAX_QTY), required=False),
        }
        if fields.errors:
            name, message = next(iter(fields.errors.items()))
            raise FieldError(f"item {index}: {name} {message}")
        if item["overage_unit"] not in UNITS_FOR_KIND[kind]:
            raise FieldError(f"item {index}: {kind} is sold per {', '.join(UNITS_FOR_KIND[kind])}")
        if kind in kinds:
            raise FieldError(f"item {index}: {kind} is listed twice")
        kinds.add(kind)
        items.append(item)
    return items


def _bad_unit():
    raise FieldError(f"must be one of {', '.join(UNIT_FACTORS)}")


def _version_fields(data: Any, fields: Fields, prefix: str = "") -> dict | None:
    if not isinstance(data, dict):
        fields.add(prefix.rstrip(".") or "version", "must be an object")
        return None
    inner = Fields(data, VERSION_FIELDS)
    spec = {
        "base_price_cents": inner.get("base_price_cents", whole(MAX_CENTS)),
        "currency": inner.get("currency", currency),
        "effective_from": inner.get("effective_from", iso_date),
        "items": inner.get("items", _items),
    }
    for name, message in inner.errors.items():
        fields.add(f"{prefix}{name}", message)
    return None if inner.errors else spec


def _add_version(plan: Plan, number: int, spec: dict) -> PlanVersion:
    version = PlanVersion(plan=plan, version=number, base_price_cents=spec["base_price_cents"],
                          currency=spec["currency"], effective_from=spec["effective_from"])
    db.session.add(version)
    for item in spec["items"]:
        db.session.add(PlanItem(plan_version=version, **item))
    db.session.flush()
    return version


def create_plan(actor: User | None, data: Mapping[str, Any]) -> Plan:
    """``{code, name, description, versions: [one version]}``: a plan with its first version."""
    fields = Fields(data, PLAN_FIELDS)
    plan_code = fields.get("code", code)
    name = fields.get("name", text)
    description = fields.get("description", _description, required=False, default="")
    versions = fields.get("versions", _one_version)
    spec = _version_fields(versions[0], fields, "versions.0.") if versions else None
    fields.done()
    if plan_by_code(plan_code) is not None:
        raise Conflict(f"a plan {plan_code!r} exists already", {"code": "is taken"})
    plan = Plan(code=plan_code, name=name, description=description)
    db.session.add(plan)
    try:
        version = _add_version(plan, 1, spec)
    except IntegrityError:  # created at the same moment by another request
        db.session.rollback()
        raise Conflict(f"a plan {plan_code!r} exists already", {"code": "is taken"}) from None
    audit.record(actor, "plan.create", "plan", plan.id, code=plan_code,
                 version=_describe(version))
    db.session.commit()
    return plan


def _description(value: Any) -> str:
    if isinstance(value, str) and not value.strip():
        return ""
    return text(value, 2000)


def _one_version(value: Any) -> list:
    if not isinstance(value, list) or len(value) != 1:
        raise FieldError("must list exactly one version (add more with a new version later)")
    return value


def latest_version(plan: Plan) -> PlanVersion | None:
    return db.session.scalar(select(PlanVersion).where(PlanVersion.plan_id == plan.id)
                             .order_by(PlanVersion.effective_from.desc()).limit(1))


def get_plan(plan_code: str) -> Plan:
    plan = plan_by_code(plan_code) if isinstance(plan_code, str) else None
    if plan is None:
        raise NotFound(f"no plan {plan_code}")
    return plan


def validate_version(plan: Plan, data: Mapping[str, Any]) -> dict:
    """A new version's terms, checked against the plan: it starts after the latest one, in
    the same currency (its subscribers' addons are sold in it)."""
    fields = Fields({})
    spec = _version_fields(data, fields)
    latest = latest_version(plan)
    if spec and latest is not None:
        if spec["effective_from"] <= latest.effective_from:
            fields.add("effective_from", f"must be after {latest.effective_from.isoformat()}, "
                                         f"when version {latest.version} took effect")
        if spec["currency"] != latest.currency:
            fields.add("currency", f"must stay {latest.currency}, the plan's currency")
    fields.done()
    return spec


def create_version(actor: User | None, plan_code: str, data: Mapping[str, Any]) -> PlanVersion:
    plan = get_plan(plan_code)
    # One new version at a time per plan: the row lock orders concurrent requests.
    db.session.scalar(select(Plan).where(Plan.id == plan.id).with_for_update())
    spec = validate_version(plan, data)
    latest = latest_version(plan)
    version = _add_version(plan, (latest.version if latest else 0) + 1, spec)
    audit.record(actor, "plan.version", "plan", plan.id, code=plan.code,
                 before=_describe(latest) if latest else None, after=_describe(version))
    db.session.commit()
    return version


def _describe(version: PlanVersion) -> dict:
    return {"version": version.version, "base_price_cents": version.base_price_cents,
            "currency": version.currency, "effective_from": version.effective_from.isoformat(),
            "items": {i.resource_kind: [i.included_qty, i.overage_price_cents, i.overage_unit,
                                        i.hard_cap_qty] for i in version.items}}


def version_changes(plan: Plan, spec: dict) -> list[dict]:
    """What a new version changes against the latest one, row by row, for the preview."""
    latest = latest_version(plan)
    old = {i.resource_kind: i for i in (latest.items if latest else [])}
    rows = [{"what": "Base price a month", "old": latest.base_price_cents if latest else None,
             "new": spec["base_price_cents"], "money": True}]
    for kind in RESOURCE_KINDS:
        new = next((i for i in spec["items"] if i["resource_kind"] == kind), None)
        before = old.get(kind)
        unit = BASE_UNITS[kind]
        for label, attr, money in (("included", "included_qty", False),
                                   ("overage price", "overage_price_cents", True),
                                   ("hard cap", "hard_cap_qty", False)):
            rows.append({"what": f"{kind} {label}" + ("" if money else f" ({unit})"),
                         "old": getattr(before, attr) if before else None,
                         "new": new[attr] if new else None, "money": money})
    for row in rows:
        row["changed"] = row["old"] != row["new"]
    return rows


def create_addon(actor: User | None, data: Mapping[str, Any]) -> Addon:
    fields = Fields(data, ADDON_FIELDS)
    spec = {
        "code": fields.get("code", code),
        "name": fields.get("name", text),
        "price_cents": fields.get("price_cents", whole(MAX_CENTS)),
        "currency": fields.get("currency", currency),
        "resource_kind": fields.get("resource_kind", resource_kind),
        "qty": fields.get("qty", whole(MAX_QTY)),
    }
    fields.done()
    if db.session.scalar(select(Addon).where(Addon.code == spec["code"])) is not None:
        raise Conflict(f"an addon {spec['code']!r} exists already", {"code": "is taken"})
    addon = Addon(**spec)
    db.session.add(addon)
    try:
        db.session.flush()
    except IntegrityError:  # created at the same moment by another request
        db.session.rollback()
        raise Conflict(f"an addon {spec['code']!r} exists already", {"code": "is taken"}) from None
    audit.record(actor, "addon.create", "addon", addon.id, **spec)
    db.session.commit()
    return addon


def retire_addon(actor: User | None, addon_code: str) -> Addon:
    """Stop selling it: quotes and new subscriptions refuse it; existing ones keep it."""
    addon = db.session.scalar(select(Addon).where(Addon.code == addon_code)) if isinstance(addon_code, str) else None
    if addon is None:
        raise NotFound(f"no addon {addon_code}")
    if addon.retired_at is None:
        addon.retired_at = utcnow()
        audit.record(actor, "addon.retire", "addon", addon.id, code=addon.code)
        db.session.commit()
    return addon


