"""Who is asking (session or bearer token), and the view decorator over ``permissions``."""
from functools import wraps

from flask import g
from flask_login import current_user

from .errors import Unauthorized
from .extensions import db, login_manager
from .models import User
from .permissions import PERMISSIONS, can, check

__all__ = ["can", "check", "current_actor", "requires"]

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
            check(user, permission)
            return view(*args, **kwargs)

        return wrapped

    return decorator
