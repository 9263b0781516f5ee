from datetime import date, datetime, timezone

from freezegun import freeze_time
from redis import Redis
from sqlalchemy import select

from portal import schedule
from portal.jobs.invoicing import scheduled_rollup
from portal.models import Invoice, RollupRun
from portal.services.rollup import missed_periods, roll_up_period
from tests.factories import make_deployment, make_tenant


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_the_monthly_rollup_is_due_at_three_utc_on_the_first(redis_queue):
    with freeze_time("2026-04-15 12:00:00"):
        cron = schedule.build(Redis.from_url(redis_queue), "portal-tests")
    jobs = {job.name: job for job in cron.get_jobs()}
    job = jobs["monthly-rollup"]
    assert (job.cron, job.func_name) == ("0 3 1 * *", "portal.jobs.invoicing.scheduled_rollup")
    assert job.next_enqueue_time == utc(2026, 5, 1, 3, 0)
    assert jobs["hourly-inventory"].next_enqueue_time == utc(2026, 4, 15, 12, 5)
    assert jobs["daily-billing"].next_enqueue_time == utc(2026, 4, 16, 4, 30)


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
