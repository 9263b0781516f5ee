"""Credit notes (adjustment notes): issue against an invoice, list, read, PDF, refunds."""
from flask import Response, request

from ...auth import current_actor, requires
from ...services import credit_notes, documents
from ...services.paging import next_path, parse_list_args
from . import api_bp, json_body, serializers


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
    args = parse_list_args(request.args, credit_notes.CREDIT_NOTE_SORTS)
    found = credit_notes.list_credit_notes(user, args.cursor, args.page, args.per_page, args.keyset,
                                           **filters)
    return {"credit_notes": [serializers.credit_note(n) for n in found.rows],
            "next": next_path(".list_credit_notes", cursor=found.older, page=None)
            if found.older else None}


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
