"""Webhook endpoints for admins: register, see deliveries with their attempts (a keyset list
filtered by status, through the lists' ListView), redeliver one or every failed one."""
from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..auth import current_actor, requires
from ..errors import ValidationError
from ..htmx import is_htmx
from ..listing import ListView
from ..models.webhooks import DELIVERY_STATES, EVENT_TYPES
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


def _delivery_filters(user) -> dict:
    return {"webhook_id": request.view_args["webhook_id"],
            "status": request.args.get("status") or None}


DELIVERIES = ListView(
    "webhooks.show", "webhooks.deliveries_summary", "webhooks/show.html",
    "webhooks/_deliveries.html", webhooks.DELIVERY_SORTS,
    lambda user, **filters: webhooks.deliveries_query(**filters), webhooks.delivery_totals,
    _delivery_filters, ("delivery", "deliveries"))


@bp.get("/<int:webhook_id>")
@requires("webhooks.manage")
def show(webhook_id):
    webhook = webhooks.get_webhook(webhook_id)
    # The per-status counts and the bulk action sit outside the rows fragment.
    counts = None if is_htmx() else webhooks.count_by_status(webhook_id)
    return DELIVERIES.render(webhook=webhook, counts=counts, states=DELIVERY_STATES)


@bp.get("/<int:webhook_id>/deliveries/summary")
@requires("webhooks.manage")
def deliveries_summary(webhook_id):
    return DELIVERIES.summary()


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


@bp.post("/<int:webhook_id>/deliveries/redeliver-failed")
@requires("webhooks.manage")
def redeliver_failed(webhook_id):
    count = webhooks.redeliver_failed(current_actor(), webhook_id)
    if count:
        flash(f"{count:,} failed {'delivery' if count == 1 else 'deliveries'} sent again, oldest "
              "event first: their statuses below say how it went.", "ok")
    else:
        flash("No delivery had failed: nothing was sent again.", "warn")
    return redirect(url_for("webhooks.show", webhook_id=webhook_id), 303)
