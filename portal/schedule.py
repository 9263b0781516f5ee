"""The recurring jobs, registered with RQ's own cron scheduler (rq 2.x evaluates cron in UTC).

RQ's cron does not make up a run missed while it was down, so ``start`` also queues the
catch-up job at once: it rolls up every month that was due and has no finished run.
"""
from redis import Redis
from rq import Queue
from rq.cron import CronScheduler

MONTHLY_ROLLUP_CRON = "0 3 1 * *"  # 03:00 UTC on the 1st


def build(connection: Redis, queue_name: str) -> CronScheduler:
    from .jobs.invoicing import scheduled_rollup

    cron = CronScheduler(connection=connection, name="arcadia-cron")
    cron.register(scheduled_rollup, queue_name=queue_name, cron=MONTHLY_ROLLUP_CRON,
                  job_timeout=6 * 3600, name="monthly-rollup")
    return cron


def start(connection: Redis, queue_name: str) -> None:
    cron = build(connection, queue_name)
    Queue(queue_name, connection=connection).enqueue(
        "portal.jobs.invoicing.scheduled_rollup", job_timeout=6 * 3600)
    cron.start()
