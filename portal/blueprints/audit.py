"""The audit log page (platform admins): filter by actor, object and date, newest first."""
from flask import Blueprint, request, url_for

from ..auth import requires
from ..errors import ValidationError
from ..htmx import render_page_or_fragment
from ..services import audit

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/")
@requires("audit.read")
def index():
    errors, entries, next_before, before = {}, [], None, None
    try:
        filters = audit.parse_filters(request.args)
        before, per_page = audit.parse_keyset(request.args)
        entries, next_before = audit.page_of_entries(filters, before, per_page)
    except ValidationError as exc:
        errors = exc.fields
    form = {k: request.args.get(k, "") for k in audit.FILTERS}
    args = {k: v for k, v in request.args.items() if k != "before"}
    older_url = url_for("audit.index", **args, before=next_before) if next_before else None
    newest_url = url_for("audit.index", **args) if before else None
    return render_page_or_fragment(
        "audit/index.html", "audit/_rows.html", status=422 if errors else 200,
        entries=entries, older_url=older_url, newest_url=newest_url, errors=errors, form=form,
        object_types=audit.object_types(), system_actors=audit.SYSTEM_ACTORS)
