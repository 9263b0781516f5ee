"""The catalog pages: plans with their versions and items, and addons; admins change them."""
from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for

from ..auth import current_actor, requires
from ..billing.terms import BASE_UNITS, RESOURCE_KINDS
from ..errors import Conflict, ValidationError
from ..htmx import hx_status, is_htmx
from ..services import catalog, catalog_admin

bp = Blueprint("catalog", __name__, url_prefix="/catalog")


@bp.get("/")
@requires("catalog.read")
def index():
    return render_template(
        "catalog/index.html", plans=catalog.list_plans(), addons=catalog.list_addons()
    )


def _int_or_raw(value: str):
    """A form's number as an int when it is one; anything else goes to the service as given,
    so the one validation names the field."""
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) <= 18 else (value or None)


def _version_from_form(form) -> dict:
    items = []
    for kind in RESOURCE_KINDS:
        if not form.get(f"{kind}.included_qty", "").strip():
            continue  # not offered in this version
        items.append({
            "resource_kind": kind,
            "included_qty": _int_or_raw(form.get(f"{kind}.included_qty")),
            "overage_price_cents": _int_or_raw(form.get(f"{kind}.overage_price_cents")),
            "overage_unit": catalog_admin.UNITS_FOR_KIND[kind][0],
            "hard_cap_qty": _int_or_raw(form.get(f"{kind}.hard_cap_qty")),
        })
    return {"base_price_cents": _int_or_raw(form.get("base_price_cents")),
            "currency": form.get("currency"), "effective_from": form.get("effective_from") or None,
            "items": items}


def _version_form_context(plan=None, form=None, errors=None, changes=None) -> dict:
    latest = catalog_admin.latest_version(plan) if plan else None
    if form is None:
        form = {"currency": latest.currency if latest else "AUD", "base_price_cents": "",
                "effective_from": ""}
        for item in (latest.items if latest else []):
            for attr in ("included_qty", "overage_price_cents", "hard_cap_qty"):
                value = getattr(item, attr)
                form[f"{item.resource_kind}.{attr}"] = "" if value is None else value
        if latest:
            form["base_price_cents"] = latest.base_price_cents
    return {"plan": plan, "latest": latest, "form": form, "errors": errors or {},
            "changes": changes, "kinds": RESOURCE_KINDS, "base_units": BASE_UNITS,
            "units": catalog_admin.UNITS_FOR_KIND, "currencies": catalog_admin.CURRENCIES}


@bp.get("/plans/new")
@requires("catalog.manage")
def new_plan():
    return render_template("catalog/new_plan.html", **_version_form_context(),
                           plan_form={"code": "", "name": "", "description": ""})


@bp.post("/plans/new")
@requires("catalog.manage")
def create_plan():
    form = request.form
    data = {"code": form.get("code"), "name": form.get("name"),
            "description": form.get("description") or "", "versions": [_version_from_form(form)]}
    try:
        plan = catalog_admin.create_plan(current_actor(), data)
    except (ValidationError, Conflict) as exc:
        errors = {k.removeprefix("versions.0."): v for k, v in exc.fields.items()}
        return render_template("catalog/new_plan.html", plan_form=form,
                               **_version_form_context(form=form, errors=errors)), exc.status
    flash(f"Plan {plan.name} ({plan.code}) created with its first version.", "ok")
    return redirect(url_for("catalog.index", _anchor=f"plan-{plan.code}"), 303)


@bp.get("/plans/<plan_code>/versions/new")
@requires("catalog.manage")
def new_version(plan_code):
    plan = catalog_admin.get_plan(plan_code)
    return render_template("catalog/new_version.html", **_version_form_context(plan))


@bp.post("/plans/<plan_code>/versions/preview")
@requires("catalog.manage")
def preview_version(plan_code):
    """The live preview: what this version changes against the one in effect now."""
    plan = catalog_admin.get_plan(plan_code)
    errors, changes = {}, None
    try:
        spec = catalog_admin.validate_version(plan, _version_from_form(request.form))
        changes = catalog_admin.version_changes(plan, spec)
    except (ValidationError, Conflict) as exc:
        errors = exc.fields
    return render_template("catalog/_version_preview.html", changes=changes, errors=errors,
                           plan=plan), 200


@bp.post("/plans/<plan_code>/versions/new")
@requires("catalog.manage")
def create_version(plan_code):
    plan = catalog_admin.get_plan(plan_code)
    try:
        version = catalog_admin.create_version(current_actor(), plan_code, _version_from_form(request.form))
    except (ValidationError, Conflict) as exc:
        return render_template("catalog/new_version.html", **_version_form_context(
            plan, form=request.form, errors=exc.fields)), exc.status
    flash(f"{plan.name} version {version.version} added, in effect from {version.effective_from.isoformat()}.", "ok")
    return redirect(url_for("catalog.index", _anchor=f"plan-{plan.code}"), 303)


@bp.get("/addons/new")
@requires("catalog.manage")
def new_addon():
    return render_template("catalog/new_addon.html", form={"currency": "AUD"}, errors={},
                           kinds=RESOURCE_KINDS, base_units=BASE_UNITS,
                           currencies=catalog_admin.CURRENCIES)


@bp.post("/addons/new")
@requires("catalog.manage")
def create_addon():
    form = request.form
    data = {"code": form.get("code"), "name": form.get("name"),
            "price_cents": _int_or_raw(form.get("price_cents")), "currency": form.get("currency"),
            "resource_kind": form.get("resource_kind"), "qty": _int_or_raw(form.get("qty"))}
    try:
        addon = catalog_admin.create_addon(current_actor(), data)
    except (ValidationError, Conflict) as exc:
        return render_template("catalog/new_addon.html", form=form, errors=exc.fields,
                               kinds=RESOURCE_KINDS, base_units=BASE_UNITS,
                               currencies=catalog_admin.CURRENCIES), exc.status
    flash(f"Addon {addon.name} ({addon.code}) is on sale.", "ok")
    return redirect(url_for("catalog.index", _anchor="addons"), 303)


@bp.post("/addons/<addon_code>/retire")
@requires("catalog.manage")
def retire_addon(addon_code):
    catalog_admin.retire_addon(current_actor(), addon_code)
    if is_htmx():
        addon = catalog.addons_by_code([addon_code])[addon_code]
        return hx_status(make_response(render_template("catalog/_addon_row.html", a=addon)),
                         f"{addon.name} retired from sale; existing subscriptions keep it.", "catalog-changed")
    return redirect(url_for("catalog.index", _anchor="addons"), 303)
