"""Health reports a live worker and scheduler; admins' pages warn when jobs wait and no
worker is alive; with Redis unreachable every entry point answers 503 or a clear message."""
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from redis import Redis
from rq import Queue, Worker
from rq.utils import utcformat

from portal.queue import queue_names
from tests.conftest import TEST_DATABASE_URL
from tests.factories import make_deployment, make_tenant, make_user

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once


def _live_worker(url: str, prefix: str = "portal-tests") -> Worker:
    """A real RQ worker's registration and heartbeat in Redis, as `python worker.py` writes
    them on start (without blocking this test on its work loop)."""
    conn = Redis.from_url(url)
    worker = Worker([Queue(n, connection=conn) for n in queue_names(prefix)], connection=conn)
    worker.register_birth()
    worker.heartbeat()
    return worker


def test_health_without_redis_says_no_worker_or_scheduler(app, client):
    assert client.get("/api/health").get_json() == {
        "status": "ok", "database": "ok", "redis": "not_configured", "worker": False, "scheduler": False}


def test_health_sees_a_worker_alive_in_the_last_two_minutes(app, client, redis_queue):
    assert client.get("/api/health").get_json() == {
        "status": "ok", "database": "ok", "redis": "ok", "worker": False, "scheduler": False}
    _live_worker(redis_queue, prefix="someone-else")  # another portal's queues do not count
    assert client.get("/api/health").get_json()["worker"] is False
    worker = _live_worker(redis_queue)
    assert client.get("/api/health").get_json()["worker"] is True
    stale = datetime.now(timezone.utc) - timedelta(seconds=121)
    Redis.from_url(redis_queue).hset(worker.key, "last_heartbeat", utcformat(stale))
    assert client.get("/api/health").get_json()["worker"] is False


def test_the_home_page_uses_the_same_worker_rule_as_health(app, browser, catalog, redis_queue):
    """Another portal's worker on the same Redis is not ours: health, the banner and the home
    page all say no worker; ours makes all three say alive; a stale beat makes them say down."""
    make_user(email="admin@example.com")
    browser.login("admin@example.com")

    def home_and_health():
        html = browser.get("/").get_data(as_text=True)
        said = "alive" if "Last heartbeat" in html else "down" if "No worker seen" in html else html
        return said, browser.client.get("/api/health").get_json()["worker"]

    assert home_and_health() == ("down", False)
    _live_worker(redis_queue, prefix="someone-else")
    assert home_and_health() == ("down", False)
    worker = _live_worker(redis_queue)
    assert home_and_health() == ("alive", True)
    stale = datetime.now(timezone.utc) - timedelta(seconds=121)
    Redis.from_url(redis_queue).hset(worker.key, "last_heartbeat", utcformat(stale))
    _live_worker(redis_queue, prefix="someone-else")  # a fresh beat, not ours
    said, alive = home_and_health()
    assert (said, alive) == ("down", False)
    assert f"(last heartbeat {stale:%Y-%m-%d %H:%M}" in browser.get("/").get_data(as_text=True)


def test_the_scheduler_process_beats_registers_and_catches_up(app, client, redis_queue, database):
    env = {**os.environ, "TZ": "UTC", "DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": redis_queue,
           "RQ_QUEUE": "portal-tests", "SECRET_KEY": "test"}
    conn = Redis.from_url(redis_queue)
    high = Queue("portal-tests-high", connection=conn)
    procs = [subprocess.Popen([sys.executable, "worker.py", command], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for command in ("scheduler", "cron")]  # two at once, by both names
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                client.get("/api/health").get_json()["scheduler"] and high.count == 2):
            time.sleep(0.3)
        assert client.get("/api/health").get_json()["scheduler"] is True
        # Each start queued its catch-up; the recurring jobs exist once, under their fixed ids.
        assert [job.func_name for job in high.jobs] == ["portal.jobs.invoicing.scheduled_rollup"] * 2
        assert sorted(m.decode() for m in conn.zrange("rq:scheduler:scheduled_jobs", 0, -1)) == [
            "arcadia-daily-billing", "arcadia-daily-reminders", "arcadia-hourly-inventory",
            "arcadia-monthly-rollup", "arcadia-rollup-catch-up", "arcadia-webhook-sweep"]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    conn.delete("arcadia:scheduler:heartbeat")
    assert client.get("/api/health").get_json()["scheduler"] is False


def test_admins_are_warned_when_jobs_wait_and_no_worker_is_alive(app, browser, catalog, redis_queue):
    make_deployment(make_tenant("acme"), plan_code="studio", starts_on=date(2026, 3, 1))
    make_user(email="admin@example.com")
    tenant_admin = make_user("tenant_admin", email="ta@example.com")
    browser.login("admin@example.com")
    warning = "waiting and no worker seen in the last 2 minutes"
    assert warning not in browser.get("/invoices/").get_data(as_text=True)  # nothing waits
    assert browser.post("/invoices/rollup", htmx=True, data={"period": "2026-04"}).status_code == 200
    assert "1 job waiting and no worker seen in the last 2 minutes" in browser.get("/invoices/").get_data(as_text=True)
    worker = _live_worker(redis_queue)
    assert warning not in browser.get("/invoices/").get_data(as_text=True)
    worker.register_death()
    Redis.from_url(redis_queue).delete(worker.key)
    assert warning in browser.get("/").get_data(as_text=True)
    browser.client.post("/logout", data={"csrf_token": browser.csrf_token()})
    browser.login(tenant_admin.email)
    assert warning not in browser.get("/").get_data(as_text=True)  # for admins only


def test_without_redis_every_entry_point_answers_503_or_a_message(app, browser, api_as, catalog, monkeypatch):
    make_deployment(make_tenant("acme"), plan_code="studio", starts_on=date(2026, 3, 1))
    admin = make_user(email="admin@example.com")
    api = api_as(admin)
    browser.login("admin@example.com")
    monkeypatch.setitem(app.config, "REDIS_URL", UNREACHABLE)

    for r in (api.post("/api/v1/invoices/rollup", json={"period": "2026-04"}),
              api.get("/api/v1/jobs/some-job")):
        assert r.status_code == 503
        assert r.get_json()["error"]["code"] == "queue_unavailable"
        assert "unreachable" in r.get_json()["error"]["message"]
    health = api.get("/api/health")
    assert (health.status_code, health.get_json()) == (503, {
        "status": "degraded", "database": "ok", "redis": "unreachable", "worker": False, "scheduler": False})

    r = browser.post("/invoices/rollup", htmx=True, data={"period": "2026-04"})
    assert r.status_code == 503
    assert r.get_data(as_text=True).startswith('<p class="error-message" role="alert">The job queue (Redis) is unreachable')
    page = browser.get("/invoices/rollup/some-job")
    assert page.status_code == 503 and "Job queue unavailable" in page.get_data(as_text=True)
    assert browser.get("/invoices/").status_code == 200  # the banner never breaks a page

    result = app.test_cli_runner().invoke(args=["invoices", "rollup", "--period", "2026-04"])
    assert result.exit_code == 1
    assert "the job queue (Redis at REDIS_URL) is unreachable" in result.output
    assert "Traceback" not in result.output and result.exception.__class__.__name__ == "SystemExit"
