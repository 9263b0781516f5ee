"""The rollup's draft previews: a job per batch of invoices on the DOCUMENTS queue with a
worker; none rendered inline (each renders when first opened)."""
from datetime import date

from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from portal.models import InvoiceDocument
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
