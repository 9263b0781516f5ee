"""Users in the browser: platform admins see and invite everyone; a tenant admin its own
tenant's users (tenant roles only). Deactivating asks for a confirmation first."""
from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..auth import current_actor, requires
from ..errors import ValidationError
from ..models.tenancy import ROLES, TENANT_ROLES
from ..services import accounts, users
from ..listing import ListView

bp = Blueprint("users", __name__, url_prefix="/users")


def _roles(actor):
    return ROLES if actor.is_platform_admin else TENANT_ROLES


def _filters(actor) -> dict:
    return {"tenant_slug": ((request.args.get("tenant") or "").strip() or None)
            if actor.is_platform_admin else None,
            "email": request.args.get("email") or None}


LIST = ListView("users.index", "users.summary", "users/index.html", "users/_rows.html",
                users.USER_SORTS, users.users_query, users.list_totals, _filters, ("user", "users"),
                events=("user-changed",))


@bp.get("/")
@requires("users.manage")
def index():
    actor = current_actor()
    return LIST.render(tenants=accounts.list_tenants() if actor.is_platform_admin else [])


@bp.get("/summary")
@requires("users.manage")
def summary():
    return LIST.summary()


@bp.route("/invite", methods=["GET", "POST"])
@requires("users.manage")
def invite():
    actor = current_actor()
    form = {"email": "", "role": "tenant_viewer",
            "tenant": request.args.get("tenant", "") if actor.is_platform_admin else actor.tenant.slug}
    errors = {}
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in ("email", "role", "tenant")}
        data = {"email": form["email"], "role": form["role"]}
        if actor.is_platform_admin and form["tenant"]:
            data["tenant"] = form["tenant"]
        try:
            user = users.invite(actor, data)
        except ValidationError as exc:
            errors = exc.fields
        else:
            flash(f"Invited {user.email}: the invitation link works once, within 72 hours.", "ok")
            return redirect(url_for("users.index"), 303)
    return render_template(
        "users/invite.html", form=form, errors=errors, roles=_roles(actor),
        tenants=accounts.list_tenants() if actor.is_platform_admin else [],
    ), 422 if errors else 200


@bp.route("/<int:user_id>/deactivate", methods=["GET", "POST"])
@requires("users.manage")
def deactivate(user_id):
    actor = current_actor()
    user = users.managed_user(actor, user_id)  # another tenant's user: 404
    if request.method == "POST":
        users.deactivate(actor, user_id)
        flash(f"Deactivated {user.email}: signed out everywhere, API tokens revoked.", "ok")
        return redirect(url_for("users.index"), 303)
    return render_template("users/deactivate.html", user=user)


@bp.post("/<int:user_id>/resend")
@requires("users.manage")
def resend(user_id):
    user = users.resend_invitation(current_actor(), user_id)
    flash(f"Sent {user.email} a new invitation; the earlier link no longer works.", "ok")
    return redirect(url_for("users.index"), 303)
