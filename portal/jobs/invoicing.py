"""The rollup, its monthly schedule with catch-up, and PDF rendering."""
from flask import current_app
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from .. import queue
from ..clock import utcnow
from ..extensions import db
from ..models import User
from ..services import audit, documents, invoices
from ..services import rollup as rollups
from . import report_progress


def rollup(period: str, force: bool = False, actor_id: int | None = None) -> dict:
    start, end = invoices.parse_period(period)
    actor = db.session.get(User, actor_id) if actor_id else None
    job = get_current_job()
    result = rollups.roll_up_period(start, end, force=force, actor=actor,
                                    progress=report_progress, job_id=job.id if job else None)
    request_pdfs(result.invoice_ids)
    return result.as_dict()


def request_pdfs(invoice_ids: list[int]) -> None:
    """Queue the rollup's PDFs on the DOCUMENTS queue, a batch of invoices per job (one job's
    bookkeeping per batch, not per invoice; the worker runs them in its own process, see
    worker.py). Without a worker nothing renders now: the
    answer would wait seconds for previews nobody has asked for, and each renders when
    first opened (documents.pdf_for)."""
    if not invoice_ids or queue.connection() is None:
        return
    size = max(1, current_app.config.get("PDF_BATCH_SIZE", 20))
    for i in range(0, len(invoice_ids), size):
        try:
            queue.enqueue("portal.jobs.invoicing.render_pdfs", invoice_ids[i:i + size],
                          queue_name=queue.DOCUMENTS)
        except Exception:  # the invoices are committed; downloads render on demand anyway
            current_app.logger.exception("could not queue the PDFs of invoices %s", invoice_ids[i:i + size])


def scheduled_rollup() -> dict:
    """The monthly job (1st, 03:00 UTC), also run when the scheduler starts and every few
    minutes: every month whose rollup was due and has no finished run, oldest first, so a
    missed month is caught up, and a run whose worker died is started again. Safe to run
    late and twice: a period's rollup skips tenants already invoiced, and a month whose
    run is still alive on a worker is left to it."""
    me = get_current_job()
    # A recurring job keeps its id from run to run: a run recorded under this very id is from
    # an earlier execution of this job that died, not a live one.
    missed = rollups.missed_periods(
        utcnow(), job_alive=lambda job_id: job_id != (me.id if me else None) and queue.job_alive(job_id))
    with audit.acting_as(audit.SCHEDULER):
        results = [rollup(period.strftime("%Y-%m")) for period in missed]
    return {"periods": results}


def render_pdf(invoice_id: int) -> dict:
    document = documents.render_and_store(invoice_id)
    return {"invoice_id": invoice_id, "draft": document.draft, "bytes": len(document.content)}


def render_pdfs(invoice_ids: list[int]) -> dict:
    """A batch of PDFs in one job; progress after each. Each invoice on its own: one that
    cannot be rendered (its data, a row gone) is logged and listed under ``failed`` in the
    job's result, and the rest of the batch is rendered all the same. Its PDF is tried again
    when first opened (documents.pdf_for), where the error shows."""
    rendered, failed = 0, []
    for done, invoice_id in enumerate(invoice_ids, start=1):
        try:
            documents.render_and_store(invoice_id)
            rendered += 1
        except JobTimeoutException:  # the job's own time is up: not this invoice's fault
            raise
        except Exception as exc:
            db.session.rollback()  # the next invoice starts on a clean session
            current_app.logger.exception("could not render the PDF of invoice %s", invoice_id)
            failed.append({"invoice_id": invoice_id, "error": f"{type(exc).__name__}: {exc}"[:500]})
        report_progress(done, len(invoice_ids))
    return {"rendered": rendered, "failed": failed}
