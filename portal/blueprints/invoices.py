"""Invoice pages, the rollup button with its progress, PDF downloads."""

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from ..auth import can, current_actor, requires
from ..clock import last_month
from ..errors import Conflict, ValidationError
from ..htmx import is_htmx, render_page_or_fragment
from ..models.invoices import INVOICE_STATES, INVOICE_TRANSITIONS
from ..queue import describe, fetch
from ..services import accounts, documents, invoices, mail
from ..services import rollup as rollups
from ..services.paging import parse_page

bp = Blueprint("invoices", __name__, url_prefix="/invoices")

ACTION_LABELS = {"issued": "Issue", "paid": "Mark paid", "void": "Void"}


@bp.get("/")
@requires("invoices.read")
def index():
    user = current_actor()
    filters = {"period": request.args.get("period") or None,
               "status": request.args.get("status") or None}
    if user.is_platform_admin:
        filters["tenant_slug"] = request.args.get("tenant") or None
    errors, rows, more, page = {}, [], False, 1
    try:
        page, per_page = parse_page(request.args)
        rows, next_page = invoices.list_invoices(user, page=page, per_page=per_page, **filters)
        more = next_page is not None
    except ValidationError as exc:
        errors = exc.fields
    return render_page_or_fragment(
        "invoices/index.html", "invoices/_rows.html", status=422 if errors else 200,
        invoices=rows, more=more, page_number=page, errors=errors, filters=filters,
        states=INVOICE_STATES if user.is_platform_admin else ("issued", "paid", "void"),
        tenants=accounts.list_tenants() if user.is_platform_admin else [],
        default_period=last_month())


@bp.post("/rollup")
@requires("invoices.manage")
def rollup():
    period = request.form.get("period", "")
    force = request.form.get("force") == "on"
    try:
        done = rollups.request_rollup(period, force, current_actor())
    except ValidationError as exc:
        return render_template("invoices/_rollup.html", error=exc.fields["period"],
                               period=period), 422
    if done.inline:
        return render_template("invoices/_rollup.html", result=done.result, period=period)
    return render_template("invoices/_rollup.html", job=describe(fetch(done.job_id)), period=period)


@bp.get("/rollup/<job_id>")
@requires("jobs.read")
def rollup_progress(job_id):
    job = fetch(job_id)
    if job is None:
        abort(404)
    info = describe(job)
    return render_template("invoices/_rollup.html", job=info,
                           result=info["result"] if info["status"] == "finished" else None,
                           period=(job.args or [""])[0])


@bp.get("/<int:invoice_id>")
@requires("invoices.read")
def show(invoice_id):
    invoice = invoices.get_invoice(current_actor(), invoice_id)
    return render_template("invoices/show.html", **_detail(invoice))


def _detail(invoice, error: str | None = None) -> dict:
    admin = can(current_actor(), "mail.read")
    return {
        "invoice": invoice,
        "groups": invoices.grouped_lines(invoice),
        "actions": [(to, ACTION_LABELS[to]) for to in INVOICE_TRANSITIONS[invoice.status]],
        "error": error,
        # Admins see every email about the invoice: to, subject, status, when, why not.
        "messages": mail.messages_for_invoice(invoice.id) if admin else None,
        "body_visible": mail.body_visible,
    }


@bp.post("/<int:invoice_id>/transition")
@requires("invoices.read")  # 404 for what the user may not see comes before 403
def transition(invoice_id):
    user = current_actor()
    try:
        invoice = invoices.transition_invoice(user, invoice_id, {"to": request.form.get("to")})
        error, status = None, 200
    except (Conflict, ValidationError) as exc:
        invoice = invoices.get_invoice(user, invoice_id)
        error, status = exc.message, exc.status
    if is_htmx():
        # The header swaps in place; an error is shown inside it (htmx swaps 2xx and 422).
        # The messages section follows out of band: issuing has just queued an email.
        detail = _detail(invoice, error)
        html = render_template("invoices/_header.html", **detail)
        if detail["messages"] is not None:
            html += render_template("invoices/_messages.html", oob=True, **detail)
        return html, (200 if status == 409 else status)
    if error:
        return render_template("invoices/show.html", **_detail(invoice, error)), status
    return redirect(url_for("invoices.show", invoice_id=invoice.id), 303)


@bp.get("/<int:invoice_id>/pdf")
@requires("invoices.read")
def pdf(invoice_id):
    invoice, content = documents.pdf_for(current_actor(), invoice_id)
    disposition = "inline" if request.args.get("view") else "attachment"
    return Response(content, mimetype="application/pdf", headers={
        "Content-Disposition": f'{disposition}; filename="{documents.filename(invoice)}"'})
