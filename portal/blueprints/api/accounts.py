"""Tenants and users over the API: admins manage every tenant and user; a tenant admin
reads its own tenant and invites and deactivates its own tenant's users (tenant roles)."""
from flask import request
from sqlalchemy import select

from ...auth import check, current_actor, requires
from ...errors import NotFound, ValidationError
from ...extensions import db
from ...models import Tenant
from ...services import accounts, users
from ...services.paging import next_page_path, page_of, parse_page
from ...services.validation import MAX_ID, Fields
from . import api_bp, json_body, serializers

TENANT_FIELDS = {"slug", "name", "billing_name", "billing_address", "billing_email", "abn"}


@api_bp.get("/tenants")
@requires("tenants.manage")
def list_tenants():
    rows, next_page = page_of(select(Tenant).order_by(Tenant.slug), *parse_page(request.args))
    return {"tenants": [serializers.tenant(t) for t in rows], "next": next_page_path(".list_tenants", next_page)}


@api_bp.post("/tenants")
@requires("tenants.manage")
def create_tenant():
    data = json_body()
    fields = Fields(data, allowed=TENANT_FIELDS)
    fields.get("slug", lambda v: v)
    fields.get("name", lambda v: v)
    fields.done()  # unknown and missing fields; create_tenant checks the values
    tenant = accounts.create_tenant(
        data["slug"], data["name"], billing_name=data.get("billing_name"),
        billing_address=data.get("billing_address") or "", abn=data.get("abn"),
        billing_email=data.get("billing_email"), actor=current_actor())
    return serializers.tenant(tenant), 201


def _visible_tenant(tenant_id: int) -> Tenant:
    """Another tenant is 404 before any role check, as everywhere."""
    actor = current_actor()
    tenant = db.session.get(Tenant, tenant_id) if 0 < tenant_id <= MAX_ID else None
    if tenant is None or not (actor.is_platform_admin or tenant.id == actor.tenant_id):
        raise NotFound(f"no tenant {tenant_id}")
    return tenant


@api_bp.get("/tenants/<int:tenant_id>")
@requires("tenants.read")
def get_tenant(tenant_id):
    return serializers.tenant(_visible_tenant(tenant_id))


@api_bp.patch("/tenants/<int:tenant_id>")
@requires("tenants.read")
def update_tenant(tenant_id):
    _visible_tenant(tenant_id)
    check(current_actor(), "tenants.manage")
    data = json_body()
    if "slug" in data:  # the slug names the tenant in URLs, filters and scripts: fixed
        raise ValidationError({"slug": "cannot be changed"})
    tenant = accounts.update_tenant_profile(current_actor(), tenant_id, data, partial=True)
    return serializers.tenant(tenant)


@api_bp.get("/users")
@requires("users.manage")
def list_users():
    query = users.users_query(current_actor(), (request.args.get("tenant") or "").strip() or None)
    rows, next_page = page_of(query, *parse_page(request.args))
    return {"users": [serializers.user(u) for u in rows], "next": next_page_path(".list_users", next_page)}


@api_bp.post("/users")
@requires("users.manage")
def invite_user():
    return serializers.user(users.invite(current_actor(), json_body())), 201


@api_bp.post("/users/<int:user_id>/deactivate")
@requires("users.manage")
def deactivate_user(user_id):
    return serializers.user(users.deactivate(current_actor(), user_id))
