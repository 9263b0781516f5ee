from flask import request

from ...auth import current_actor, requires
from ...services import deployments, invoices, regions, rollup, subscriptions, usage
from ...services.paging import keyset_page, next_path, parse_list_args
from . import api_bp, json_body, serializers


@api_bp.get("/deployments")
@requires("deployments.read")
def list_deployments():
    """Filtered as the page is (``tenant`` an exact slug, ``status``, ``region``, ``name`` any
    part of it) and paged by cursor, in ``sort``'s order (default by name)."""
    args = parse_list_args(request.args, deployments.API_DEPLOYMENT_SORTS)
    query = deployments.deployments_query(current_actor(), tenant_slug=request.args.get("tenant") or None,
                                          **deployments.list_filters(request.args))
    found = keyset_page(query, args.keyset, args.cursor, args.page, args.per_page)
    return {"deployments": [serializers.deployment(d) for d in found.rows],
            "next": next_path(".list_deployments", cursor=found.older, page=None) if found.older else None}


@api_bp.get("/regions")
@requires("deployments.read")
def list_regions():
    """The provider's regions as last synced (DigitalOcean's published list before the first
    sync); ``available`` ones are what a new deployment may choose."""
    return {"regions": [{"slug": r.slug, "name": r.name, "available": r.available}
                        for r in regions.list_regions()],
            "synced": regions.synced()}


@api_bp.post("/deployments")
@requires("deployments.create")
def create_deployment():
    d = deployments.create_deployment(current_actor(), json_body())
    return serializers.deployment(d), 201


@api_bp.get("/deployments/<int:deployment_id>")
@requires("deployments.read")
def get_deployment(deployment_id):
    return serializers.deployment(deployments.get_deployment(current_actor(), deployment_id))


@api_bp.post("/deployments/<int:deployment_id>/transition")
@requires("deployments.read")  # the service answers 404 before 403 for another tenant's
def transition(deployment_id):
    d = deployments.transition(current_actor(), deployment_id, json_body())
    return serializers.deployment(d)


@api_bp.post("/deployments/<int:deployment_id>/subscribe")
@requires("deployments.read")  # the service answers 404 before 403 for another tenant's
def subscribe(deployment_id):
    sub = deployments.subscribe(current_actor(), deployment_id, json_body())
    return serializers.deployment(sub.deployment), 201


@api_bp.post("/deployments/<int:deployment_id>/subscription/change")
@requires("deployments.read")  # the service answers 404 before 403 for another tenant's
def change_subscription(deployment_id):
    d = subscriptions.change_subscription(current_actor(), deployment_id, json_body())
    return serializers.deployment(d)


@api_bp.post("/deployments/<int:deployment_id>/subscription/end")
@requires("deployments.read")  # the service answers 404 before 403 for another tenant's
def end_subscription(deployment_id):
    d = subscriptions.end_subscription(current_actor(), deployment_id, json_body())
    return serializers.deployment(d)


@api_bp.get("/deployments/<int:deployment_id>/usage")
@requires("deployments.read")
def deployment_usage(deployment_id):
    d = deployments.get_deployment(current_actor(), deployment_id)
    period = request.args.get("period")
    start, end = invoices.parse_period(period)
    return {"deployment_id": d.id, "period": period,
            "usage": rollup.usage_as_billed(d, start, end)}


@api_bp.post("/usage")
@requires("usage.ingest")
def ingest_usage():
    return usage.ingest(json_body())
