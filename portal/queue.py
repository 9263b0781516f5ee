"""Jobs go to RQ when ``REDIS_URL`` is set; without it the same functions run inline.

Jobs are named by dotted path, so services can enqueue them without importing the jobs.
Work is split over queues, taken by a worker in the order of ``QUEUES``: a backlog of PDFs
or emails never delays a rollup or a sync.
"""
import importlib
from dataclasses import dataclass
from typing import Any, Sequence

from flask import current_app
from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.exceptions import NoSuchJobError

QUEUE_NAME = "portal"  # the prefix of every queue's name (config RQ_QUEUE overrides it)

HIGH = "high"            # rollups, provider syncs, scheduled work
DOCUMENTS = "documents"  # PDF renders
MESSAGES = "messages"    # email, webhook deliveries
QUEUES = (HIGH, DOCUMENTS, MESSAGES)


@dataclass(frozen=True)
class Enqueued:
    job_id: str | None  # None when it ran inline
    result: Any = None

    @property
    def inline(self) -> bool:
        return self.job_id is None


def connection() -> Redis | None:
    url = current_app.config.get("REDIS_URL")
    return Redis.from_url(url) if url else None


def queue_names(prefix: str) -> list[str]:
    return [f"{prefix}-{name}" for name in QUEUES]


def queue(name: str = HIGH) -> Queue | None:
    conn = connection()
    if conn is None:
        return None
    return Queue(f"{current_app.config.get('RQ_QUEUE', QUEUE_NAME)}-{name}", connection=conn)


def enqueue(path: str, *args, queue_name: str = HIGH, timeout: int = 3600,
            retry: Sequence[int] | None = None, **kwargs) -> Enqueued:
    """Run ``path(*args, **kwargs)`` on the worker's ``queue_name`` queue, or inline without
    Redis. ``retry`` lists the delays in seconds before each retry of a failed job (the
    worker's scheduler runs them); inline, a job runs once."""
    q = queue(queue_name)
    if q is None:
        module, name = path.rsplit(".", 1)
        return Enqueued(None, getattr(importlib.import_module(module), name)(*args, **kwargs))
    job = q.enqueue_call(path, args=args, kwargs=kwargs, timeout=timeout,
                         result_ttl=7 * 86400, failure_ttl=30 * 86400,
                         retry=Retry(max=len(retry), interval=list(retry)) if retry else None)
    return Enqueued(job.id)


def fetch(job_id: str) -> Job | None:
    """The job, or None when there is none (an id RQ never makes names none: not looked up)."""
    from .services.validation import job_id as valid_job_id

    conn = connection()
    if conn is None or valid_job_id(job_id) is None:
        return None
    try:
        return Job.fetch(job_id, connection=conn)
    except NoSuchJobError:
        return None


def describe(job: Job) -> dict:
    """A job as the API and the progress partial show it."""
    status = job.get_status(refresh=True)
    status = getattr(status, "value", status)
    body = {
        "id": job.id,
        "status": status,
        "progress": job.meta.get("progress"),
        "result": job.return_value() if status == "finished" else None,
        "error": None,
        "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
        "ended_at": job.ended_at.isoformat() if job.ended_at else None,
    }
    if status == "failed":
        body["error"] = "the job failed; see the worker's log"
    return body
