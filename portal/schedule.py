"""The recurring jobs, on rq-scheduler, run by ``python worker.py scheduler``.

Every recurring job is one ``Recurring`` entry in ``RECURRING``: to add one (a daily
reminders job, say), append an entry; its fixed id makes re-registering on each start
replace the previous registration rather than add a second. rq-scheduler takes a lock
(``rq:scheduler_lock``) around each pass, so two scheduler processes never both enqueue
the same run. Cron strings are evaluated in UTC (the scheduler runs with TZ=UTC).

rq-scheduler does not make up a run missed while it was down, so ``start`` also queues the
catch-up job at once, and the catch-up runs every ten minutes: it rolls up every month that
was due and has no finished run, including one whose worker died midway.
"""
import logging
import warnings
from dataclasses import dataclass

from redis import Redis
from rq import Queue
from rq_scheduler import Scheduler

from .queue import HIGH, MESSAGES, scheduler_beat

log = logging.getLogger(__name__)

MONTHLY_ROLLUP_CRON = "0 3 1 * *"  # 03:00 UTC on the 1st
ROLLUP_CATCH_UP_CRON = "3-59/10 * * * *"  # every ten minutes, clear of the monthly run
HOURLY_INVENTORY_CRON = "5 * * * *"  # every hour: inventory, droplet-hours, drift
DAILY_BILLING_CRON = "30 4 * * *"  # every day: the provider's balance and invoices
DAILY_REMINDERS_CRON = "0 6 * * *"  # every day: overdue reminders (and lost mail re-queued)
WEBHOOK_SWEEP_CRON = "* * * * *"  # every minute: webhook deliveries a lost job left due

ID_PREFIX = "arcadia-"  # every recurring job's id; others in the scheduler are left alone
SCHEDULER_INTERVAL_SECONDS = 30  # a pass (and a heartbeat) this often: well within 60 s
CATCH_UP = "portal.jobs.invoicing.scheduled_rollup"


@dataclass(frozen=True)
class Recurring:
    cron: str
    func: str  # dotted path: the scheduler need not import the jobs
    id: str
    queue: str = HIGH
    timeout: int = 1800


RECURRING: list[Recurring] = [
    Recurring(MONTHLY_ROLLUP_CRON, CATCH_UP, "arcadia-monthly-rollup", HIGH, 6 * 3600),
    Recurring(ROLLUP_CATCH_UP_CRON, CATCH_UP, "arcadia-rollup-catch-up", HIGH, 6 * 3600),
    Recurring(HOURLY_INVENTORY_CRON, "portal.jobs.provider.sync_inventory", "arcadia-hourly-inventory"),
    Recurring(DAILY_BILLING_CRON, "portal.jobs.provider.sync_billing", "arcadia-daily-billing"),
    Recurring(DAILY_REMINDERS_CRON, "portal.jobs.mail.send_reminders", "arcadia-daily-reminders", MESSAGES),
    Recurring(WEBHOOK_SWEEP_CRON, "portal.jobs.webhooks.deliver_due", "arcadia-webhook-sweep", MESSAGES, 600),
]


class PortalScheduler(Scheduler):
    """rq-scheduler's loop, writing the portal's heartbeat key on each pass (for /api/health)."""

    def heartbeat(self):
        super().heartbeat()
        scheduler_beat(self.connection)


def build(connection: Redis, prefix: str) -> PortalScheduler:
    return PortalScheduler(queue_name=f"{prefix}-{HIGH}", connection=connection,
                           interval=SCHEDULER_INTERVAL_SECONDS)


def register(scheduler: Scheduler, prefix: str, entries: list[Recurring] = RECURRING) -> None:
    """(Re-)register ``entries`` under their fixed ids; drop ours no longer listed."""
    wanted = {entry.id for entry in entries}
    for job in scheduler.get_jobs():
        if job.id.startswith(ID_PREFIX) and job.id not in wanted:
            scheduler.cancel(job)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # crontab 1.0's, on every computation
        for entry in entries:
            if entry.id in scheduler:
                scheduler.cancel(entry.id)
            scheduler.cron(entry.cron, func=entry.func, id=entry.id,
                           queue_name=f"{prefix}-{entry.queue}", timeout=entry.timeout,
                           result_ttl=7 * 86400)


def catch_up(connection: Redis, prefix: str):
    """Queue the catch-up now (as on each scheduler start)."""
    return Queue(f"{prefix}-{HIGH}", connection=connection).enqueue(
        CATCH_UP, job_timeout=6 * 3600, result_ttl=7 * 86400, failure_ttl=30 * 86400)


def start(connection: Redis, prefix: str) -> None:
    scheduler = build(connection, prefix)
    register(scheduler, prefix)
    catch_up(connection, prefix)
    scheduler_beat(connection)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scheduler.run()
