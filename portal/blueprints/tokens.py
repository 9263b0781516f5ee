"""API tokens in the browser: every signed-in user makes, lists and revokes its own."""
import re

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for

from ..auth import current_actor, requires
from ..errors import ValidationError
from ..htmx import hx_status, is_htmx, render_page_or_fragment
from ..services import tokens
from ..services.paging import page_of, parse_page

bp = Blueprint("tokens", __name__, url_prefix="/tokens")
bp.add_app_template_global(tokens.is_expired, "token_expired")

EXPIRY_CHOICES = ((30, "30 days"), (90, "90 days"), (365, "1 year"), (7, "7 days"), (None, "Never"))


def _panel(status: int = 200, form=None, errors=None, new_token=None, secret=None):
    response = render_page_or_fragment(
        "tokens/index.html", "tokens/_panel.html", status=status,
        tokens=tokens.list_tokens(current_actor()), form=form or {"name": "", "expires_in_days": "90"},
        errors=errors or {}, new_token=new_token, secret=secret, choices=EXPIRY_CHOICES)
    response.headers["Cache-Control"] = "no-store"  # a secret may be on it
    return response


@bp.get("/")
@requires("tokens.own")
def index():
    return _panel()


def _form_days(raw: str):
    """The form's expiry: "" is never; digits are days; anything else is left for the check."""
    raw = (raw or "").strip()
    if not raw:
        return None
    return int(raw) if re.fullmatch(r"[0-9]{1,6}", raw) else raw


@bp.post("/")
@requires("tokens.own")
def create():
    form = {"name": request.form.get("name", ""), "expires_in_days": request.form.get("expires_in_days", "")}
    user = current_actor()
    try:
        name, days = tokens.parse_new_token(
            {"name": form["name"], "expires_in_days": _form_days(form["expires_in_days"])})
        token, secret = tokens.issue(user, name, days, actor=user)
    except ValidationError as exc:
        return _panel(422, form=form, errors=exc.fields)
    # Rendered, never redirected: the secret must not travel through the session.
    return _panel(201 if is_htmx() else 200, new_token=token, secret=secret)


@bp.post("/<int:token_id>/revoke")
@requires("tokens.own")
def revoke(token_id):
    token = tokens.revoke(current_actor(), token_id)  # another user's token: 404
    if not is_htmx():
        flash(f"Token “{token.name}” revoked: scripts using it now get 401.", "ok")
        return redirect(url_for("tokens.index"), 303)
    return hx_status(make_response(render_template("tokens/_row.html", token=token)),
                     f"Token “{token.name}” revoked: scripts using it now get 401.", "tokens-changed")


# --- every user's tokens (platform admins) -----------------------------------------------


@bp.get("/all")
@requires("tokens.manage")
def everyone():
    email = (request.args.get("user") or "").strip()
    live = request.args.get("live") == "on"
    errors, rows, more, page = {}, [], False, 1
    try:
        page, per_page = parse_page(request.args)
        rows, next_page = page_of(tokens.all_tokens(email, live), page, per_page)
        more = next_page is not None
    except ValidationError as exc:
        errors = exc.fields
    return render_page_or_fragment(
        "tokens/all.html", "tokens/_all_rows.html", status=422 if errors else 200,
        tokens=rows, more=more, page_number=page, errors=errors, user=email, live=live)


@bp.post("/all/<int:token_id>/revoke")
@requires("tokens.manage")
def revoke_any(token_id):
    token = tokens.revoke(current_actor(), token_id, any_users=True)
    if not is_htmx():
        flash(f"{token.user.email}'s token “{token.name}” revoked.", "ok")
        return redirect(url_for("tokens.everyone"), 303)
    return hx_status(make_response(render_template("tokens/_row.html", token=token, show_user=True)),
                     f"{token.user.email}'s token “{token.name}” revoked.", "tokens-changed")
