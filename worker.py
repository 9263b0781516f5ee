"""The RQ worker: builds the app, pushes an app context, and works the portal's queue.

Run it with ``python worker.py`` (REDIS_URL must be set). The jobs and the monthly schedule
arrive with the invoicing work; until then the worker simply serves the queue.
"""
import os
import sys

from redis import Redis
from rq import Queue, Worker

from portal import create_app

QUEUE_NAME = "portal"


def main() -> int:
    app = create_app()
    url = app.config.get("REDIS_URL")
    if not url:
        print("REDIS_URL is not set: without Redis, jobs run inline in the portal itself.", file=sys.stderr)
        return 2
    connection = Redis.from_url(url)
    with app.app_context():
        worker = Worker([Queue(QUEUE_NAME, connection=connection)], connection=connection)
        worker.work(with_scheduler=True, burst="--burst" in sys.argv)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    sys.exit(main())
