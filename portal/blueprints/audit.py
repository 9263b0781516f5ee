"""The audit log page (platform admins): filter by actor, object and date, newest first (or
oldest first), through the lists' ListView."""
from flask import Blueprint, request

from ..auth import requires
from ..listing import ListView
from ..services import audit

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _filters(user) -> dict:
    return audit.parse_filters(request.args)  # a 422 naming each bad filter


LIST = ListView("audit.index", "audit.summary", "audit/index.html", "audit/_rows.html",
                audit.AUDIT_SORTS, audit.page_query, audit.list_totals, _filters,
                ("entry", "entries"))


@bp.get("/")
@requires("audit.read")
def index():
    return LIST.render(form={k: request.args.get(k, "") for k in audit.FILTERS},
                       object_types=audit.object_types(), system_actors=audit.SYSTEM_ACTORS)


@bp.get("/summary")
@requires("audit.read")
def summary():
    return LIST.summary()
