"""The recurring jobs, registered with RQ's own cron scheduler (rq 2.x evaluates cron in UTC).

RQ's cron does not make up a run missed while it was down, so ``start`` also queues the
catch-up job at once: it rolls up every month that was due and has no finished run.
"""
from redis import Redis
from rq import Queue
from rq.cron import CronScheduler

MONTHLY_ROLLUP_CRON = "0 3 1 * *"  # 03:00 UTC on the 1st
HOURLY_INVENTORY_CRON = "5 * * * *"  # every hour: inventory, droplet-hours, drift
DAILY_BILLING_CRON = "30 4 * * *"  # every day: the provider's balance and invoices


def build(connection: Redis, queue_name: str) -> CronScheduler:
    from .jobs.invoicing import scheduled_rollup
    from .jobs.provider import sync_billing, sync_inventory

    cron = CronScheduler(connection=connection, name="arcadia-cron")
    cron.register(scheduled_rollup, queue_name=queue_name, cron=MONTHLY_ROLLUP_CRON,
                  job_timeout=6 * 3600, name="monthly-rollup")
    cron.register(sync_inventory, queue_name=queue_name, cron=HOURLY_INVENTORY_CRON,
                  job_timeout=1800, name="hourly-inventory")
    cron.register(sync_billing, queue_name=queue_name, cron=DAILY_BILLING_CRON,
                  job_timeout=1800, name="daily-billing")
    return cron


def start(connection: Redis, queue_name: str) -> None:
    cron = build(connection, queue_name)
    Queue(queue_name, connection=connection).enqueue(
        "portal.jobs.invoicing.scheduled_rollup", job_timeout=6 * 3600)
    cron.start()
