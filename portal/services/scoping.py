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


def get_visible(model, object_id, user: User, visible=lambda obj: True, what: str | None = None):
    """The object if ``user`` may see it: admins see all; a tenant user sees its own tenant's
    rows that ``visible`` allows. Anything else is NotFound, exactly like a missing row."""
    obj = db.session.get(model, object_id) if isinstance(object_id, int) else None
    if obj is not None and (user.is_platform_admin
                            or (obj.tenant_id == user.tenant_id and visible(obj))):
        return obj
    raise NotFound(f"no {what or model.__name__.lower()} {object_id}")
