"""Deployment pages (admins: all tenants; tenant users: their own).

The detail page's status widget (badge, transition buttons, subscription, history) is one
partial, ``_status.html``: included in the page, and returned alone to an HTMX post so it
replaces itself. Without JavaScript the same forms post and are redirected back (303).
"""
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Callable

from flask import Blueprint, make_response, redirect, render_template, request, url_for

from ..auth import current_actor, requires
from ..billing.rollup import BillingError
from ..clock import today
from ..errors import Conflict, ValidationError
from ..htmx import hx_problem, hx_status, is_htmx, problem_text, render_page_or_fragment
from ..listing import ListView
from ..models.deployments import DECOMMISSIONED, STATES, TRANSITIONS
from ..permissions import can, may_move_deployments
from ..services import accounts, catalog, deployments, regions, subscriptions

bp = Blueprint("deployments", __name__, url_prefix="/deployments")


def _tenant_slugs() -> list[str]:
    return [t.slug for t in accounts.list_tenants()]


def _to_detail(deployment_id: int):
    return redirect(url_for(".show", deployment_id=deployment_id), 303)


# --- list -------------------------------------------------------------------------------


def _filters(user) -> dict:
    filters = deployments.list_filters(request.args)
    if user.is_platform_admin:  # the search box: an exact slug, or a slug prefix
        filters["tenant_search"] = request.args.get("tenant") or None
    return filters


LIST = ListView("deployments.index", "deployments.summary", "deployments/index.html",
                "deployments/_table.html", deployments.DEPLOYMENT_SORTS,
                partial(deployments.deployments_query, loads=deployments.list_loads()),
                deployments.deployment_count, _filters,
                ("deployment", "deployments"), events=("deployment-changed",))


@bp.get("/")
@requires("deployments.read")
def index():
    user = current_actor()
    listed = regions.list_regions()
    return LIST.render(
        states=STATES, show_tenant=user.is_platform_admin, region_labels={r.slug: r.label for r in listed},
        region_options=[(r.slug, r.label) for r in listed],
        current_subscription=deployments.current_subscription)


@bp.get("/summary")
@requires("deployments.read")
def summary():
    return LIST.summary()


# --- create -----------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@requires("deployments.create")
def new():
    """The create form: a page of its own, or (HTMX) the panel on the list that swaps itself,
    says what was made and fires ``deployment-changed`` so the list below refreshes."""
    user = current_actor()
    form, errors, message, status, created = dict(request.args), {}, None, 200, None
    if request.method == "POST":
        form = request.form.to_dict()
        data = {"name": form.get("name", ""), "region": form.get("region", "")}
        if user.is_platform_admin:  # a tenant_admin requests for its own tenant
            data["tenant"] = form.get("tenant") or None
        try:
            created = deployments.create_deployment(user, data)
        except ValidationError as exc:
            errors, status = exc.fields, 422
        except Conflict as exc:
            errors, message, status = exc.fields, exc.message, 409
        else:
            if not is_htmx():
                return _to_detail(created.id)
            form = {"tenant": form.get("tenant", "")}  # ready for the next one, same tenant
    if "tenant_id" in errors:  # the form's field is the tenant select
        errors.setdefault("tenant", errors.pop("tenant_id"))
    available = regions.available_regions()
    context = {
        "form": form, "errors": errors, "message": message, "created": created,
        "tenants": [(slug, slug) for slug in _tenant_slugs()] if user.is_platform_admin else [],
        "region_options": [(r.slug, r.label) for r in available],
        "region_labels": {r.slug: r.label for r in available},
        "regions_synced": regions.synced(),
    }
    if not is_htmx():
        return render_template("deployments/new.html", **context), status
    response = make_response(render_template("deployments/_create.html", **context),
                             _error_status(status))
    if created is not None:
        where = context["region_labels"].get(created.region, created.region)
        hx_status(response, f"Deployment {created.name} requested for {created.tenant.slug} in {where}.",
                  "deployment-changed")
    return response


# --- detail, transitions, subscribing ---------------------------------------------------


