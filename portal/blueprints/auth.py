"""Sign-in and sign-out for the pages (sessions through Flask-Login)."""
import re
from urllib.parse import unquote

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.urls import iri_to_uri

from ..errors import Throttled
from ..services import accounts

bp = Blueprint("auth", __name__)


# A plain local path: printable ASCII without a backslash (browsers read one as a slash).
_PLAIN_PATH = re.compile(r"/(?![/\\])[\x21-\x5b\x5d-\x7e]*")


def _safe_next(target: str | None) -> str:
    """``target`` if it is a plain path on this site, else home (no open redirect, no 500).

    The decoded form must be plain too: ``/%2F/evil.com`` or ``/%09/evil.com`` is refused
    rather than trusting every later reader of the path not to decode it. And it must be the
    Location the response will carry: Werkzeug rewrites ``/a?`` to ``/a``, so such a value
    is not plain either.
    """
    if (target and _PLAIN_PATH.fullmatch(target) and _PLAIN_PATH.fullmatch(unquote(target))
            and iri_to_uri(target) == target):
        return target
    return url_for("main.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    error, status, email, headers = None, 200, "", {}
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            user = accounts.authenticate(
                email, request.form.get("password", ""), request.remote_addr or "unknown"
            )
        except Throttled as exc:
            error, status = exc.message, 429
            headers["Retry-After"] = str(exc.retry_after)
        else:
            if user is not None:
                session.clear()  # a fresh session at sign-in (no fixation)
                login_user(user)
                return redirect(_safe_next(request.args.get("next")))
            error, status = "Wrong email or password.", 401
    return render_template("auth/login.html", error=error, email=email), status, headers


@bp.post("/logout")
@login_required
def logout():
    accounts.sign_out(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are signed out.", "ok")  # the sign-in page says so (the session starts afresh)
    return redirect(url_for("auth.login"))
