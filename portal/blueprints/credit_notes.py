"""Credit note (adjustment note) pages: the list, one note, its PDF, recording a refund."""
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from ..auth import current_actor, requires
from ..errors import Conflict, ValidationError
from ..htmx import render_page_or_fragment
from ..services import credit_notes, documents
from ..services.paging import keyset_list_page

bp = Blueprint("credit_notes", __name__, url_prefix="/credit-notes")


@bp.get("/")
@requires("invoices.read")
def index():
    user = current_actor()
    filters = {"invoice": request.args.get("invoice") or None}
    if user.is_platform_admin:  # the search box: an exact slug, or a slug prefix
        filters["tenant_search"] = request.args.get("tenant") or None
    page = keyset_list_page("credit_notes.index", credit_notes.CREDIT_NOTE_ORDER,
                            credit_notes.list_credit_notes, user, filters)
    return render_page_or_fragment("credit_notes/index.html", "credit_notes/_rows.html",
                                   notes=page.pop("rows"), **page)


@bp.get("/<int:credit_note_id>")
@requires("invoices.read")
def show(credit_note_id, error=None):
    note = credit_notes.get_credit_note(current_actor(), credit_note_id)
    return render_template("credit_notes/show.html", note=note, error=error)


@bp.get("/<int:credit_note_id>/pdf")
@requires("invoices.read")
def pdf(credit_note_id):
    note, content = documents.credit_note_pdf_for(current_actor(), credit_note_id)
    disposition = "inline" if request.args.get("view") else "attachment"
    return Response(content, mimetype="application/pdf", headers={
        "Content-Disposition": f'{disposition}; filename="{documents.credit_note_filename(note)}"'})


@bp.post("/<int:credit_note_id>/refund")
@requires("invoices.read")  # 404 for what the user may not see comes before 403
def refund(credit_note_id):
    user = current_actor()
    try:
        note = credit_notes.mark_refunded(user, credit_note_id, {
            "refunded_on": request.form.get("refunded_on") or None})
    except (Conflict, ValidationError) as exc:
        note = credit_notes.get_credit_note(user, credit_note_id)
        return render_template("credit_notes/show.html", note=note, error=exc.message), exc.status
    flash(f"Refund of credit note {note.number} recorded as paid out.", "ok")
    return redirect(url_for("credit_notes.show", credit_note_id=note.id), 303)
