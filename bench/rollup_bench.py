"""Benchmark: the month-end rollup against the bare GROUP BY of the month's raw events, measured
in the same run, on a month of hourly usage with invoice history in place. Not part of the test
suite; it prints figures.

    python bench/rollup_bench.py --tenants 200 --hours 48       # smoke run, under a minute
    python bench/rollup_bench.py                                # 1,000 tenants × 3 deployments
    python bench/rollup_bench.py --portal-root /work/main --reuse   # another checkout's code, same data

What it measures (see bench/README.md), each the median of --repeat runs, in turn:
  group_by   the bare ``SELECT deployment_id, resource_kind, sum(quantity) FROM usage_events
             WHERE occurred_at in the month GROUP BY 1, 2``, every row fetched: the limit;
  rollup     ``roll_up_period`` for April 2026 from no invoice of April (the month's invoices
             are deleted, untimed, before each run): one draft per tenant;
  force      ``roll_up_period(force=True)`` over those drafts: every draft rebuilt.
A re-run (every tenant skipped) is timed once. Every tenant's invoice is checked against the
contract's arithmetic, computed here from the raw events (not from the portal's aggregate).
"""
import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _portal_root(argv) -> str:
    """--portal-root must take effect before ``portal`` is imported."""
    for i, arg in enumerate(argv):
        if arg == "--portal-root" and i + 1 < len(argv):
            return os.path.abspath(argv[i + 1])
        if arg.startswith("--portal-root="):
            return os.path.abspath(arg.split("=", 1)[1])
    return ROOT


PORTAL_ROOT = _portal_root(sys.argv[1:])
sys.path.insert(0, PORTAL_ROOT)

import flask_migrate  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from portal import create_app  # noqa: E402
from benchdb import recreate_database  # noqa: E402
from portal.extensions import db  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/arcadia_bench"
PERIOD_START, PERIOD_END = date(2026, 4, 1), date(2026, 5, 1)
MONTH_START = datetime(2026, 4, 1, tzinfo=timezone.utc)
MONTH_END = datetime(2026, 5, 1, tzinfo=timezone.utc)
HISTORY_FROM = date(2025, 6, 1)  # ten months of issued invoices before April 2026
SPACES_EVERY = 6  # hours between spaces_gb gauge readings

# The studio v1 contract and the storage_50gb addon (checked against the seeded catalog).
PLAN_BASE_CENTS = 5000
ADDON_CENTS = 750
DROPLET_INCLUDED, DROPLET_CENTS = 1488, 1  # per hour
TOKENS_INCLUDED, TOKENS_CENTS_PER_1K = 1_000_000, 1
SPACES_ALLOWANCE, SPACES_CENTS = 100 + 50, 2  # plan 100 GB + addon 50 GB, per GB
TAX_RATE = Decimal("0.10")

BARE_GROUP_BY = text(
    "SELECT deployment_id, resource_kind, sum(quantity) FROM usage_events "
    "WHERE occurred_at >= :start AND occurred_at < :end GROUP BY 1, 2")


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def expected_lines(usage: dict[str, tuple[Decimal, Decimal]]) -> int:
    """One deployment's subtotal by the contract: base, addon and each overage rounded alone."""
    droplet = usage.get("droplet_hours", (Decimal(0), Decimal(0)))[0]
    tokens = usage.get("llm_tokens", (Decimal(0), Decimal(0)))[0]
    peak = usage.get("spaces_gb", (Decimal(0), Decimal(0)))[1]
    return (PLAN_BASE_CENTS + ADDON_CENTS
            + half_up(max(Decimal(0), droplet - DROPLET_INCLUDED) * DROPLET_CENTS)
            + half_up(max(Decimal(0), tokens - TOKENS_INCLUDED) / 1000 * TOKENS_CENTS_PER_1K)
            + half_up(max(Decimal(0), peak - SPACES_ALLOWANCE) * SPACES_CENTS))


# --- setup (not measured) ----------------------------------------------------------------------


def drop_database(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def database_exists(url: str) -> bool:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"))
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                             {"n": target.database}).scalar()
    admin.dispose()
    return bool(found)


