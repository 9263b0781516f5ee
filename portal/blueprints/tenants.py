"""Tenants and their billing profiles (platform admins)."""
from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..auth import current_actor, requires
from ..errors import Conflict, NotFound, ValidationError
from ..extensions import db
from ..listing import ListView
from ..models import Tenant
from ..services import accounts

bp = Blueprint("tenants", __name__, url_prefix="/tenants")


def _filters(actor) -> dict:
    return {"search": request.args.get("q") or None}


LIST = ListView("tenants.index", "tenants.summary", "tenants/index.html", "tenants/_rows.html",
                accounts.TENANT_SORTS, accounts.tenants_query, accounts.tenant_totals, _filters,
                ("tenant", "tenants"))


@bp.get("/")
@requires("tenants.manage")
def index():
    return LIST.render()


@bp.get("/summary")
@requires("tenants.manage")
def summary():
    return LIST.summary()


NEW_TENANT_FIELDS = ("slug", "name", "billing_name", "billing_address", "billing_email", "abn")


@bp.route("/new", methods=["GET", "POST"])
@requires("tenants.manage")
def new():
    errors, form = {}, {k: "" for k in NEW_TENANT_FIELDS}
    status = 200
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in NEW_TENANT_FIELDS}
        try:
            tenant = accounts.create_tenant(
                form["slug"].strip(), form["name"], billing_name=form["billing_name"] or None,
                billing_address=form["billing_address"], abn=form["abn"],
                billing_email=form["billing_email"], actor=current_actor())
        except (ValidationError, Conflict) as exc:
            errors, status = exc.fields or {"slug": exc.message}, exc.status
        else:
            flash(f"Created tenant {tenant.slug}. Invite its first user from Users.", "ok")
            return redirect(url_for("tenants.index"), 303)
    return render_template("tenants/new.html", form=form, errors=errors), status


@bp.route("/<int:tenant_id>/edit", methods=["GET", "POST"])
@requires("tenants.manage")
def edit(tenant_id):
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id}")
    errors, form = {}, {"name": tenant.name, "billing_name": tenant.billing_name,
                        "billing_address": tenant.billing_address,
                        "billing_email": tenant.billing_email or "", "abn": tenant.abn or ""}
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in accounts.TENANT_PROFILE_FIELDS}
        try:
            accounts.update_tenant_profile(current_actor(), tenant_id, form)
        except ValidationError as exc:
            errors = exc.fields
        else:
            flash(f"Saved {tenant.slug}'s billing profile; it prints on invoices rendered from now on.")
            return redirect(url_for("tenants.index"), 303)
    return render_template("tenants/edit.html", tenant=tenant, form=form, errors=errors), (
        422 if errors else 200)
