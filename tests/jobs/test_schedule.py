from datetime import date, datetime, timezone

from freezegun import freeze_time
from redis import Redis
from sqlalchemy import func, select

from portal import schedule
from portal.queue import MESSAGES
from portal.jobs.invoicing import scheduled_rollup
from portal.models import Invoice, RollupRun
from portal.services.rollup import missed_periods, roll_up_period
from tests.factories import make_deployment, make_tenant


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def _scheduled(conn):
    scheduler = schedule.build(conn, "portal-tests")
    return {job.id: (job.func_name, job.origin, job.meta["cron_string"], at)
            for job, at in scheduler.get_jobs(with_times=True)}


def test_recurring_jobs_are_registered_on_rq_scheduler_in_utc(redis_queue):
    conn = Redis.from_url(redis_queue)
    with freeze_time("2026-04-15 12:00:00"):
        schedule.register(schedule.build(conn, "portal-tests"), "portal-tests")
    rollup = "portal.jobs.invoicing.scheduled_rollup"
    assert _scheduled(conn) == {
        "arcadia-monthly-rollup": (rollup, "portal-tests-high", "0 3 1 * *", datetime(2026, 5, 1, 3, 0)),
        "arcadia-rollup-catch-up": (rollup, "portal-tests-high", "3-59/10 * * * *", datetime(2026, 4, 15, 12, 3)),
        "arcadia-hourly-inventory": ("portal.jobs.provider.sync_inventory", "portal-tests-high",
                                     "5 * * * *", datetime(2026, 4, 15, 12, 5)),
        "arcadia-daily-billing": ("portal.jobs.provider.sync_billing", "portal-tests-high",
                                  "30 4 * * *", datetime(2026, 4, 16, 4, 30)),
        "arcadia-daily-reminders": ("portal.jobs.mail.send_reminders", "portal-tests-messages",
                                    "0 6 * * *", datetime(2026, 4, 16, 6, 0)),
        "arcadia-webhook-sweep": ("portal.jobs.webhooks.deliver_due", "portal-tests-messages",
                                  "* * * * *", datetime(2026, 4, 15, 12, 1)),
    }


def test_registering_again_replaces_and_a_new_entry_is_one_line(redis_queue):
    conn = Redis.from_url(redis_queue)
    scheduler = schedule.build(conn, "portal-tests")
    with freeze_time("2026-04-15 12:00:00"):
        schedule.register(scheduler, "portal-tests")
        schedule.register(schedule.build(conn, "portal-tests"), "portal-tests")  # a restart
    assert len(_scheduled(conn)) == 6 == conn.zcard(scheduler.scheduled_jobs_key)
    reminders = schedule.Recurring("0 8 * * *", "portal.jobs.provider.sync_all", "arcadia-weekly-digest",
                                   MESSAGES)
    with freeze_time("2026-04-15 12:00:00"):
        schedule.register(scheduler, "portal-tests", [*schedule.RECURRING, reminders])
        schedule.register(scheduler, "portal-tests", [*schedule.RECURRING, reminders])
    jobs = _scheduled(conn)
    assert len(jobs) == 7
    assert jobs["arcadia-weekly-digest"][1:] == ("portal-tests-messages", "0 8 * * *",
                                                   datetime(2026, 4, 16, 8, 0))
    with freeze_time("2026-04-15 12:00:00"):
        schedule.register(scheduler, "portal-tests")  # an entry removed from the list goes
    assert sorted(_scheduled(conn)) == sorted(e.id for e in schedule.RECURRING)


def test_an_unfinished_run_counts_as_missed_once_abandoned(catalog, database):
    make_deployment(make_tenant("acme"), plan_code="studio", starts_on=date(2026, 3, 1))
    now = utc(2026, 4, 2, 12, 0)
    database.session.add(RollupRun(period_start=date(2026, 3, 1), actor="scheduler", job_id="j1",
                                   started_at=utc(2026, 4, 1, 3, 0)))
    database.session.flush()
    assert missed_periods(now, job_alive=lambda job_id: job_id == "j1") == []  # still running
    assert missed_periods(now, job_alive=lambda job_id: False) == [date(2026, 3, 1)]  # its worker died
    # Without a job (inline): abandoned once older than a rollup job's timeout (6 h).
    run = database.session.scalars(select(RollupRun)).one()
    run.job_id, run.started_at = None, utc(2026, 4, 2, 7, 0)
    database.session.flush()
    assert missed_periods(now) == []
    run.started_at = utc(2026, 4, 2, 5, 59)
    database.session.flush()
    assert missed_periods(now) == [date(2026, 3, 1)]
    # A finished run of the month settles it, whatever else is left unfinished.
    roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    assert missed_periods(now) == []


def test_missed_months_are_found_only_once_due(catalog, database):
    make_deployment(make_tenant("acme"), plan_code="studio", starts_on=date(2026, 2, 10))
    roll_up_period(date(2026, 3, 1), date(2026, 4, 1))  # March ran; February and April did not
    assert missed_periods(utc(2026, 5, 1, 2, 59)) == [date(2026, 2, 1)]
    assert missed_periods(utc(2026, 5, 1, 3, 0)) == [date(2026, 2, 1), date(2026, 4, 1)]


def test_scheduled_rollup_catches_up_and_is_safe_to_repeat(catalog, database):
    acme = make_tenant("acme")
    make_deployment(acme, plan_code="studio", starts_on=date(2026, 2, 10))
    with freeze_time("2026-05-01 03:00:05"):
        first = scheduled_rollup()
        second = scheduled_rollup()
    assert [(p["period"], p["created"]) for p in first["periods"]] == [
        ("2026-02", 1), ("2026-03", 1), ("2026-04", 1)]
    assert second == {"periods": []}
    invoices = database.session.execute(
        select(Invoice.period_start, Invoice.total_cents).order_by(Invoice.period_start)).all()
    # February prorated from the 10th: 5000 × 19/28 = 3392.86 → 3393, + GST 339
    assert invoices == [(date(2026, 2, 1), 3732), (date(2026, 3, 1), 5500), (date(2026, 4, 1), 5500)]
    runs = database.session.scalars(select(RollupRun.actor)).all()
    assert set(runs) == {"scheduler"}


def test_the_recurring_catch_up_reruns_a_run_its_own_id_left_unfinished(app, catalog, database, redis_queue):
    """The scheduler enqueues a recurring job under the same id each time: a run that an
    earlier execution of it left unfinished is not "alive" because the id is running again."""
    from rq import Queue

    from portal.billing.proration import previous_month_start
    from portal.clock import today
    from tests.conftest import run_worker

    period = previous_month_start(today())
    make_deployment(make_tenant("acme"), plan_code="studio", starts_on=period)
    database.session.add(RollupRun(period_start=period, actor="scheduler", job_id="arcadia-rollup-catch-up"))
    database.session.flush()
    Queue("portal-tests-high", connection=Redis.from_url(redis_queue)).enqueue(
        "portal.jobs.invoicing.scheduled_rollup", job_id="arcadia-rollup-catch-up")
    run_worker(app)
    assert database.session.scalars(select(Invoice.period_start)).all() == [period]
    assert database.session.scalar(
        select(func.count()).select_from(RollupRun).where(RollupRun.finished_at.is_not(None))) == 1
