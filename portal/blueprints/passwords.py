"""Passwords in the browser: "forgot password", the emailed link (invitation or reset),
and changing one's password. Setting a password ends the user's other sessions; this browser
is signed in again with the new session generation."""
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_user

from ..auth import current_actor, requires
from ..errors import NotFound, Throttled, ValidationError
from ..models.tenancy import LINK_INVITE
from ..services import passwords
from ..services.accounts import MIN_PASSWORD_LENGTH

bp = Blueprint("passwords", __name__, url_prefix="/password")
bp.add_app_template_global(MIN_PASSWORD_LENGTH, "min_length")


def _sign_in_again(user) -> None:
    """This browser's session, at the user's new generation (the others just ended)."""
    session.clear()
    login_user(user)


@bp.route("/forgot", methods=["GET", "POST"])
def forgot():
    email, error, status, headers, sent = "", None, 200, {}, False
    if request.method == "POST":
        email = request.form.get("email", "")[:254]
        try:
            passwords.request_reset(email, request.remote_addr or "unknown")
        except Throttled as exc:
            error, status = exc.message, 429
            headers["Retry-After"] = str(exc.retry_after)
        else:
            sent = True  # the same answer whether or not the email has an account
    return render_template("passwords/forgot.html", email=email, error=error, sent=sent), status, headers


@bp.route("/link/<token>", methods=["GET", "POST"])
def use_link(token):
    """GET shows the form without spending the link (mail scanners fetch links); POST sets
    the password and spends it."""
    try:
        link = passwords.link_for(token)
    except NotFound as exc:
        return render_template("passwords/link_gone.html", message=exc.message), 404
    except passwords.LinkGone as exc:
        return render_template("passwords/link_gone.html", message=exc.message), 410
    purpose, email, errors = link.purpose, link.user.email, {}
    if request.method == "POST":
        try:
            user = passwords.use_link(token, request.form.get("password", ""),
                                      request.form.get("confirm", ""))
        except passwords.LinkGone as exc:  # spent by a concurrent request meanwhile
            return render_template("passwords/link_gone.html", message=exc.message), 410
        except ValidationError as exc:
            errors = exc.fields
        else:
            _sign_in_again(user)
            flash("Welcome: your password is set." if purpose == LINK_INVITE
                  else "Your password has been reset; other sessions were signed out.", "ok")
            return redirect(url_for("main.home"), 303)
    return render_template("passwords/set.html", invite=purpose == LINK_INVITE, email=email,
                           errors=errors), 422 if errors else 200


@bp.route("/change", methods=["GET", "POST"])
@requires("tokens.own")  # every signed-in role
def change():
    errors, status, headers = {}, 200, {}
    if request.method == "POST":
        user = current_actor()
        try:
            user = passwords.change_password(
                user, request.form.get("current", ""), request.form.get("new", ""),
                request.form.get("confirm", ""), ip=request.remote_addr or "unknown")
        except Throttled as exc:
            errors, status = {"current": exc.message}, 429
            headers["Retry-After"] = str(exc.retry_after)
        except ValidationError as exc:
            errors, status = exc.fields, 422
        else:
            _sign_in_again(user)
            flash("Password changed. Your other sessions were signed out.", "ok")
            return redirect(url_for("main.home"), 303)
    return render_template("passwords/change.html", errors=errors), status, headers