def build(tenants: int, per_tenant: int, hours: int) -> None:
    """Schema, catalog, tenants × ``per_tenant`` deployments on studio + storage_50gb, ``hours``
    of hourly usage each (3 droplet hours and 1,000-3,000 tokens every hour, a storage gauge
    every 6 hours), the daily aggregate rebuilt from it, ten months of issued invoices with
    their lines (the history a real month-end runs beside), then ANALYZE. All in the server."""
    from portal.models import Addon, Plan, PlanVersion
    from portal.services import catalog, usage

    flask_migrate.upgrade()
    catalog.seed_catalog()
    version = db.session.scalar(
        select(PlanVersion).join(Plan).where(Plan.code == "studio", PlanVersion.version == 1))
    addon = db.session.scalar(select(Addon).where(Addon.code == "storage_50gb"))
    items = {i.resource_kind: (i.included_qty, i.overage_price_cents, i.overage_unit)
             for i in version.items}
    assert version.base_price_cents == PLAN_BASE_CENTS
    assert items == {"droplet_hours": (DROPLET_INCLUDED, DROPLET_CENTS, "hour"),
                     "llm_tokens": (TOKENS_INCLUDED, TOKENS_CENTS_PER_1K, "1k_tokens"),
                     "spaces_gb": (100, SPACES_CENTS, "gb")}, items
    assert (addon.price_cents, addon.resource_kind, addon.qty) == (ADDON_CENTS, "spaces_gb", 50)
    run = db.session.execute
    run(text("""INSERT INTO tenants (slug, name, billing_name, billing_address, created_at)
                SELECT 'bench-' || lpad(i::text, 5, '0'), 'Bench ' || i, 'Bench ' || i || ' Pty Ltd',
                       i || ' Bench Street' || chr(10) || 'Sydney NSW 2000', now()
                FROM generate_series(1, :n) i"""), {"n": tenants})
    run(text("""INSERT INTO deployments (tenant_id, name, region, status, created_at)
                SELECT t.id, 'd' || n, 'syd1', 'active', now()
                FROM tenants t CROSS JOIN generate_series(1, :k) n ORDER BY t.id, n"""),
        {"k": per_tenant})
    run(text("""INSERT INTO subscriptions (deployment_id, plan_version_id, starts_on, created_at)
                SELECT id, :v, :s, now() FROM deployments ORDER BY id"""),
        {"v": version.id, "s": HISTORY_FROM})
    run(text("""INSERT INTO subscription_addons (subscription_id, addon_id, name, price_cents,
                                                 resource_kind, qty)
                SELECT id, :a, :n, :p, :k, :q FROM subscriptions"""),
        {"a": addon.id, "n": addon.name, "p": addon.price_cents, "k": addon.resource_kind,
         "q": addon.qty})
    db.session.commit()
    run(text("SET LOCAL synchronous_commit = off"))
    run(text("""
        INSERT INTO usage_events (event_id, deployment_id, resource_kind, quantity,
                                  occurred_at, received_at)
        SELECT d.id || ':' || k.kind || ':' || h, d.id, k.kind,
               CASE k.kind
                 WHEN 'droplet_hours' THEN 3
                 WHEN 'llm_tokens' THEN 1000 + (d.id::bigint * 7919 + h * 104729
                                                + (d.id::bigint * h) % 613) % 2001
                 ELSE (1000 + (d.id * 37) % 800 + (h / 6) * 3 + (d.id + (h / 6) * 11) % 17) / 10.0
               END,
               :start + make_interval(hours => h), :start + make_interval(hours => h)
        FROM deployments d
        CROSS JOIN generate_series(0, :hours - 1) h
        CROSS JOIN (VALUES ('droplet_hours'), ('llm_tokens'), ('spaces_gb')) k(kind)
        WHERE k.kind <> 'spaces_gb' OR h % 6 = 0
    """), {"start": MONTH_START, "hours": hours})
    usage.rebuild_aggregates()
    db.session.commit()
    # History: every tenant's ten earlier months, issued, each with a plan line per deployment
    # and the GST line (the sizes, indexes and unique checks a month-end meets in production).
    run(text("SET LOCAL synchronous_commit = off"))
    run(text("""
        INSERT INTO invoices (number, tenant_id, period_start, period_end, currency,
                              subtotal_cents, tax_cents, total_cents, status, issued_on, due_on,
                              created_at, built_at, tax_name, tax_rate)
        SELECT 'HIST-' || t.id || '-' || to_char(m, 'YYYYMM'), t.id, m::date,
               (m + interval '1 month')::date, 'AUD', :base * :k, :base * :k / 10,
               :base * :k + :base * :k / 10, 'issued', (m + interval '1 month')::date,
               (m + interval '1 month 14 days')::date, now(), now(), 'GST', 0.1
        FROM generate_series(CAST(:from AS timestamp), CAST(:to AS timestamp), interval '1 month') m
        CROSS JOIN tenants t ORDER BY m, t.id
    """), {"base": PLAN_BASE_CENTS, "k": per_tenant, "from": HISTORY_FROM,
           "to": date(2026, 3, 1)})
    run(text("""
        INSERT INTO invoice_lines (invoice_id, position, kind, deployment_id, resource_kind,
                                   description, qty, unit, unit_price_cents, amount_cents)
        SELECT i.id, row_number() OVER (PARTITION BY i.id ORDER BY d.id), 'plan_base', d.id,
               NULL, 'Studio v1', 1, 'month', :base, :base
        FROM invoices i JOIN deployments d ON d.tenant_id = i.tenant_id
        UNION ALL
        SELECT i.id, :k + 1, 'tax', NULL, NULL, 'GST 10%', 0.1, 'rate', i.subtotal_cents,
               i.tax_cents
        FROM invoices i
    """), {"base": PLAN_BASE_CENTS, "k": per_tenant})
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    db.session.remove()


