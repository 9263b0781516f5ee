"""Jobs go to RQ when ``REDIS_URL`` is set; without it the same functions run inline.

Jobs are named by dotted path, so services can enqueue them without importing the jobs.
"""
import importlib
from dataclasses import dataclass
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.exceptions import NoSuchJobError

QUEUE_NAME = "portal"


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


def queue() -> Queue | None:
    conn = connection()
    if conn is None:
        return None
    return Queue(current_app.config.get("RQ_QUEUE", QUEUE_NAME), connection=conn)


def enqueue(path: str, *args, timeout: int = 3600, **kwargs) -> Enqueued:
    q = queue()
    if q is None:
        module, name = path.rsplit(".", 1)
        return Enqueued(None, getattr(importlib.import_module(module), name)(*args, **kwargs))
    job = q.enqueue(path, *args, job_timeout=timeout, result_ttl=7 * 86400,
                    failure_ttl=30 * 86400, **kwargs)
    return Enqueued(job.id)


def fetch(job_id: str) -> Job | None:
    conn = connection()
    if conn is None:
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
