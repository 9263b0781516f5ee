"""The home page: where each role starts, with the figures that role checks first."""
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from ..auth import current_actor
from ..clock import today
from ..services import home as home_service

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    user, on = current_actor(), today()
    if user.is_platform_admin:
        return render_template("home.html", admin=home_service.admin_home(user, on), on=on)
    tenant = home_service.tenant_home(user, on) if user.tenant else None
    return render_template("home.html", tenant_home=tenant, on=on)
