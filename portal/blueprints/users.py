"""Users in the browser: platform admins see and invite everyone; a tenant admin its own
tenant's users (tenant roles only). Deactivating asks for a confirmation first."""
from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..auth import current_actor, requires
from ..errors import ValidationError
from ..models.tenancy import ROLES, TENANT_ROLES
from ..services import accounts, users
from ..services.paging import page_of, parse_page

bp = Blueprint("users", __name__, url_prefix="/users")


def _roles(actor):
    return ROLES if actor.is_platform_admin else TENANT_ROLES


@bp.get("/")
@requires("users.manage")
def index():
    actor = current_actor()
    tenant = (request.args.get("tenant") or "").strip() if actor.is_platform_admin else ""
    errors, rows, more, page = {}, [], False, 1
    try:
        page, per_page = parse_page(request.args)
        rows, next_page = page_of(users.users_query(actor, tenant or None), page, per_page)
        more = next_page is not None
    except ValidationError as exc:
        errors = exc.fields
    return render_template(
        "users/index.html", users=rows, more=more, page_number=page, errors=errors,
        tenant=tenant, tenants=accounts.list_tenants() if actor.is_platform_admin else [],
    ), 422 if errors else 200


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
