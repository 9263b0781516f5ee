"""The portal's background processes. Both need REDIS_URL (and the same DATABASE_URL and
SECRET_KEY as the web: the app refuses to start without SECRET_KEY).

    python worker.py             the RQ worker: takes jobs from three queues, in this order:
                                 <prefix>-high (rollups, provider syncs), <prefix>-documents
                                 (PDF renders), <prefix>-messages (email, webhooks); it also
                                 runs delayed jobs such as retries (RQ's with_scheduler)
    python worker.py scheduler   the recurring jobs on rq-scheduler (portal/schedule.py): the
                                 monthly rollup at 03:00 UTC on the 1st, the catch-up of any
                                 month missed or left unfinished (on start and every 10 min),
                                 the provider syncs. ``cron`` is an alias.
    python worker.py --burst     work the queues until they are empty, then exit

PDF jobs (the documents queue) run in the worker's own process, where WeasyPrint, the fonts
and the parsed stylesheets stay loaded from one job to the next; every other job runs in a
forked work horse as RQ does by default. PORTAL_PDF_WARM=0 skips warming WeasyPrint before
the first job, and PORTAL_PDF_FORK=1 forks for PDF jobs too (both for the benchmark's "before").
"""
import os
import sys
import threading
import time

os.environ.setdefault("TZ", "UTC")
time.tzset()

from redis import Redis  # noqa: E402
from rq import Queue, Worker  # noqa: E402
from rq.worker import WorkerStatus  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.queue import DOCUMENTS, QUEUE_NAME, REDIS_TIMEOUTS, queue_names  # noqa: E402


class PortalWorker(Worker):
    """Jobs from ``in_process`` queues (the PDFs) run here, without a fork: a PDF job is
    short, holds no lock, and is safe to run again, and a fork per job would throw away the
    renderer's warm state (fonts, parsed stylesheets, compiled templates, the database pool)
    each time. Every other job runs in a forked work horse, which must not share this process's
    database connections. Either way the job leaves no session behind."""

    def __init__(self, *args, in_process: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.in_process = set(in_process)
        self._pid = os.getpid()

    def execute_job(self, job, queue):
        if queue.name not in self.in_process:
            return super().execute_job(job, queue)
        # SimpleWorker's path, plus the heartbeats a forking worker's parent sends while its
        # horse works: a long batch must not look abandoned (portal.queue.reap_abandoned).
        self.prepare_execution(job)
        stop = threading.Event()
        beating = threading.Thread(target=self._beat, args=(job, stop), daemon=True)
        beating.start()
        try:
            self.perform_job(job, queue)
        finally:
            stop.set()
            beating.join()
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job, stop: threading.Event) -> None:
        started = time.monotonic()
        while not stop.wait(self.job_monitoring_interval):
            try:
                self.set_current_job_working_time(time.monotonic() - started)
                self.maintain_heartbeats(job)
            except Exception:  # a missed beat is retried at the next interval
                self.log.exception("heartbeat for job %s failed", job.id)

    def perform_job(self, job, queue):
        if os.getpid() != self._pid:  # in a forked work horse
            db.engine.dispose(close=False)
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()


def warm_pdf_renderer() -> None:
    """Build the PDF renderer (WeasyPrint imported, the fonts loaded, the stylesheets parsed)
    before the first job, in this process: PDF jobs run here, and any forked horse inherits
    it instead of paying ~0.5 s on its first PDF."""
    from portal import pdf

    pdf.warm()


def main(argv: list[str]) -> int:
    app = create_app()
    url = app.config.get("REDIS_URL")
    if not url:
        print("REDIS_URL is not set: without Redis the portal runs its jobs inline, "
              "and no worker is needed.", file=sys.stderr)
        return 2
    # The blocking dequeue waits longer than the web's short socket timeout: no
    # socket_timeout here, only a quick connect.
    connection = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUTS["socket_connect_timeout"])
    prefix = app.config.get("RQ_QUEUE", QUEUE_NAME)
    with app.app_context():
        if "scheduler" in argv or "cron" in argv:
            from portal import schedule

            schedule.start(connection, prefix)
            return 0
        if os.environ.get("PORTAL_PDF_WARM", "1") != "0":
            warm_pdf_renderer()
        queues = [Queue(name, connection=connection) for name in queue_names(prefix)]
        in_process = () if os.environ.get("PORTAL_PDF_FORK") == "1" else (f"{prefix}-{DOCUMENTS}",)
        worker = PortalWorker(queues, connection=connection, in_process=in_process,
                              job_monitoring_interval=app.config["WORKER_HEARTBEAT_SECONDS"])
        worker.work(with_scheduler=True, burst="--burst" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
