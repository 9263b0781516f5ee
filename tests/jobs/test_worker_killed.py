"""A rollup whose worker is SIGKILLed midway: a real `python worker.py` process on the test
Redis and a database with real commits. The job reports failed once its worker is gone, the
month counts as missed, and the scheduler's catch-up on a new worker finishes it with exactly
one invoice per tenant."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from sqlalchemy import func, select

from portal import queue, schedule
from portal.billing.proration import previous_month_start
from portal.clock import today, utcnow
from portal.models import Invoice, InvoiceDocument, RollupRun
from portal.services import accounts
from portal.services.catalog import seed_catalog
from portal.services.rollup import missed_periods, request_rollup
from tests.conftest import TEST_DATABASE_URL, IsolatedClient
from tests.factories import make_deployment, make_tenant, make_user

ROOT = Path(__file__).resolve().parents[2]
TENANTS = 24


def _worker(redis_url: str, *args: str, delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "TZ": "UTC", "DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": redis_url,
           "RQ_QUEUE": "portal-tests", "WORKER_HEARTBEAT_SECONDS": "1", "SECRET_KEY": "test",
           "PORTAL_TEST_ROLLUP_DELAY": str(delay),
           "ROLLUP_CHUNK_TENANTS": "2"}  # commits every two tenants: killed midway, some are in
    return subprocess.Popen([sys.executable, "worker.py", *args], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and its work horse (RQ puts the horse in its own process group),
    as losing the machine or the container would."""
    children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                and _parent_pid(p) == worker.pid]
    for pid in [worker.pid, *children]:
        os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)


def _parent_pid(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _invoices(db) -> int:
    db.session.rollback()  # a fresh snapshot of what the worker committed
    return db.session.scalar(select(func.count()).select_from(Invoice))


def test_a_killed_rollup_fails_its_job_and_the_catch_up_finishes_it(app, committed, redis_queue, monkeypatch):
    monkeypatch.setitem(app.config, "WORKER_HEARTBEAT_SECONDS", 1)
    db = committed
    seed_catalog()
    period_start = previous_month_start(today())  # the subprocess runs on the real clock
    period = period_start.strftime("%Y-%m")
    for i in range(TENANTS):
        make_deployment(make_tenant(f"k{i:02d}"), plan_code="studio", starts_on=period_start)
    admin = make_user()
    token = accounts.create_token(admin.email)
    db.session.commit()
    app.test_client_class = IsolatedClient
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    worker = _worker(redis_queue, delay=0.25)
    try:
        job_id = request_rollup(period).job_id
        _wait(lambda: _invoices(db) >= 4, 60, "the rollup to be under way")
        _kill_worker(worker)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    before = _invoices(db)
    assert 4 <= before < TENANTS

    # The run is visible as unfinished, by its job.
    run = db.session.scalars(select(RollupRun)).one()
    assert (run.job_id, run.finished_at, str(run.period_start)) == (job_id, None, str(period_start))
    # Just after the kill the heartbeat is fresh: still "started", and the month not missed.
    assert api.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()["status"] == "started"
    assert missed_periods(utcnow(), job_alive=queue.job_alive) == []

    # Once its worker's heartbeat is two beats (and 10 s) stale, the job answers failed.
    _wait(lambda: queue.describe(queue.fetch(job_id))["status"] == "failed", 40, "the job to fail")
    body = api.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
    assert (body["status"], body["error"]) == ("failed", "the job failed; see the worker's log")
    assert missed_periods(utcnow(), job_alive=queue.job_alive) == [period_start]

    # The scheduler's catch-up (queued on its start) on a new worker finishes the month.
    catch_up = schedule.catch_up(Redis.from_url(redis_queue), "portal-tests")
    second = _worker(redis_queue, "--burst")
    try:
        assert second.wait(timeout=120) == 0, second.stderr.read().decode()[-2000:]
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
    done = queue.describe(queue.fetch(catch_up.id))
    assert done["status"] == "finished"
    assert done["result"]["periods"] == [{"period": period, "created": TENANTS - before,
                                          "skipped": before, "rebuilt": 0, "messages": []}]
    db.session.rollback()
    per_tenant = db.session.execute(
        select(Invoice.tenant_id, func.count()).group_by(Invoice.tenant_id)).all()
    assert len(per_tenant) == TENANTS and {n for _, n in per_tenant} == {1}
    runs = db.session.execute(
        select(RollupRun.job_id, RollupRun.finished_at.is_not(None)).order_by(RollupRun.id)).all()
    assert runs == [(job_id, False), (catch_up.id, True)]
    assert missed_periods(utcnow(), job_alive=queue.job_alive) == []
    # The new worker (WeasyPrint warmed before forking) rendered the new drafts' previews.
    documents = db.session.scalars(select(InvoiceDocument.draft)).all()
    assert documents == [True] * (TENANTS - before)
