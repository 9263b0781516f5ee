"""The catalog pages: plans with their versions and items, and addons."""
from flask import Blueprint, render_template

from ..auth import requires
from ..services import catalog

bp = Blueprint("catalog", __name__, url_prefix="/catalog")


@bp.get("/")
@requires("catalog.read")
def index():
    return render_template(
        "catalog/index.html", plans=catalog.list_plans(), addons=catalog.list_addons()
    )
