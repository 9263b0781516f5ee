from flask import request

from ...auth import current_actor, requires
from ...services import deployments, invoices, rollup, subscriptions, usage
from ...services.paging import next_page_path, page_of, parse_page
from . import api_bp, json_body, serializers


@api_bp.get("/deployments")
@requires("deployments.read")
def list_deployments():
    query = deployments.deployments_query(current_actor(), tenant_slug=request.args.get("tenant"))
    rows, next_page = page_of(query, *parse_page(request.args))
    return {"deployments": [serializers.deployment(d) for d in rows], "next": next_page_path(".list_deployments", next_page)}


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
