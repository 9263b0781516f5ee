"""The outbox: every email the portal recorded, sent or not (platform admins)."""
from flask import Blueprint

from ..auth import requires
from ..listing import ListView
from ..services import mail

bp = Blueprint("outbox", __name__, url_prefix="/outbox")

LIST = ListView("outbox.index", "outbox.summary", "outbox/index.html", "outbox/_rows.html",
                mail.OUTBOX_SORTS, mail.outbox_query, mail.outbox_totals, lambda user: {},
                ("message", "messages"))


@bp.get("/")
@requires("mail.read")
def index():
    return LIST.render(counts=mail.count_by_status(), body_visible=mail.body_visible)


@bp.get("/summary")
@requires("mail.read")
def summary():
    return LIST.summary()