def data_size() -> dict:
    from portal.models import Deployment, Invoice, Tenant, UsageEvent

    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    return {"tenants": count(Tenant), "deployments": count(Deployment),
            "events": count(UsageEvent), "history": db.session.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.period_start < PERIOD_START)),
            "events_mb": float(db.session.execute(text(
                "SELECT pg_total_relation_size('usage_events') / 1048576.0")).scalar())}


# --- the measured runs ---------------------------------------------------------------------------


def timed_group_by() -> tuple[float, int]:
    """The limit: the bare GROUP BY of the month's raw events, every row fetched."""
    db.session.remove()
    t0 = time.perf_counter()
    rows = db.session.execute(BARE_GROUP_BY, {"start": MONTH_START, "end": MONTH_END}).all()
    seconds = time.perf_counter() - t0
    db.session.rollback()
    db.session.remove()
    return seconds, len(rows)


def delete_month() -> None:
    from portal.models import Invoice

    db.session.execute(sa.delete(Invoice).where(Invoice.period_start == PERIOD_START))
    db.session.commit()
    db.session.remove()


def timed_rollup(force: bool = False, profile: bool = False):
    from portal.services.rollup import roll_up_period

    profiler = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    result = roll_up_period(PERIOD_START, PERIOD_END, force=force)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - t0
    db.session.remove()
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    return result, seconds


def check_invoices() -> int:
    """Every tenant's April invoice against the contract's arithmetic on the raw events."""
    from portal.models import Deployment, Invoice

    per_dep: dict[int, dict] = defaultdict(dict)
    for dep, kind, total, peak in db.session.execute(text(
            "SELECT deployment_id, resource_kind, sum(quantity), max(quantity) FROM usage_events "
            "WHERE occurred_at >= :s AND occurred_at < :e GROUP BY 1, 2"),
            {"s": MONTH_START, "e": MONTH_END}):
        per_dep[dep][kind] = (Decimal(total), Decimal(peak))
    subtotal: dict[int, int] = defaultdict(int)
    for dep, tenant in db.session.execute(select(Deployment.id, Deployment.tenant_id)):
        subtotal[tenant] += expected_lines(per_dep.get(dep, {}))
    rows = db.session.execute(
        select(Invoice.tenant_id, Invoice.subtotal_cents, Invoice.tax_cents, Invoice.total_cents,
               Invoice.status).where(Invoice.period_start == PERIOD_START)).all()
    got = {r.tenant_id: tuple(r)[1:] for r in rows}
    assert len(rows) == len(got) == len(subtotal), (len(rows), len(got), len(subtotal))
    wrong = [(t, got[t], s) for t, s in subtotal.items()
             if got[t] != (s, half_up(s * TAX_RATE), s + half_up(s * TAX_RATE), "draft")]
    assert not wrong, f"{len(wrong)} invoices differ from the contract's arithmetic: {wrong[:3]}"
    line_count = db.session.scalar(text(
        "SELECT count(*) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id "
        "WHERE i.period_start = :p"), {"p": PERIOD_START})
    db.session.remove()
    return line_count


