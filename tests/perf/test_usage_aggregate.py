"""The daily usage aggregate kept at ingest answers exactly what the raw events answer."""
import random
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from portal.billing.terms import RESOURCE_KINDS
from portal.models import UsageDaily, UsageEvent
from portal.services import usage
from tests.factories import hourly_events, make_deployment, make_tenant, make_user

MARCH_30 = datetime(2026, 3, 30, tzinfo=timezone.utc)
_ids = count()


def aggregate_equals_raw(ids, start, end):
    got = usage.usage_by_deployment(ids, start, end)
    assert got == usage.raw_usage_by_deployment(ids, start, end)
    return got


def raw_sums(database):
    """Per (deployment, kind, UTC day): (sum, max, count) straight from the events."""
    day = func.date(func.timezone("UTC", UsageEvent.occurred_at))
    return {
        (d, k, dd): (Decimal(s), Decimal(m), n)
        for d, k, dd, s, m, n in database.session.execute(
            select(UsageEvent.deployment_id, UsageEvent.resource_kind, day,
                   func.sum(UsageEvent.quantity), func.max(UsageEvent.quantity), func.count())
            .group_by(UsageEvent.deployment_id, UsageEvent.resource_kind, day))
    }


def aggregate_rows(database):
    return {
        (r.deployment_id, r.resource_kind, r.day): (r.total_qty, r.peak_qty, r.events)
        for r in database.session.scalars(select(UsageDaily))
    }


# Quantities as the API takes them: whole numbers, and decimals with up to six places.
quantities = st.one_of(
    st.integers(min_value=0, max_value=10**12),
    st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False),
)
events = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),          # which deployment
        st.sampled_from(sorted(RESOURCE_KINDS)),
        quantities,
        st.integers(min_value=0, max_value=5 * 24 * 60 - 1),  # minute from 30 March 00:00 UTC
        st.integers(min_value=0, max_value=30),         # event id: small range, so repeats
        st.sampled_from(["Z", "+10:00", "-05:30"]),     # offsets move events across UTC days
    ),
    min_size=1, max_size=60,
)


@settings(deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(events, min_size=1, max_size=3))
def test_aggregate_reads_equal_raw_event_reads(database, batches):
    tenant = make_tenant()
    deps = [make_deployment(tenant).id for _ in range(3)]
    prefix = f"h{next(_ids)}"
    for batch in batches:
        payload = []
        for dep, kind, qty, minute, eid, offset in batch:
            at = MARCH_30 + timedelta(minutes=minute)
            if offset != "Z":  # the same instant written with another offset
                sign = 1 if offset[0] == "+" else -1
                shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:]))
                at_text = (at + sign * shift).replace(tzinfo=None).isoformat() + offset
            else:
                at_text = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            payload.append({"event_id": f"{prefix}-{eid}", "deployment_id": deps[dep],
                            "resource_kind": kind, "quantity": qty, "occurred_at": at_text})
        usage.ingest({"events": payload})
    # Every whole-day window over the five days (and around them), for all and for one.
    days = [date(2026, 3, 29) + timedelta(days=n) for n in range(8)]
    for i, start in enumerate(days):
        for end in days[i + 1:]:
            aggregate_equals_raw(deps, start, end)
            aggregate_equals_raw(deps[:1], start, end)
    assert {k: v for k, v in aggregate_rows(database).items() if k[0] in deps} == {
        k: v for k, v in raw_sums(database).items() if k[0] in deps}


def test_duplicates_never_add_to_the_aggregate(catalog, api_as, database):
    admin = api_as(make_user())
    dep = make_deployment(make_tenant())
    batch = hourly_events(dep.id, "llm_tokens", datetime(2026, 4, 30, 12, tzinfo=timezone.utc),
                          24, quantity=1000)  # 12 hours on 30 April, 12 on 1 May
    assert admin.post("/api/v1/usage", json={"events": batch + batch[:3]}).get_json() == {
        "accepted": 24, "duplicates": 3}
    again = admin.post("/api/v1/usage", json={"events": batch})
    assert again.get_json() == {"accepted": 0, "duplicates": 24}
    assert aggregate_rows(database) == {
        (dep.id, "llm_tokens", date(2026, 4, 30)): (Decimal(12000), Decimal(1000), 12),
        (dep.id, "llm_tokens", date(2026, 5, 1)): (Decimal(12000), Decimal(1000), 12),
    }
    april = admin.get(f"/api/v1/deployments/{dep.id}/usage?period=2026-04").get_json()
    assert april["usage"] == {"droplet_hours": 0, "llm_tokens": 12000, "spaces_gb": 0}


def test_a_gauge_keeps_its_peak_and_a_counter_its_sum(database):
    dep = make_deployment(make_tenant())
    at = "2026-04-10T0{}:00:00Z"
    usage.ingest({"events": [
        {"event_id": f"g{n}", "deployment_id": dep.id, "resource_kind": "spaces_gb",
         "quantity": Decimal(q), "occurred_at": at.format(n)} for n, q in enumerate(["120.5", "180.25", "90"])
    ] + [
        {"event_id": f"c{n}", "deployment_id": dep.id, "resource_kind": "droplet_hours",
         "quantity": 3, "occurred_at": at.format(n)} for n in range(3)
    ]})
    assert usage.usage_for_period(dep.id, date(2026, 4, 1), date(2026, 5, 1)) == {
        "droplet_hours": Decimal(9), "llm_tokens": Decimal(0), "spaces_gb": Decimal("180.25")}


