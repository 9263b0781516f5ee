from flask import request

from ...auth import current_actor, requires
from ...services import webhooks
from ...services.paging import next_path
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
    found = webhooks.delivery_page(webhook_id, request.args)
    return {"deliveries": [serializers.webhook_delivery(d) for d in found.rows],
            "next": next_path(".list_deliveries", cursor=found.older, page=None)
            if found.older else None}


@api_bp.post("/webhooks/<int:webhook_id>/deliveries/redeliver-failed")
@requires("webhooks.manage")
def redeliver_failed(webhook_id):
    return {"redelivered": webhooks.redeliver_failed(current_actor(), webhook_id)}


@api_bp.post("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
@requires("webhooks.manage")
def redeliver(webhook_id, delivery_id):
    delivery = webhooks.redeliver(current_actor(), webhook_id, delivery_id)
    return serializers.webhook_delivery(delivery)
