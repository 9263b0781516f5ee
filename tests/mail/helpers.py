"""An invoice to email: one tenant on studio, April 2026 rolled up (a draft to issue)."""
from datetime import date

from sqlalchemy import select

from portal.extensions import db
from portal.models import Invoice, MailMessage
from portal.services.rollup import roll_up_period
from tests.factories import make_deployment, make_tenant

APRIL = (date(2026, 4, 1), date(2026, 5, 1))


def draft_invoice(slug="acme", billing_email="accounts@acme.example.com") -> Invoice:
    tenant = make_tenant(slug, slug.title() + " AI", billing_name=f"{slug.title()} AI Pty Ltd",
                         billing_email=billing_email)
    make_deployment(tenant, plan_code="studio", starts_on=date(2026, 3, 1))
    roll_up_period(*APRIL)
    return db.session.scalar(select(Invoice).where(Invoice.tenant_id == tenant.id))


def messages(invoice_id=None, kind=None) -> list[MailMessage]:
    query = select(MailMessage).order_by(MailMessage.id)
    if invoice_id is not None:
        query = query.where(MailMessage.invoice_id == invoice_id)
    if kind is not None:
        query = query.where(MailMessage.kind == kind)
    db.session.expire_all()
    return list(db.session.scalars(query))