def test_a_rejected_batch_adds_nothing_to_the_aggregate(catalog, api_as, database):
    admin = api_as(make_user())
    dep = make_deployment(make_tenant())
    batch = hourly_events(dep.id, "droplet_hours", datetime(2026, 4, 1, tzinfo=timezone.utc), 5)
    batch[3]["quantity"] = -1
    r = admin.post("/api/v1/usage", json={"events": batch})
    assert r.status_code == 422 and "events[3].quantity" in r.get_json()["error"]["fields"]
    assert aggregate_rows(database) == {}
    assert database.session.scalar(select(func.count()).select_from(UsageEvent)) == 0


def test_concurrent_overlapping_batches_keep_the_aggregate_equal_to_the_events(app, committed):
    tenant = make_tenant("race")
    deps = [make_deployment(tenant, name=f"d{n}").id for n in range(3)]
    committed.session.remove()
    rng = random.Random(11)
    pool = [
        {"event_id": f"ev-{n}", "deployment_id": deps[n % 3],
         "resource_kind": ("droplet_hours", "llm_tokens", "spaces_gb")[n % 3 if n % 7 else 1],
         "quantity": rng.randint(1, 500),
         "occurred_at": f"2026-04-{1 + n % 4:02d}T{n % 24:02d}:00:00Z"}
        for n in range(600)
    ]
    # Six senders, each with overlapping slices of the same events, several batches each.
    plans = [[rng.sample(pool, 200) for _ in range(3)] for _ in range(6)]
    barrier = threading.Barrier(len(plans))
    results, errors = [], []

    def send(batches):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                for batch in batches:
                    results.append(usage.ingest({"events": batch}))
            except Exception as exc:  # surfaced below
                errors.append(exc)
            finally:
                committed.session.remove()

    threads = [threading.Thread(target=send, args=(p,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    sent = {e["event_id"] for batches in plans for batch in batches for e in batch}
    assert sum(r["accepted"] for r in results) == len(sent)
    assert sum(r["accepted"] + r["duplicates"] for r in results) == 6 * 3 * 200
    with app.app_context():
        assert aggregate_rows(committed) == raw_sums(committed)
        expected = {}
        for e in pool:
            if e["event_id"] in sent:
                key = (e["deployment_id"], e["resource_kind"])
                expected.setdefault(key, []).append(Decimal(e["quantity"]))
        got = aggregate_equals_raw(deps, date(2026, 4, 1), date(2026, 5, 1))
        assert got == {
            d: {k: (max(v) if k == "spaces_gb" else sum(v)) for (dd, k), v in expected.items()
                if dd == d}
            for d in deps
        }
        committed.session.remove()


def test_rebuild_command_restores_a_corrupted_aggregate(app, database):
    deps = [make_deployment(make_tenant()).id for _ in range(2)]
    for dep in deps:
        usage.ingest({"events": hourly_events(dep, "droplet_hours",
                                              datetime(2026, 3, 31, tzinfo=timezone.utc), 72,
                                              quantity=2)})
    good = aggregate_rows(database)
    assert len(good) == 2 * 3  # 31 March, 1 and 2 April
    # Corrupt April: one day's total wrong, one day gone, one stray row added.
    database.session.execute(update(UsageDaily).where(UsageDaily.day == date(2026, 4, 1))
                             .values(total_qty=999))
    database.session.execute(text("DELETE FROM usage_daily WHERE day = '2026-04-02' "
                                  f"AND deployment_id = {deps[0]}"))
    database.session.add(UsageDaily(deployment_id=deps[1], resource_kind="llm_tokens",
                                    day=date(2026, 4, 20), total_qty=5, peak_qty=5, events=1))
    database.session.execute(update(UsageDaily).where(UsageDaily.day == date(2026, 3, 31))
                             .values(total_qty=7))  # March: outside the period rebuilt
    database.session.commit()
    assert usage.usage_by_deployment(deps, date(2026, 4, 1), date(2026, 5, 1)) != \
        usage.raw_usage_by_deployment(deps, date(2026, 4, 1), date(2026, 5, 1))

    runner = app.test_cli_runner()
    r = runner.invoke(args=["usage", "rebuild-aggregates", "--period", "2026-04"])
    assert r.exit_code == 0, r.output
    assert "2026-04: 4 daily aggregate rows rebuilt" in r.output
    rows = aggregate_rows(database)
    assert {k: v for k, v in rows.items() if k[2] >= date(2026, 4, 1)} == {
        k: v for k, v in good.items() if k[2] >= date(2026, 4, 1)}
    assert {v[0] for k, v in rows.items() if k[2] == date(2026, 3, 31)} == {Decimal(7)}

    r = runner.invoke(args=["usage", "rebuild-aggregates"])
    assert r.exit_code == 0 and "all periods: 6 daily aggregate rows rebuilt" in r.output
    assert aggregate_rows(database) == good

    bad = runner.invoke(args=["usage", "rebuild-aggregates", "--period", "2026-13"])
    assert bad.exit_code == 1 and "YYYY-MM" in bad.output