# --- main --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000, help="tenants (1000)")
    parser.add_argument("--deployments", type=int, default=3, help="deployments per tenant (3)")
    parser.add_argument("--hours", type=int, default=720,
                        help="hours of April 2026 with usage, from the 1st (720 = all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (3)")
    parser.add_argument("--database-url", default=DEFAULT_URL,
                        help="a database the bench may drop and recreate (%(default)s)")
    parser.add_argument("--reuse", action="store_true",
                        help="skip the build when the database already holds that many tenants")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one extra first run (untimed) and print the top")
    parser.add_argument("--portal-root", default=ROOT,
                        help="the checkout whose portal code runs (default: this one)")
    args = parser.parse_args(argv)
    if not 1 <= args.hours <= 720:
        parser.error("--hours must be 1 to 720 (April 2026 has 720)")
    if args.tenants < 1 or args.deployments < 1 or args.repeat < 1:
        parser.error("--tenants, --deployments and --repeat must be at least 1")

    url = args.database_url
    started = time.perf_counter()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "REDIS_URL": None,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    reuse = False
    if args.reuse and database_exists(url):
        with app.app_context():
            try:
                size = data_size()
                reuse = size["tenants"] == args.tenants
            except sa.exc.ProgrammingError:
                reuse = False
            db.session.remove()
            db.engine.dispose()
    if not reuse:
        recreate_database(url)
    print(f"code: {PORTAL_ROOT}", flush=True)
    try:
        with app.app_context():
            if not reuse:
                t0 = time.perf_counter()
                build(args.tenants, args.deployments, args.hours)
                print(f"build: {time.perf_counter() - t0:.1f} s (not measured)", flush=True)
            size = data_size()
            pg_version = db.session.execute(text("SHOW server_version")).scalar().split()[0]
            db.session.remove()
            print(f"data: {size['tenants']:,} tenants, {size['deployments']:,} deployments, "
                  f"{size['events']:,} events ({size['events_mb']:,.0f} MB), "
                  f"{size['history']:,} invoices of history", flush=True)
            delete_month()
            if args.profile:
                timed_rollup(profile=True)
                delete_month()

            group_by, created, forced = [], [], []
            for i in range(args.repeat):
                seconds, groups = timed_group_by()
                group_by.append(seconds)
                delete_month()
                result, seconds = timed_rollup()
                assert (result.created, result.skipped, result.rebuilt) == (size["tenants"], 0, 0), \
                    result.as_dict()
                created.append(seconds)
                lines = check_invoices()
                result, seconds = timed_rollup(force=True)
                assert (result.created, result.skipped, result.rebuilt) == (0, 0, size["tenants"]), \
                    result.as_dict()
                forced.append(seconds)
                check_invoices()
                print(f"  run {i + 1}: group by {group_by[-1]:.2f} s ({groups:,} groups), "
                      f"rollup {created[-1]:.2f} s, force {forced[-1]:.2f} s", flush=True)
            result, skipped_s = timed_rollup()
            assert (result.created, result.skipped) == (0, size["tenants"]), result.as_dict()
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep:
            with app.app_context():
                db.engine.dispose()
            drop_database(url)

    load = os.getloadavg()
    limit = statistics.median(group_by)
    rollup = statistics.median(created)
    print()
    print(f"data: {size['tenants']:,} tenants, {size['deployments']:,} deployments, "
          f"{args.hours} hours, {size['events']:,} events (usage_events {size['events_mb']:,.0f} MB), "
          f"{size['history']:,} invoices of history; PostgreSQL {pg_version}; load "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"limit, bare GROUP BY of the month's events: median {limit:.2f} s "
          f"(runs {', '.join(f'{s:.2f}' for s in group_by)})")
    print(f"rollup, {size['tenants']:,} drafts ({lines:,} lines): median {rollup:.2f} s "
          f"(runs {', '.join(f'{s:.2f}' for s in created)}) = {rollup / limit:.2f} × the GROUP BY")
    print(f"force, {size['tenants']:,} drafts rebuilt: median {statistics.median(forced):.2f} s "
          f"(runs {', '.join(f'{s:.2f}' for s in forced)})")
    print(f"re-run, every tenant skipped: {skipped_s:.2f} s")
    print(f"check: every invoice's subtotal, GST and total equal the contract's arithmetic on "
          f"the raw events, after each run and each forced run")
    print(f"total bench time {time.perf_counter() - started:.1f} s"
          + ("" if args.keep else "; database dropped"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
