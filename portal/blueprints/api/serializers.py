"""Every JSON shape the API answers with, in one place."""
from ...billing.quote import Line, Quote
from ...jsonutil import number
from ...models import Addon, Plan, PlanVersion


def line(item: Line) -> dict:
    return {
        "kind": item.kind,
        "deployment_id": item.deployment_id,
        "resource_kind": item.resource_kind,
        "description": item.description,
        "qty": number(item.qty),
        "unit": item.unit,
        "unit_price_cents": item.unit_price_cents,
        "amount_cents": item.amount_cents,
    }


def plan_version(version: PlanVersion) -> dict:
    return {
        "version": version.version,
        "base_price_cents": version.base_price_cents,
        "currency": version.currency,
        "effective_from": version.effective_from.isoformat(),
        "items": [
            {
                "resource_kind": item.resource_kind,
                "included_qty": item.included_qty,
                "overage_price_cents": item.overage_price_cents,
                "overage_unit": item.overage_unit,
                "hard_cap_qty": item.hard_cap_qty,
            }
            for item in version.items
        ],
    }


def plan(p: Plan) -> dict:
    return {
        "id": p.id,
        "code": p.code,
        "name": p.name,
        "description": p.description,
        "versions": [plan_version(v) for v in p.versions],
    }


def addon(a: Addon) -> dict:
    return {
        "id": a.id,
        "code": a.code,
        "name": a.name,
        "price_cents": a.price_cents,
        "currency": a.currency,
        "resource_kind": a.resource_kind,
        "qty": a.qty,
    }


def quote(q: Quote, version: PlanVersion, starts_on) -> dict:
    return {
        "plan_code": version.plan.code,
        "plan_version": version.version,
        "currency": q.currency,
        "starts_on": starts_on.isoformat(),
        "recurring": [line(x) for x in q.recurring],
        "recurring_cents": q.recurring_cents,
        "first_invoice": {
            "lines": [line(x) for x in q.first_invoice],
            "total_cents": q.first_invoice_cents,
        },
        "overage": [line(x) for x in q.overage],
        "overage_cents": q.overage_cents,
        "all_in_monthly_cents": q.all_in_monthly_cents,
    }
