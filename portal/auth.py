"""Who is asking, and what each role may do: the one place role checks live."""
from functools import wraps

from flask import g
from flask_login import current_user

from .errors import Forbidden, Unauthorized
from .extensions import db, login_manager
from .models import User
from .models.tenancy import PLATFORM_ADMIN, ROLES, TENANT_ADMIN

ADMIN_ONLY = (PLATFORM_ADMIN,)
TENANT_WRITERS = (PLATFORM_ADMIN, TENANT_ADMIN)

# permission -> roles that hold it. Views name a permission, never a role.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "catalog.read": ROLES,
    "quote.price": ROLES,
    "tenants.manage": ADMIN_ONLY,
}


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.is_active else None


def current_actor() -> User | None:
    """The bearer-token user on the API, the signed-in user on pages, else None."""
    if "api_user" in g:
        return g.api_user
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def can(user: User | None, permission: str) -> bool:
    return user is not None and user.role in PERMISSIONS[permission]


def requires(permission: str):
    """Refuse the view unless the caller holds ``permission`` (401 anonymous, 403 role)."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_actor()
            if user is None:
                raise Unauthorized("Sign in or send a valid bearer token.")
            if not can(user, permission):
                raise Forbidden("Your role may not do this.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
