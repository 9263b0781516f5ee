"""PDF jobs on a real `python worker.py` process: the documents queue runs in the worker's own
process (no fork per job, the renderer stays warm), every other queue in a forked horse, and a
long PDF job keeps its heartbeat fresh so it never looks abandoned."""
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from redis import Redis
from rq import Queue
from sqlalchemy import select

from portal.jobs.invoicing import request_pdfs
from portal.models import Invoice, InvoiceDocument
from portal.services.catalog import seed_catalog
from portal.services.rollup import roll_up_period
from tests.conftest import TEST_DATABASE_URL
from tests.factories import make_deployment, make_tenant, pdf_text

ROOT = Path(__file__).resolve().parents[2]


def _worker(redis_url: str, *args: str, **env) -> subprocess.Popen:
    env = {**os.environ, "TZ": "UTC", "DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": redis_url,
           "RQ_QUEUE": "portal-tests", "WORKER_HEARTBEAT_SECONDS": "1", "SECRET_KEY": "test", **env}
    return subprocess.Popen([sys.executable, "worker.py", *args], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(worker: subprocess.Popen) -> None:
    try:
        assert worker.wait(timeout=120) == 0, worker.stderr.read().decode()[-2000:]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _queues(redis_url: str) -> tuple[Queue, Queue]:
    conn = Redis.from_url(redis_url)
    return (Queue("portal-tests-documents", connection=conn), Queue("portal-tests-high", connection=conn))


def test_pdf_jobs_run_in_the_worker_process_and_others_in_a_forked_horse(app, committed, redis_queue):
    db = committed
    seed_catalog()
    for slug in ("acme", "globex", "initech"):
        make_deployment(make_tenant(slug), plan_code="studio", starts_on=date(2026, 3, 1))
    db.session.commit()
    app.config.update(REDIS_URL=None)  # the rollup inline: no previews queued yet
    ids = roll_up_period(date(2026, 4, 1), date(2026, 5, 1)).invoice_ids
    app.config.update(REDIS_URL=redis_queue, PDF_BATCH_SIZE=2)
    request_pdfs(ids)  # two render_pdfs jobs: 2 + 1 invoices
    documents, high = _queues(redis_queue)
    # Which process ran a job: the one that answers os.getpid.
    on_documents = [documents.enqueue_call("os.getpid") for _ in range(2)]
    on_high = high.enqueue_call("os.getpid")

    worker = _worker(redis_queue, "--burst")
    _finish(worker)

    assert documents.failed_job_registry.count == 0 and high.failed_job_registry.count == 0
    assert [job.latest_result().return_value for job in on_documents] == [worker.pid, worker.pid]
    horse = on_high.latest_result().return_value
    assert isinstance(horse, int) and horse != worker.pid
    rendered = sorted(documents.fetch_job(i).return_value()["rendered"]
                      for i in documents.finished_job_registry.get_job_ids()
                      if documents.fetch_job(i).func_name == "portal.jobs.invoicing.render_pdfs")
    assert rendered == [1, 2]
    db.session.rollback()
    stored = db.session.execute(select(InvoiceDocument.invoice_id, InvoiceDocument.draft,
                                       InvoiceDocument.content).order_by(InvoiceDocument.invoice_id)).all()
    assert [(row.invoice_id, row.draft) for row in stored] == [(i, True) for i in sorted(ids)]
    names = {i.id: i.tenant.billing_name for i in db.session.scalars(select(Invoice))}
    for row in stored:
        text = pdf_text(row.content)
        assert "DRAFT — not a tax invoice" in text and names[row.invoice_id] in text
        assert "$55.00 AUD" in text  # studio at $50.00 + 10 % GST, no usage


def test_a_long_pdf_job_in_the_worker_process_keeps_its_heartbeat(app, redis_queue):
    documents, _ = _queues(redis_queue)
    job = documents.enqueue_call("time.sleep", args=(4,))
    registry = documents.started_job_registry
    expiry = lambda: registry.connection.zrange(registry.key, 0, -1, withscores=True)  # noqa: E731
    worker = _worker(redis_queue, "--burst")
    try:
        deadline = time.monotonic() + 60
        while not expiry() and time.monotonic() < deadline:
            time.sleep(0.05)
        [(member, first)] = expiry()
        time.sleep(2.5)  # the job sleeps on; its worker beats every second
        [(same, later)] = expiry()
    finally:
        _finish(worker)
    assert job.get_status(refresh=True) == "finished"
    # The started registry's expiry moved on while the job ran: it was never left to go stale.
    assert same == member and job.id in member.decode() and later >= first + 2
