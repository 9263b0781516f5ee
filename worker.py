"""The portal's background processes. Both need REDIS_URL (and the same DATABASE_URL and
SECRET_KEY as the web: the app refuses to start without SECRET_KEY).

    python worker.py          the RQ worker: rollups, PDF rendering
    python worker.py cron     the scheduler: the monthly rollup at 03:00 UTC on the 1st, and on
                              start a catch-up of any month whose rollup was missed
    python worker.py --burst  work the queue until it is empty, then exit
"""
import os
import sys

os.environ.setdefault("TZ", "UTC")

from redis import Redis  # noqa: E402
from rq import Queue, Worker  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.queue import QUEUE_NAME, queue_names  # noqa: E402


class PortalWorker(Worker):
    """Each job runs in a forked work horse: it must not share the parent's database
    connections, and leaves no session behind."""

    def perform_job(self, job, queue):
        db.engine.dispose(close=False)
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()


def main(argv: list[str]) -> int:
    app = create_app()
    url = app.config.get("REDIS_URL")
    if not url:
        print("REDIS_URL is not set: without Redis the portal runs its jobs inline, "
              "and no worker is needed.", file=sys.stderr)
        return 2
    connection = Redis.from_url(url)
    queue_name = app.config.get("RQ_QUEUE", QUEUE_NAME)
    with app.app_context():
        if "cron" in argv:
            from portal import schedule

            schedule.start(connection, queue_names(queue_name)[0])
            return 0
        queues = [Queue(name, connection=connection) for name in queue_names(queue_name)]
        worker = PortalWorker(queues, connection=connection)
        worker.work(with_scheduler=True, burst="--burst" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
