from flask import request

from ...auth import current_actor, requires
from ...services import webhooks
from ...services.paging import next_page_path, page_of, parse_page
from . import api_bp, json_body, serializers


@api_bp.get("/webhooks")
@requires("webhooks.manage")
def list_webhooks():
    return {"webhooks": [serializers.webhook(w) for w in webhooks.list_webhooks()], "next": None}


@api_bp.post("/webhooks")
@requires("webhooks.manage")
def create_webhook():
    webhook = webhooks.create_webhook(current_actor(), json_body())
    return serializers.webhook(webhook, with_secret=True), 201


@api_bp.delete("/webhooks/<int:webhook_id>")
@requires("webhooks.manage")
def delete_webhook(webhook_id):
    webhooks.delete_webhook(current_actor(), webhook_id)
    return "", 204


@api_bp.get("/webhooks/<int:webhook_id>/deliveries")
@requires("webhooks.manage")
def list_deliveries(webhook_id):
    rows, next_page = page_of(webhooks.deliveries_query(webhook_id), *parse_page(request.args))
    return {"deliveries": [serializers.webhook_delivery(d) for d in rows],
            "next": next_page_path(".list_deliveries", next_page)}


@api_bp.post("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
@requires("webhooks.manage")
def redeliver(webhook_id, delivery_id):
    delivery = webhooks.redeliver(current_actor(), webhook_id, delivery_id)
    return serializers.webhook_delivery(delivery)
