"""The rollup, its monthly schedule with catch-up, and PDF rendering."""
from ..clock import utcnow
from ..extensions import db
from ..models import User
from ..services import audit, documents, invoices
from ..services import rollup as rollups
from . import report_progress


def rollup(period: str, force: bool = False, actor_id: int | None = None) -> dict:
    start, end = invoices.parse_period(period)
    actor = db.session.get(User, actor_id) if actor_id else None
    result = rollups.roll_up_period(start, end, force=force, actor=actor,
                                    progress=report_progress)
    for invoice_id in result.invoice_ids:
        invoices.request_pdf(invoice_id)
    return result.as_dict()


def scheduled_rollup() -> dict:
    """The monthly job (1st, 03:00 UTC), also run when the scheduler starts: every month whose
    rollup was due and has no finished run, oldest first, so a missed month is caught up.
    Safe to run late and twice: a period's rollup skips tenants already invoiced."""
    with audit.acting_as(audit.SCHEDULER):
        results = [rollup(period.strftime("%Y-%m")) for period in rollups.missed_periods(utcnow())]
    return {"periods": results}


def render_pdf(invoice_id: int) -> dict:
    document = documents.render_and_store(invoice_id)
    return {"invoice_id": invoice_id, "draft": document.draft, "bytes": len(document.content)}