def _render_detail(deployment_id: int, status: int = 200, fragment: str = "deployments/_status.html",
                   **extra):
    """The detail page, or for HTMX ``fragment`` (the status widget unless a preview asked);
    ``extra`` carries the forms as typed and their inline errors."""
    user = current_actor()
    deployment = deployments.get_deployment(user, deployment_id)
    sub = deployments.current_subscription(deployment)
    running = sub is not None and sub.ends_on is None
    may_subscribe = (can(user, "deployments.subscribe")
                     and deployment.status != DECOMMISSIONED and not running)
    may_change = can(user, "deployments.subscribe") and deployment.status != DECOMMISSIONED and running
    context = {
        "deployment": deployment,
        "sub": sub,
        "next_states": deployments.transitions_for(user, deployment),
        "may_transition": may_move_deployments(user),
        "is_final": not TRANSITIONS[deployment.status],
        "may_subscribe": may_subscribe,
        "may_change": may_change,
        "plans": catalog.list_plans() if may_subscribe or may_change else [],
        "addons": catalog.list_addons() if may_subscribe or may_change else [],
        "sub_form": {"plan_code": "", "addons": [], "starts_on": today().isoformat()},
        "sub_errors": {},
        "sub_message": None,
        "transition_error": None,
        "change_errors": {},
        "change_message": None,
        "end_errors": {},
        "end_message": None,
        "region_label": regions.labels().get(deployment.region, deployment.region),
    }
    context.update(extra)
    if may_change:
        context.setdefault("change_form", _default_change_form(sub))
        context.setdefault("end_form", _default_end_form(sub))
        for action in ("change", "end"):
            if f"{action}_preview" not in context:
                context[f"{action}_preview"] = _preview(action, deployment.id,
                                                        context[f"{action}_form"])
    return render_page_or_fragment("deployments/show.html", fragment, status=status, **context)


def _default_change_form(sub) -> dict:
    """Today (or the day after the start, for one that starts later), the terms as they are."""
    day = max(today(), sub.starts_on + timedelta(days=1))
    return {"plan_code": sub.plan_version.plan.code,
            "addons": [a.addon.code for a in sub.addons], "effective_on": day.isoformat()}


def _default_end_form(sub) -> dict:
    return {"ends_on": max(today(), sub.starts_on).isoformat()}


def _change_form(values) -> dict:
    return {"plan_code": values.get("plan_code", ""), "addons": values.getlist("addons"),
            "effective_on": values.get("effective_on", "")}


def _end_form(values) -> dict:
    return {"ends_on": values.get("ends_on", "")}


@dataclass(frozen=True)
class SubscriptionAction:
    """Changing or ending the running subscription: how the page reads its form, the write,
    its preview, and what the status message says once done."""
    read_form: Callable
    write: Callable
    preview: Callable
    done: Callable  # form -> message
    doing: str  # what a refusal's message says could not be done


SUBSCRIPTION_ACTIONS = {
    "change": SubscriptionAction(
        _change_form, subscriptions.change_subscription, subscriptions.preview_change,
        lambda form: f"Subscription changed to {form['plan_code']} from {form['effective_on']}.",
        "change the subscription"),
    "end": SubscriptionAction(
        _end_form, subscriptions.end_subscription, subscriptions.preview_end,
        lambda form: f"Subscription ends: {form['ends_on']} is its last billed day.",
        "end the subscription"),
}


def _preview(action: str, deployment_id: int, form: dict) -> dict:
    """What the month of the change (or end) would bill, or why it cannot be priced: the
    same service and checks as the write, nothing written."""
    service = SUBSCRIPTION_ACTIONS[action].preview
    try:
        return {"action": action, "result": service(current_actor(), deployment_id, form),
                "errors": {}, "message": None, "status": 200}
    except ValidationError as exc:
        return {"action": action, "result": None, "errors": exc.fields, "message": None,
                "status": 422}
    except (Conflict, BillingError) as exc:  # an issued month, nothing running, currencies
        return {"action": action, "result": None, "errors": exc.fields, "message": exc.message,
                "status": exc.status}


