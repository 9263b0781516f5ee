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
def _load_user(session_id: str) -> User | None:
    """The session's user, unless deactivated or its sessions were ended since it signed in
    (``accounts.end_sessions`` raises the generation the session was started with)."""
    user_id, _, generation = session_id.partition(":")
    if not (user_id.isdigit() and generation.isdigit() and len(user_id) < 10):
        return None  # a session from before generations, or not one of ours
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or str(user.session_generation) != generation:
        return None
    return user


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
