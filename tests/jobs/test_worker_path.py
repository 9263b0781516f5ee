"""Jobs through the real Redis: the rollup answers 202 with a job, the worker runs it, its
progress and result are readable, and the worker renders the PDFs."""
from datetime import date, datetime, timezone

from sqlalchemy import select

from portal.models import InvoiceDocument
from tests.conftest import run_worker
from tests.factories import hourly_events, make_deployment, make_tenant, make_user, pdf_text


def test_rollup_and_pdfs_run_on_the_worker(app, catalog, api_as, redis_queue, database):
    admin = api_as(make_user())
    acme = make_tenant("acme", "Acme AI", billing_name="Acme AI Pty Ltd")
    dep = make_deployment(acme, plan_code="studio", addons=["storage_50gb"], starts_on=date(2026, 3, 1))
    events = []
    for droplet in range(3):
        events += hourly_events(dep.id, "droplet_hours", datetime(2026, 4, 1, tzinfo=timezone.utc),
                                720, prefix=f"d{droplet}")
    for i in range(0, len(events), 1000):
        admin.post("/api/v1/usage", json={"events": events[i:i + 1000]})

    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    assert r.status_code == 202
    job_id = r.get_json()["job_id"]
    queued = admin.get(f"/api/v1/jobs/{job_id}").get_json()
    assert (queued["id"], queued["status"], queued["result"]) == (job_id, "queued", None)

    assert run_worker(app) == 2  # the rollup, then the DRAFT preview it queued
    done = admin.get(f"/api/v1/jobs/{job_id}").get_json()
    assert done["status"] == "finished"
    assert done["progress"] == {"done": 1, "total": 1}
    assert done["result"] == {"period": "2026-04", "created": 1, "skipped": 0, "rebuilt": 0,
                              "messages": []}
    invoice_id = admin.get("/api/v1/invoices").get_json()["invoices"][0]["id"]
    preview = database.session.scalar(select(InvoiceDocument).where(InvoiceDocument.invoice_id == invoice_id))
    assert (preview.draft, preview.status) == (True, "draft")
    assert "DRAFT" in pdf_text(preview.content)

    assert admin.post(f"/api/v1/invoices/{invoice_id}/transition", json={"to": "issued"}).status_code == 200
    assert run_worker(app) == 1  # the tax invoice, rendered on issue
    final = database.session.scalar(select(InvoiceDocument).where(
        InvoiceDocument.invoice_id == invoice_id, InvoiceDocument.draft.is_(False)))
    assert final.content.startswith(b"%PDF")
    text = pdf_text(final.content)
    for needle in ("Tax invoice", "ARC-000001", "50.00", "7.50", "6.72", "64.22", "6.42", "70.64"):
        assert needle in text, needle
    # The download serves what the worker stored.
    assert admin.get(f"/api/v1/invoices/{invoice_id}/pdf").data == final.content


def test_unknown_job_is_404_and_jobs_are_for_admins(app, catalog, api_as, redis_queue):
    admin = api_as(make_user())
    assert admin.get("/api/v1/jobs/no-such-job").status_code == 404
    tenant = api_as(make_user("tenant_admin"))
    assert tenant.get("/api/v1/jobs/no-such-job").status_code == 403


def test_an_unfinished_month_is_refused_before_anything_queues(app, catalog, api_as, redis_queue):
    from freezegun import freeze_time
    from redis import Redis
    from rq import Queue

    from portal.queue import queue_names

    admin = api_as(make_user())
    with freeze_time("2026-04-20 12:00:00"):
        r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
        cli = app.test_cli_runner().invoke(args=["invoices", "rollup", "--period", "2026-04"])
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"period": "2026-04 has not ended yet (UTC)"}
    assert cli.exit_code == 1 and "2026-04 has not ended yet (UTC)" in cli.output
    conn = Redis.from_url(redis_queue)
    assert [Queue(n, connection=conn).count for n in queue_names(app.config["RQ_QUEUE"])] == [0, 0, 0]