# The subscription forms' fields as their labels read.
FIELD_LABELS = {"plan_code": "Plan", "addons": "Addons", "starts_on": "Starts on",
                "effective_on": "Effective on", "ends_on": "Last billed day", "to": "Status"}


def _refused(exc, doing: str, response):
    """An action refused (422 with its fields, or a conflict): the widget shows it by the form,
    and for HTMX the toast says it too."""
    return hx_problem(response, problem_text(exc, doing, FIELD_LABELS)) if is_htmx() else response


def _error_status(status: int) -> int:
    # base.html's htmx config swaps 2xx and 422 only: a 409 goes to HTMX as 200 with its message.
    return 200 if status == 409 and is_htmx() else status


@bp.get("/<int:deployment_id>")
@requires("deployments.read")
def show(deployment_id):
    return _render_detail(deployment_id)


@bp.post("/<int:deployment_id>/transition")
@requires("deployments.read")  # the service answers 404 before 403 for another tenant's
def transition(deployment_id):
    try:
        moved = deployments.transition(current_actor(), deployment_id, {"to": request.form.get("to")})
    except (Conflict, ValidationError) as exc:
        return _refused(exc, "move the deployment", _render_detail(
            deployment_id, status=_error_status(exc.status), transition_error=exc.message))
    if not is_htmx():
        return _to_detail(deployment_id)
    return hx_status(_render_detail(deployment_id), f"{moved.name} is now {moved.status}.",
                     "deployment-changed")


@bp.post("/<int:deployment_id>/subscribe")
@requires("deployments.read")  # the service answers 404 before 403 for another tenant's
def subscribe(deployment_id):
    form = {
        "plan_code": request.form.get("plan_code", ""),
        "addons": request.form.getlist("addons"),
        "starts_on": request.form.get("starts_on", ""),
    }
    try:
        sub = deployments.subscribe(current_actor(), deployment_id, form)
    except (Conflict, ValidationError) as exc:
        return _refused(exc, "subscribe", _render_detail(
            deployment_id, status=_error_status(exc.status), sub_form=form, sub_errors=exc.fields,
            sub_message=exc.message if isinstance(exc, Conflict) else None))
    if not is_htmx():
        return _to_detail(deployment_id)
    return hx_status(_render_detail(deployment_id),
                     f"{sub.deployment.name} subscribed to {sub.plan_version.plan.name} from {sub.starts_on.isoformat()}.",
                     "deployment-changed")


# --- changing and ending a subscription ---------------------------------------------------


@bp.get("/<int:deployment_id>/subscription/<any(change, end):action>/preview")
@requires("deployments.read")  # the service answers 404 before 403 for another tenant's
def subscription_preview(deployment_id, action):
    """The live preview: HTMX gets the preview partial alone; without it, the whole page with
    the form as typed (so the URL is shareable and works without JavaScript)."""
    form = SUBSCRIPTION_ACTIONS[action].read_form(request.args)
    preview = _preview(action, deployment_id, form)  # another tenant's: 404; a tenant: 403
    return _render_detail(deployment_id, status=_error_status(preview["status"]),
                          fragment="deployments/_subscription_preview.html", preview=preview,
                          **{f"{action}_form": form, f"{action}_preview": preview})


@bp.post("/<int:deployment_id>/subscription/<any(change, end):action>")
@requires("deployments.read")  # the service answers 404 before 403 for another tenant's
def subscription_action(deployment_id, action):
    """Change or end the running subscription: the status widget again, with the form as typed
    and its errors inline when refused, or with a status message when done."""
    do = SUBSCRIPTION_ACTIONS[action]
    form = do.read_form(request.form)
    try:
        do.write(current_actor(), deployment_id, form)
    except (Conflict, ValidationError) as exc:
        return _refused(exc, do.doing, _render_detail(
            deployment_id, status=_error_status(exc.status),
            **{f"{action}_form": form, f"{action}_errors": exc.fields,
               f"{action}_message": exc.message if isinstance(exc, Conflict) else None}))
    if not is_htmx():
        return _to_detail(deployment_id)
    return hx_status(_render_detail(deployment_id), do.done(form), "deployment-changed")
