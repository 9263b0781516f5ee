"""The rollup's draft previews: a job per batch of invoices on the DOCUMENTS queue with a
worker; none rendered inline (each renders when first opened); one invoice that cannot be
rendered does not cost the rest of its batch."""
import logging
from datetime import date

from redis import Redis
from rq import Queue
from sqlalchemy import delete, func, select, update

from portal.jobs.invoicing import request_pdfs
from portal.models import Invoice, InvoiceDocument, InvoiceLine
from portal.services.rollup import roll_up_period
from tests.conftest import run_worker
from tests.factories import make_deployment, make_tenant, make_user, pdf_text


def _documents(database) -> int:
    return database.session.scalar(select(func.count()).select_from(InvoiceDocument))


def test_inline_rollup_answers_without_rendering_previews(app, catalog, api_as, database):
    admin = api_as(make_user())
    for slug in ("acme", "globex"):
        make_deployment(make_tenant(slug), plan_code="studio", starts_on=date(2026, 3, 1))
    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    assert (r.status_code, r.get_json()["created"]) == (200, 2)
    assert _documents(database) == 0
    invoice_id = admin.get("/api/v1/invoices").get_json()["invoices"][0]["id"]
    pdf = admin.get(f"/api/v1/invoices/{invoice_id}/pdf")  # rendered on first opening
    assert pdf.status_code == 200 and "DRAFT" in pdf_text(pdf.data)
    assert _documents(database) == 1


def test_the_rollup_queues_one_pdf_job_per_batch_on_documents(app, catalog, api_as, database,
                                                               redis_queue, monkeypatch):
    monkeypatch.setitem(app.config, "PDF_BATCH_SIZE", 2)
    admin = api_as(make_user())
    for slug in ("acme", "globex", "initech"):
        make_deployment(make_tenant(slug), plan_code="studio", starts_on=date(2026, 3, 1))
    assert admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"}).status_code == 202
    conn = Redis.from_url(redis_queue)
    high, documents, messages = (Queue(f"portal-tests-{n}", connection=conn)
                                 for n in ("high", "documents", "messages"))
    assert (high.count, documents.count) == (1, 0)
    assert run_worker(app) == 3  # the rollup, then two batches (2 + 1 invoices)
    finished = documents.finished_job_registry
    results = sorted(documents.fetch_job(i).return_value()["rendered"] for i in finished.get_job_ids())
    assert results == [1, 2]
    assert (high.count, documents.count, messages.count) == (0, 0, 0)
    drafts = database.session.scalars(select(InvoiceDocument)).all()
    assert len(drafts) == 3 and all(d.draft and "DRAFT" in pdf_text(d.content) for d in drafts)


def test_one_invoice_that_cannot_render_leaves_the_rest_of_its_batch_rendered(
        app, catalog, database, redis_queue, monkeypatch, caplog):
    """A real failure, not a stand-in: one invoice's stored bill-to snapshot is missing (the
    template needs it), another is deleted after its render was queued. The two around them
    are rendered; the job finishes and lists what it could not do."""
    tenants = [make_tenant(slug, name) for slug, name in (
        ("acme", "Acme AI"), ("globex", "Globex Pty"), ("initech", "Initech"), ("hooli", "Hooli"))]
    for tenant in tenants:
        make_deployment(tenant, plan_code="studio", starts_on=date(2026, 3, 1))
    monkeypatch.setitem(app.config, "REDIS_URL", None)  # the rollup inline: nothing queued yet
    ids = sorted(roll_up_period(date(2026, 4, 1), date(2026, 5, 1)).invoice_ids)
    assert len(ids) == 4
    monkeypatch.setitem(app.config, "REDIS_URL", redis_queue)
    monkeypatch.setitem(app.config, "PDF_BATCH_SIZE", 4)
    broken, gone = ids[1], ids[2]
    database.session.execute(  # a snapshot without its bill-to party
        update(Invoice).where(Invoice.id == broken).values(parties={"seller": {"name": "Arcadia"}}))
    request_pdfs(ids)  # one job: all four
    database.session.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id == gone))
    database.session.execute(delete(Invoice).where(Invoice.id == gone))
    database.session.commit()

    with caplog.at_level(logging.ERROR):
        assert run_worker(app) == 1  # finished, not failed

    documents = Queue("portal-tests-documents", connection=Redis.from_url(redis_queue))
    (job_id,) = documents.finished_job_registry.get_job_ids()
    assert documents.fetch_job(job_id).return_value() == {"rendered": 2, "failed": [
        {"invoice_id": broken, "error": "KeyError: 'bill_to'"},
        {"invoice_id": gone, "error": f"NotFound: no invoice {gone}"}]}
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged == [f"could not render the PDF of invoice {broken}",
                      f"could not render the PDF of invoice {gone}"]
    stored = database.session.execute(select(InvoiceDocument.invoice_id, InvoiceDocument.content)
                                      .order_by(InvoiceDocument.invoice_id)).all()
    assert [row.invoice_id for row in stored] == [ids[0], ids[3]]
    names = {i.id: i.tenant.billing_name for i in database.session.scalars(select(Invoice))}
    assert [names[ids[0]], names[ids[3]]] == ["Acme AI", "Hooli"]
    for row in stored:
        text = pdf_text(row.content)
        assert "DRAFT — not a tax invoice" in text and names[row.invoice_id] in text
