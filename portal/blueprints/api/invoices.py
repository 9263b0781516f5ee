from flask import Response, request

from ...auth import current_actor, requires
from ...errors import NotFound, ValidationError
from ...queue import describe, fetch
from ...services import documents, invoices
from ...services import rollup as rollups
from ...services.paging import next_path, parse_list_args
from . import api_bp, json_body, serializers


@api_bp.get("/invoices")
@requires("invoices.read")
def list_invoices():
    user = current_actor()
    filters = {k: request.args.get(k) for k in ("period", "status", "overdue")}
    if user.is_platform_admin:
        filters["tenant_slug"] = request.args.get("tenant")
    args = parse_list_args(request.args, invoices.INVOICE_SORTS)
    found = invoices.list_invoices(user, args.cursor, args.page, args.per_page, args.keyset, **filters)
    return {"invoices": [serializers.invoice(i) for i in found.rows],
            "next": next_path(".list_invoices", cursor=found.older, page=None) if found.older else None}


@api_bp.get("/invoices/<int:invoice_id>")
@requires("invoices.read")
def get_invoice(invoice_id):
    return serializers.invoice(invoices.get_invoice(current_actor(), invoice_id), with_lines=True)


@api_bp.get("/invoices/<int:invoice_id>/pdf")
@requires("invoices.read")
def invoice_pdf(invoice_id):
    invoice, content = documents.pdf_for(current_actor(), invoice_id)
    return Response(content, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{documents.filename(invoice)}"'})


@api_bp.post("/invoices/<int:invoice_id>/transition")
@requires("invoices.read")  # 404 for what the caller may not see, then 403 for the role
def transition_invoice(invoice_id):
    invoice = invoices.transition_invoice(current_actor(), invoice_id, json_body())
    return serializers.invoice(invoice)


@api_bp.post("/invoices/rollup")
@requires("invoices.manage")
def rollup():
    data = json_body()
    unknown = set(data) - {"period", "force"}
    if unknown:
        raise ValidationError({k: "unknown field" for k in unknown})
    done = rollups.request_rollup(data.get("period"), data.get("force", False), current_actor())
    if done.inline:
        return done.result, 200
    return {"job_id": done.job_id}, 202


@api_bp.get("/jobs/<job_id>")
@requires("jobs.read")
def job_status(job_id):
    job = fetch(job_id)
    if job is None:
        raise NotFound(f"no job {job_id[:64]!r}")
    return describe(job)
