"""Every JSON shape the API answers with, in one place."""
from ...billing.quote import Line, Quote
from ...jsonutil import number
from ...models import Addon, Plan, PlanVersion
from ...services import payments


def line(item: Line) -> dict:
    """A priced line: the engine's ``Line`` or a stored ``InvoiceLine`` (same attributes)."""
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
        "retired": a.retired_at is not None,
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


def subscription(sub) -> dict | None:
    if sub is None:
        return None
    return {
        "id": sub.id,
        "plan_code": sub.plan_version.plan.code,
        "plan_version": sub.plan_version.version,
        "addons": [
            {"code": a.addon.code, "name": a.name, "price_cents": a.price_cents,
             "resource_kind": a.resource_kind, "qty": a.qty}
            for a in sub.addons
        ],
        "starts_on": sub.starts_on.isoformat(),
        "ends_on": sub.ends_on.isoformat() if sub.ends_on else None,
    }


def deployment(d) -> dict:
    from ...services.deployments import current_subscription

    return {
        "id": d.id,
        "tenant_id": d.tenant_id,
        "name": d.name,
        "region": d.region,
        "status": d.status,
        "subscription": subscription(current_subscription(d)),
    }


def invoice(inv, with_lines: bool = False) -> dict:
    body = {
        "id": inv.id,
        "number": inv.number,
        "tenant_id": inv.tenant_id,
        "period_start": inv.period_start.isoformat(),
        "period_end": inv.period_end.isoformat(),
        "currency": inv.currency,
        "subtotal_cents": inv.subtotal_cents,
        "tax_cents": inv.tax_cents,
        "total_cents": inv.total_cents,
        "status": inv.status,
        "issued_on": inv.issued_on.isoformat() if inv.issued_on else None,
        "due_on": inv.due_on.isoformat() if inv.due_on else None,
        "paid_on": inv.paid_on.isoformat() if inv.paid_on else None,
        "amount_paid_cents": inv.amount_paid_cents or 0,
        "amount_credited_cents": inv.amount_credited_cents or 0,
        "credit_applied_cents": inv.credit_applied_cents or 0,
        "amount_due_cents": payments.amount_due_cents(inv),
        "overdue": payments.is_overdue(inv),
    }
    if with_lines:
        body["lines"] = [{"id": x.id, **line(x)} for x in inv.lines]
    return body


def payment(p) -> dict:
    return {
        "id": p.id,
        "invoice_id": p.invoice_id,
        "amount_cents": p.amount_cents,
        "paid_on": p.paid_on.isoformat(),
        "method": p.method,
        "reference": p.reference,
    }


def credit_note(note) -> dict:
    """The contract's shape, plus where its total went (``against_invoice_cents``,
    ``to_balance_cents``, ``refund_cents``) and when a refund was paid out."""
    return {
        "id": note.id,
        "number": note.number,
        "invoice_id": note.invoice_id,
        "tenant_id": note.tenant_id,
        "reason": note.reason,
        "issued_on": note.issued_on.isoformat(),
        "currency": note.currency,
        "subtotal_cents": note.subtotal_cents,
        "tax_cents": note.tax_cents,
        "total_cents": note.total_cents,
        "lines": [{"line_id": x.invoice_line_id, "description": x.description,
                   "amount_cents": x.amount_cents} for x in note.lines],
        "against_invoice_cents": note.against_invoice_cents,
        "to_balance_cents": note.to_balance_cents,
        "refund_cents": note.refund_cents,
        "refunded_on": note.refunded_on.isoformat() if note.refunded_on else None,
    }


def _iso(moment):
    return moment.isoformat() if moment else None


def api_token(t) -> dict:
    """A token as its owner sees it in a list: never its secret or its hash."""
    return {
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "created_at": _iso(t.created_at),
        "expires_at": _iso(t.expires_at),
        "last_used_at": _iso(t.last_used_at),
        "revoked_at": _iso(t.revoked_at),
    }


def new_api_token(t, secret: str) -> dict:
    """The one answer that carries a token's secret: the creation's."""
    return {"id": t.id, "name": t.name, "token": secret, "prefix": t.prefix,
            "created_at": _iso(t.created_at), "expires_at": _iso(t.expires_at)}


def audit_entry(e) -> dict:
    """The contract's ``object_type``/``object_id`` are the model's target."""
    return {
        "id": e.id,
        "at": _iso(e.at),
        "actor": e.actor,
        "action": e.action,
        "object_type": e.target_type,
        "object_id": e.target_id,
        "details": e.details or {},
    }


def resource(r) -> dict:
    return {
        "id": r.id,
        "provider_id": r.provider_id,
        "kind": r.kind,
        "name": r.name,
        "region": r.region,
        "size": r.size,
        "status": r.status,
        "tags": list(r.tags or []),
        "deployment_id": r.deployment_id,
        "last_seen_at": _iso(r.last_seen_at),
    }


def balance(b) -> dict:
    return {
        "month_to_date_usage_cents": b.month_to_date_usage_cents,
        "month_to_date_balance_cents": b.month_to_date_balance_cents,
        "account_balance_cents": b.account_balance_cents,
        "generated_at": _iso(b.generated_at),
        "currency": b.currency,
        "synced_at": _iso(b.synced_at),
    }


def cost_line(c) -> dict:
    return {
        "product": c.product,
        "provider_id": c.provider_id,
        "description": c.description,
        "amount_cents": c.amount_cents,
        "period": c.period.strftime("%Y-%m"),
        "deployment_id": c.deployment_id,
        "currency": c.currency,
    }


def drift(d) -> dict:
    return {
        "id": d.id,
        "kind": d.kind,
        "provider_id": d.provider_id,
        "deployment_id": d.deployment_id,
        "observed": d.observed,
        "recorded": d.recorded,
        "status": d.status,
    }


def webhook(w, with_secret: bool = False) -> dict:
    body = {"id": w.id, "url": w.url, "events": list(w.events), "created_at": _iso(w.created_at)}
    if with_secret:
        body["secret"] = w.secret
    return body


def webhook_delivery(d) -> dict:
    return {
        "id": d.id,
        "event_id": d.event.public_id,
        "type": d.event.type,
        "status": d.status,
        "attempts": d.attempts,
        "last_status_code": d.last_status_code,
        "next_attempt_at": _iso(d.next_attempt_at) if d.status == "pending" else None,
        "delivered_at": _iso(d.delivered_at),
        "attempt_log": [{"at": _iso(a.at), "status_code": a.status_code,
                         "duration_ms": a.duration_ms, "error": a.error} for a in d.attempt_log],
    }


def tenant(t) -> dict:
    return {"id": t.id, "slug": t.slug, "name": t.name, "billing_name": t.billing_name,
            "billing_address": t.billing_address, "billing_email": t.billing_email,
            "abn": t.abn}


def user(u) -> dict:
    """``invited``: invited and not accepted yet (no password of its own)."""
    return {"id": u.id, "email": u.email, "role": u.role,
            "tenant": u.tenant.slug if u.tenant else None, "active": u.active,
            "invited": u.invitation_pending}
