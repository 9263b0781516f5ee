"""Payments against an invoice."""
from ...auth import current_actor, requires
from ...services import payments
from . import api_bp, json_body, serializers


@api_bp.post("/invoices/<int:invoice_id>/payments")
@requires("invoices.read")  # 404 for what the caller may not see, then 403 for the role
def record_payment(invoice_id):
    payment = payments.record_payment(current_actor(), invoice_id, json_body())
    return serializers.payment(payment), 201


@api_bp.get("/invoices/<int:invoice_id>/payments")
@requires("invoices.read")
def list_payments(invoice_id):
    _, rows = payments.list_payments(current_actor(), invoice_id)
    return {"payments": [serializers.payment(p) for p in rows], "next": None}  # one invoice's: few
