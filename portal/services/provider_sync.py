"""Syncing from the provider: inventory, droplet-hours, drift; balance and cost lines.

Each part fetches everything first and then writes in one transaction, so a failure midway
keeps the last good data. Pages and the API read what was last synced, whatever the token.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from flask import current_app
from sqlalchemy import select

from ..clock import utcnow
from ..extensions import db
from ..models import Deployment, DriftItem, ProviderBalance, ProviderCostLine, ProviderResource, SyncRun
from ..models.deployments import DECOMMISSIONED
from . import regions, webhooks
from .usage import insert_events

TAG_PREFIX = "arcadia:deployment:"
PARTS = ("inventory", "billing")


@dataclass
class SyncReport:
    provider: str
    results: dict[str, dict] = field(default_factory=dict)

    @property
    def any_ok(self) -> bool:
        return any(r["ok"] for r in self.results.values())

    @property
    def failures(self) -> dict[str, str]:
        return {part: r["error"] for part, r in self.results.items() if not r["ok"]}

    def as_dict(self) -> dict:
        return {"provider": self.provider, "results": self.results}


def provider_name() -> str:
    return "digitalocean" if current_app.config.get("DIGITALOCEAN_TOKEN") else "demo"


def make_client():
    """The DigitalOcean client when a token is configured, else the demo provider."""
    config = current_app.config
    if config.get("DIGITALOCEAN_TOKEN"):
        from ..provider.digitalocean import DigitalOceanClient

        return DigitalOceanClient(config["DIGITALOCEAN_TOKEN"], config["DIGITALOCEAN_API_URL"],
                                  timeout=config["PROVIDER_TIMEOUT_SECONDS"])
    from ..provider.demo import DemoProvider

    return DemoProvider.for_deployments(
        db.session.execute(select(Deployment.id, Deployment.region, Deployment.status)
                           .order_by(Deployment.id)).all(), today=utcnow().date())


def sync(parts=PARTS, client=None, now: datetime | None = None) -> SyncReport:
    """Run the named parts; each succeeds or fails on its own and is recorded in a SyncRun."""
    now = now or utcnow()
    report = SyncReport(provider_name())
    if client is None:
        try:
            client = make_client()
        except Exception as exc:  # e.g. a malformed token: every part failed, say so
            message = _failure_message(exc, "client")
            for part in parts:
                db.session.add(SyncRun(provider=report.provider, part=part, started_at=now,
                                       finished_at=utcnow(), ok=False, error=message))
                report.results[part] = {"ok": False, "error": message, "counts": {}}
            db.session.commit()
            return report
    try:
        for part in parts:
            run = SyncRun(provider=report.provider, part=part, started_at=now)
            db.session.add(run)
            db.session.commit()
            try:
                counts = {"inventory": sync_inventory, "billing": sync_billing}[part](client, now)
            except Exception as exc:  # a provider failure must not take the last good data
                db.session.rollback()
                message = _failure_message(exc, part)
                report.results[part] = {"ok": False, "error": message, "counts": {}}
                run = db.session.get(SyncRun, run.id)
                run.ok, run.error, run.finished_at = False, message, utcnow()
            else:
                report.results[part] = {"ok": True, "error": None, "counts": counts}
                run = db.session.get(SyncRun, run.id)
                run.ok, run.counts, run.finished_at = True, counts, utcnow()
            db.session.commit()
    finally:
        close = getattr(client, "close", None)
        if close:
            close()
    webhooks.dispatch()  # drift.opened events, now committed
    return report


def _drift_as_shown(item: DriftItem) -> dict:
    from ..blueprints.api.serializers import drift

    return drift(item)


def _failure_message(exc: Exception, part: str) -> str:
    """What admins read about a failed part. Provider errors carry a sentence of their own;
    anything else is unexpected, so it is logged with its traceback too."""
    message = getattr(exc, "message", None)
    if message:
        return message
    current_app.logger.exception("provider sync (%s) failed", part)
    return f"{type(exc).__name__}: {exc}"


# --- inventory -----------------------------------------------------------------------------


def _tagged_deployment(tags) -> tuple[bool, int | None]:
    """(carries our tag, the deployment id it names or None when malformed)."""
    for tag in tags:
        if tag.startswith(TAG_PREFIX):
            rest = tag[len(TAG_PREFIX):]
            return True, int(rest) if rest.isascii() and rest.isdigit() and len(rest) < 10 else None
    return False, None


def sync_inventory(client, now: datetime) -> dict:
    listed_regions = client.regions()  # fetch everything before writing anything
    droplets = client.droplets()
    volumes = client.volumes()
    observed = [("droplet", d) for d in droplets] + [("volume", v) for v in volumes]
    provider = provider_name()
    region_count = regions.store(listed_regions, provider, now)
    deployments = {d.id: d for d in db.session.scalars(select(Deployment))}
    existing = {(r.kind, r.provider_id): r for r in db.session.scalars(select(ProviderResource))}
    seen, created, metered = set(), 0, []
    hour = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    for kind, item in observed:
        key = (kind, item.provider_id)
        seen.add(key)
        resource = existing.get(key)
        if resource is None:
            resource = ProviderResource(kind=kind, provider_id=item.provider_id,
                                        recorded_size=item.size, first_seen_at=now)
            db.session.add(resource)
            existing[key] = resource
            created += 1
        _, deployment_id = _tagged_deployment(item.tags)
        if deployment_id not in deployments:
            deployment_id = None
        if resource.deployment_id != deployment_id:
            resource.acknowledged = False  # an earlier acceptance was about another attribution
        resource.provider, resource.name, resource.region = provider, item.name, item.region
        resource.size, resource.status, resource.tags = item.size, item.status, list(item.tags)
        resource.deployment_id, resource.last_seen_at, resource.vanished_at = deployment_id, now, None
        deployment = deployments.get(deployment_id)
        if kind == "droplet" and item.status == "active" and deployment is not None \
                and deployment.status != DECOMMISSIONED:
            metered.append({
                "event_id": f"do:droplet:{item.provider_id}:{hour:%Y-%m-%dT%H}",
                "deployment_id": deployment_id, "resource_kind": "droplet_hours",
                "quantity": 1, "occurred_at": hour,
            })
    vanished = 0
    for key, resource in existing.items():
        if key not in seen and resource.vanished_at is None:
            resource.vanished_at = now
            vanished += 1
    db.session.flush()
    metered_new = insert_events(metered)
    open_count = _reconcile_drift(list(existing.values()), deployments, now)
    db.session.commit()
    return {"regions": region_count, "droplets": len(droplets), "volumes": len(volumes), "new": created,
            "vanished": vanished, "droplet_hours": metered_new, "drift_open": open_count}


def _conditions(resource: ProviderResource, deployments) -> list[tuple[str, dict, dict]]:
    """The drift this resource shows now: (kind, observed, recorded)."""
    if resource.vanished_at is not None:
        if resource.deployment_id is not None and not resource.acknowledged:
            return [("vanished", {"status": "gone"},
                     {"name": resource.name, "region": resource.region, "size": resource.size})]
        return []
    tagged, named = _tagged_deployment(resource.tags)
    if not tagged:
        return [] if resource.acknowledged else [("untagged", {"tags": resource.tags}, {})]
    deployment = deployments.get(resource.deployment_id)
    if deployment is None or deployment.status == DECOMMISSIONED:
        if resource.acknowledged:
            return []
        why = "is decommissioned" if deployment is not None else "does not exist"
        return [("unknown_deployment", {"tags": resource.tags},
                 {"deployment": named, "reason": f"deployment {named} {why}"})]
    found = []
    if resource.region != deployment.region:
        found.append(("region_changed", {"region": resource.region}, {"region": deployment.region}))
    if resource.size != resource.recorded_size:
        found.append(("size_changed", {"size": resource.size}, {"size": resource.recorded_size}))
    return found


def _reconcile_drift(resources, deployments, now) -> int:
    """Open what is newly different, refresh what still is, resolve what no longer is."""
    current = {}
    for resource in resources:
        for kind, observed, recorded in _conditions(resource, deployments):
            current[(resource.id, kind)] = (resource, observed, recorded)
    open_items = {(i.resource_id, i.kind): i for i in db.session.scalars(
        select(DriftItem).where(DriftItem.status == "open"))}
    for key, item in open_items.items():
        if key not in current:
            item.status, item.closed_at = "resolved", now
    for key, (resource, observed, recorded) in current.items():
        item = open_items.get(key)
        if item is None:
            item = DriftItem(kind=key[1], resource_id=resource.id, provider_id=resource.provider_id,
                             deployment_id=resource.deployment_id, observed=observed,
                             recorded=recorded, opened_at=now)
            db.session.add(item)
            db.session.flush()
            webhooks.emit("drift.opened", _drift_as_shown(item))
        else:
            item.observed, item.recorded, item.deployment_id = observed, recorded, resource.deployment_id
    return len(current)


# --- billing -------------------------------------------------------------------------------


def sync_billing(client, now: datetime) -> dict:
    balance = client.balance()
    invoices = client.invoices()
    have = set(db.session.scalars(select(ProviderCostLine.invoice_ref).distinct()))
    # The provider's past invoices are final: fetch the items of the ones not stored yet.
    items = {inv.invoice_uuid: client.invoice_items(inv.invoice_uuid)
             for inv in invoices if inv.invoice_uuid not in have}
    currency = current_app.config["PROVIDER_CURRENCY"]
    db.session.add(ProviderBalance(
        provider=provider_name(), currency=currency,
        month_to_date_usage_cents=balance.month_to_date_usage_cents,
        month_to_date_balance_cents=balance.month_to_date_balance_cents,
        account_balance_cents=balance.account_balance_cents,
        generated_at=balance.generated_at, synced_at=now))
    owners = resource_owners()
    lines = 0
    for inv in invoices:
        for line_no, item in enumerate(items.get(inv.invoice_uuid, ()), start=1):
            db.session.add(ProviderCostLine(
                source="api", invoice_ref=inv.invoice_uuid, line_no=line_no,
                period=period_start(inv.period), product=item.product,
                provider_id=item.resource_id or item.resource_uuid, description=item.description,
                amount_cents=item.amount_cents, currency=currency,
                deployment_id=owners.get(item.resource_id) or owners.get(item.resource_uuid)))
            lines += 1
    db.session.commit()
    return {"invoices": len(items), "cost_lines": lines}


def resource_owners() -> dict[str, int]:
    """provider id → deployment id, for every resource attributed to one."""
    return dict(db.session.execute(
        select(ProviderResource.provider_id, ProviderResource.deployment_id)
        .where(ProviderResource.deployment_id.is_not(None))).all())


def period_start(value: str) -> date:
    year, month = value.split("-")
    return date(int(year), int(month), 1)

