"""Jobs go to RQ when ``REDIS_URL`` is set; without it the same functions run inline.

Jobs are named by dotted path, so services can enqueue them without importing the jobs.
Work is split over queues, taken by a worker in the order of ``QUEUES``: a backlog of PDFs
or emails never delays a rollup or a sync.
"""
import importlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

from flask import current_app
from redis import Redis
from rq import Queue, Retry, utils, worker_registration
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


# Short socket timeouts: with Redis down a page or the API answers 503 at once (see
# http_errors), rather than hanging a request on a dead connection.
REDIS_TIMEOUTS = {"socket_timeout": 3, "socket_connect_timeout": 2}

# How often a busy worker's parent refreshes its heartbeats (RQ's job_monitoring_interval,
# config WORKER_HEARTBEAT_SECONDS); a started job whose heartbeat is older than
# ``abandoned_after`` has lost its worker.
DEFAULT_HEARTBEAT_SECONDS = 30
ALIVE_WITHIN_SECONDS = 120  # a worker or scheduler seen within this is "alive"
SCHEDULER_HEARTBEAT_KEY = "arcadia:scheduler:heartbeat"


def connect(url: str) -> Redis:
    return Redis.from_url(url, **REDIS_TIMEOUTS)


def connection() -> Redis | None:
    url = current_app.config.get("REDIS_URL")
    return connect(url) if url else None


def queue_names(prefix: str) -> list[str]:
    return [f"{prefix}-{name}" for name in QUEUES]


def queue_prefix() -> str:
    return current_app.config.get("RQ_QUEUE", QUEUE_NAME)


def heartbeat_seconds() -> int:
    return int(current_app.config.get("WORKER_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS))


def abandoned_after(heartbeat: int) -> int:
    """Seconds without a heartbeat after which a started job's worker is taken as gone: two
    missed beats and some slack (a busy machine may beat late)."""
    return 2 * heartbeat + 10


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


def reap_abandoned(conn: Redis, prefix: str, heartbeat: int) -> list[str]:
    """Fail the started jobs whose worker is gone (killed, its machine lost).

    RQ keeps each started job in its queue's StartedJobRegistry scored by when its heartbeat
    expires: the worker's parent renews it every ``heartbeat`` seconds for
    ``heartbeat + 60`` more. RQ's own cleanup (``StartedJobRegistry.cleanup``: failure
    callbacks, retries, the failed registry) runs only on a worker's maintenance, every ten
    minutes, and only once that expiry has passed. Here the same cleanup runs with the
    cut-off moved so that a job whose last beat is older than ``abandoned_after`` counts."""
    cutoff = time.time() + heartbeat + 60 - abandoned_after(heartbeat)
    reaped = []
    for name in queue_names(prefix):
        registry = Queue(name, connection=conn).started_job_registry
        expired = registry.get_expired_job_ids(cutoff)
        if expired:
            registry.cleanup(timestamp=cutoff)
            reaped += expired
    return reaped


def job_alive(job_id: str) -> bool:
    """Whether a job may still run: queued, deferred, scheduled, or started with a live worker."""
    conn = connection()
    if conn is None:
        return False
    reap_abandoned(conn, queue_prefix(), heartbeat_seconds())
    try:
        status = Job.fetch(job_id, connection=conn).get_status(refresh=True)
    except NoSuchJobError:
        return False
    return getattr(status, "value", status) in ("queued", "started", "deferred", "scheduled")


def describe(job: Job) -> dict:
    """A job as the API and the progress partial show it: a started job whose worker died
    answers "failed", never "started" for ever."""
    status = job.get_status(refresh=True)
    status = getattr(status, "value", status)
    if status == "started" and reap_abandoned(job.connection, queue_prefix(), heartbeat_seconds()):
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


def enqueue_in(seconds: int, path: str, *args, queue_name: str = HIGH, **kwargs) -> str | None:
    """Run ``path`` on the worker after ``seconds`` (its scheduler moves it to the queue then).
    Without Redis nothing is scheduled: returns None."""
    from datetime import timedelta

    q = queue(queue_name)
    if q is None:
        return None
    return q.enqueue_in(timedelta(seconds=seconds), path, *args, result_ttl=7 * 86400,
                        failure_ttl=30 * 86400, **kwargs).id


# --- liveness -------------------------------------------------------------------------------


def last_worker_heartbeat(conn: Redis, prefix: str) -> datetime | None:
    """The latest heartbeat of a worker of ours (one taking any of our queues; another
    portal's workers on the same Redis do not count), or None: RQ's worker registry, the set
    of worker keys, each a hash with ``last_heartbeat`` that expires when the worker stops
    beating. Two round trips."""
    keys = [k.decode() if isinstance(k, bytes) else k for k in conn.smembers(worker_registration.REDIS_WORKER_KEYS)]
    if not keys:
        return None
    with conn.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, "last_heartbeat", "queues")
        rows = pipe.execute()
    ours = set(queue_names(prefix))
    beats = [utils.utcparse(beat.decode()).replace(tzinfo=timezone.utc) for beat, queues in rows
             if beat and queues and ours & set(queues.decode().split(","))]
    return max(beats, default=None)


def workers_alive(conn: Redis, prefix: str, within: int = ALIVE_WITHIN_SECONDS) -> bool:
    """A worker of ours heart-beat within ``within`` seconds: the one rule for health, the
    admins' banner and the home page."""
    return heartbeat_is_recent(last_worker_heartbeat(conn, prefix), within)


def heartbeat_is_recent(beat: datetime | None, within: int = ALIVE_WITHIN_SECONDS) -> bool:
    return beat is not None and beat.timestamp() >= time.time() - within


def scheduler_beat(conn: Redis) -> None:
    """The scheduler process says it is alive (every ≤60 s; the key outlives two beats)."""
    conn.set(SCHEDULER_HEARTBEAT_KEY, str(time.time()), ex=ALIVE_WITHIN_SECONDS + 60)


def scheduler_alive(conn: Redis, within: int = ALIVE_WITHIN_SECONDS) -> bool:
    beat = conn.get(SCHEDULER_HEARTBEAT_KEY)
    return beat is not None and float(beat) >= time.time() - within


def waiting_jobs(conn: Redis, prefix: str) -> int:
    """Jobs queued on any of our queues: one round trip."""
    with conn.pipeline(transaction=False) as pipe:
        for name in queue_names(prefix):
            pipe.llen(f"{Queue.redis_queue_namespace_prefix}{name}")
        return sum(pipe.execute())
