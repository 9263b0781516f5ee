"""The outbox: every email the portal recorded, sent or not (platform admins)."""
from flask import Blueprint, request

from ..auth import requires
from ..errors import ValidationError
from ..htmx import render_page_or_fragment
from ..services import mail
from ..services.paging import parse_page

bp = Blueprint("outbox", __name__, url_prefix="/outbox")


@bp.get("/")
@requires("mail.read")
def index():
    errors, rows, more, page = {}, [], False, 1
    try:
        page, per_page = parse_page(request.args)
        rows, next_page = mail.outbox(page, per_page)
        more = next_page is not None
    except ValidationError as exc:
        errors = exc.fields
    return render_page_or_fragment(
        "outbox/index.html", "outbox/_rows.html", status=422 if errors else 200,
        messages=rows, more=more, page_number=page, errors=errors,
        counts=mail.count_by_status(), body_visible=mail.body_visible)
