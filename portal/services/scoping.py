"""What a user may see: a tenant user sees only its own tenant's rows, everywhere.

Another tenant's object is "not found" (404), never "forbidden", so its existence does not leak.
"""
from sqlalchemy import Select

from ..errors import NotFound
from ..extensions import db
from ..models import User


def scoped(query: Select, user: User, tenant_column) -> Select:
    if user.is_platform_admin:
        return query
    return query.where(tenant_column == user.tenant_id)


def get_visible(model, object_id, user: User, tenant_id_of=lambda obj: obj.tenant_id,
                visible=lambda obj: True, what: str | None = None):
    obj = db.session.get(model, object_id) if isinstance(object_id, int) else None
    if obj is None or not (user.is_platform_admin or tenant_id_of(obj) == user.tenant_id) \
            or not (user.is_platform_admin or visible(obj)):
        raise NotFound(f"no {what or model.__name__.lower()} {object_id}")
    return obj
