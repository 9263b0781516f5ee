"""Webhook endpoints for admins: register, see deliveries with their attempts, redeliver."""
from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..auth import current_actor, requires
from ..errors import ValidationError
from ..models.webhooks import EVENT_TYPES
from ..services import webhooks

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.get("/")
@requires("webhooks.manage")
def index():
    return render_template("webhooks/index.html", **_index_context())


def _index_context(**extra) -> dict:
    return {"webhooks": webhooks.list_webhooks(), "event_types": EVENT_TYPES,
            "errors": {}, "form": {"url": "", "events": list(EVENT_TYPES)}, "created": None,
            **extra}


@bp.post("/")
@requires("webhooks.manage")
def create():
    form = {"url": request.form.get("url", ""), "events": request.form.getlist("events")}
    try:
        webhook = webhooks.create_webhook(current_actor(), form)
    except ValidationError as exc:
        return render_template("webhooks/index.html", **_index_context(errors=exc.fields, form=form)), 422
    # The secret is shown on this one answer and never again.
    return render_template("webhooks/index.html", **_index_context(created=webhook)), 201


@bp.get("/<int:webhook_id>")
@requires("webhooks.manage")
def show(webhook_id):
    return render_template("webhooks/show.html", webhook=webhooks.get_webhook(webhook_id),
                           deliveries=webhooks.deliveries(webhook_id))


@bp.post("/<int:webhook_id>/delete")
@requires("webhooks.manage")
def delete(webhook_id):
    webhooks.delete_webhook(current_actor(), webhook_id)
    flash(f"Webhook {webhook_id} deleted: nothing more is sent to it.", "ok")
    return redirect(url_for("webhooks.index"), 303)


@bp.post("/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
@requires("webhooks.manage")
def redeliver(webhook_id, delivery_id):
    delivery = webhooks.redeliver(current_actor(), webhook_id, delivery_id)
    flash(f"Delivery {delivery.id} sent again: its status below says how it went.", "ok")
    return redirect(url_for("webhooks.show", webhook_id=webhook_id), 303)
