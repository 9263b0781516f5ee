"""Credit notes (adjustment notes): issue against an invoice, list, read, PDF, refunds."""
from flask import Response, request

from ...auth import current_actor, requires
from ...services import credit_notes, documents
from ...services.paging import page_of, parse_page
from . import api_bp, json_body, next_link, serializers


@api_bp.post("/invoices/<int:invoice_id>/credit-notes")
@requires("invoices.read")  # 404 for what the caller may not see, then 403 for the role
def issue_credit_note(invoice_id):
    note = credit_notes.issue_credit_note(current_actor(), invoice_id, json_body())
    return serializers.credit_note(note), 201


@api_bp.get("/credit-notes")
@requires("invoices.read")
def list_credit_notes():
    user = current_actor()
    filters = {"invoice": request.args.get("invoice")}
    if user.is_platform_admin:
        filters["tenant_slug"] = request.args.get("tenant")
    rows, next_page = page_of(credit_notes.credit_note_query(user, **filters),
                              *parse_page(request.args))
    return {"credit_notes": [serializers.credit_note(n) for n in rows], "next": next_link(next_page)}


@api_bp.get("/credit-notes/<int:credit_note_id>")
@requires("invoices.read")
def get_credit_note(credit_note_id):
    return serializers.credit_note(credit_notes.get_credit_note(current_actor(), credit_note_id))


@api_bp.get("/credit-notes/<int:credit_note_id>/pdf")
@requires("invoices.read")
def credit_note_pdf(credit_note_id):
    note, content = documents.credit_note_pdf_for(current_actor(), credit_note_id)
    return Response(content, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{documents.credit_note_filename(note)}"'})


@api_bp.post("/credit-notes/<int:credit_note_id>/refund")
@requires("invoices.read")
def mark_refunded(credit_note_id):
    note = credit_notes.mark_refunded(current_actor(), credit_note_id, json_body())
    return serializers.credit_note(note)
