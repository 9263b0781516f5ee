"""CSV exports of a month for accountants (admins: every tenant; tenant users: their own)."""
from flask import Blueprint, Response, render_template, request

from ..auth import current_actor, requires
from ..clock import last_month
from ..services import exports

bp = Blueprint("exports", __name__, url_prefix="/exports")


@bp.get("/")
@requires("invoices.read")
def index():
    return render_template("exports/index.html", datasets=exports.DATASETS.values(),
                           period=request.args.get("period") or last_month())


@bp.get("/<dataset>.csv")
@requires("invoices.read")
def download(dataset):
    filename, content = exports.export_csv(current_actor(), dataset, request.args.get("period"))
    return Response(content, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
