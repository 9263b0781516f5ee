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

PORTAL_PDF_WARM=0 skips warming WeasyPrint in the parent (the benchmark's "before").
"""
import os
import sys
import time

os.environ.setdefault("TZ", "UTC")
time.tzset()

from redis import Redis  # noqa: E402
from rq import Queue, Worker  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.queue import QUEUE_NAME, REDIS_TIMEOUTS, queue_names  # noqa: E402


class PortalWorker(Worker):
    """Each job runs in a forked work horse: it must not share the parent's database
    connections, and leaves no session behind."""

    def perform_job(self, job, queue):
        db.engine.dispose(close=False)
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()


def warm_pdf_renderer() -> None:
    """Import WeasyPrint and render one tiny page in the parent, before any fork: every work
    horse then inherits the loaded modules, fonts and caches instead of paying ~0.5 s for
    them on each PDF job."""
    import weasyprint

    weasyprint.HTML(string="<p style='font-family: sans-serif'>warm-up</p>").write_pdf()


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
        worker = PortalWorker(queues, connection=connection,
                              job_monitoring_interval=app.config["WORKER_HEARTBEAT_SECONDS"])
        worker.work(with_scheduler=True, burst="--burst" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
