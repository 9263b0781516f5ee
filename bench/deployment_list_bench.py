"""The deployments list at scale: p50/p95 of the admin list's HTMX fragment (first page, a deep
page by cursor in each sort, a filtered page) and of its summary fragment (count and page
position), at 30,000 deployments (10,000 tenants x 3, each subscribed), each set against the
bare SQL of the same page (the keyset read alone) timed in the same run.

Not part of the test suite. It builds a throwaway database (``arcadia_bench_deployments``,
dropped and recreated) with ``INSERT ... SELECT generate_series``, then times requests through
Flask's test client (the whole view, SQL and rendering; no HTTP server).

    .venv/bin/python bench/deployment_list_bench.py [--tenants 10000] [--requests 60]
"""
import argparse
import os
import re
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--database-url",
                    default="postgresql+psycopg://postgres@127.0.0.1:5432/arcadia_bench_deployments")
parser.add_argument("--tenants", type=int, default=10_000)
parser.add_argument("--per-tenant", type=int, default=3)
parser.add_argument("--requests", type=int, default=60)
args = parser.parse_args()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.chdir(ROOT)
os.environ["TZ"] = "UTC"
time.tzset()

import flask_migrate  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import text  # noqa: E402

from portal import create_app  # noqa: E402
from benchdb import recreate_database  # noqa: E402
from portal.extensions import db  # noqa: E402

ADMIN = "bench@example.com"
PASSWORD = "bench-password"
PER_PAGE = 50
STATES = ("requested", "provisioning", "active", "suspended", "failed", "decommissioned")
REGIONS = ("syd1", "sgp1", "nyc3", "fra1", "lon1")


def build() -> None:
    from portal.services import accounts, catalog

    flask_migrate.upgrade()
    catalog.seed_catalog()
    accounts.create_user(ADMIN, "platform_admin", PASSWORD)
    db.session.execute(text("""
        INSERT INTO tenants (slug, name, billing_name, billing_address, credit_balance_cents, created_at)
        SELECT 'tenant-' || lpad(n::text, 5, '0'), 'Tenant ' || n, 'Tenant ' || n || ' Pty Ltd', '', 0, now()
        FROM generate_series(1, :tenants) AS n"""), {"tenants": args.tenants})
    db.session.execute(text("""
        INSERT INTO deployments (tenant_id, name, region, status, created_at)
        SELECT t.id, (ARRAY['inference', 'rag', 'batch', 'vision', 'edge'])[1 + (t.id + k) % 5] || '-' || k,
               (CAST(:regions AS text[]))[1 + (hashint4(t.id * 7 + k) & 65535) % 5],
               (CAST(:states AS text[]))[1 + (hashint4(t.id + k) & 65535) % 6],
               now()
        FROM tenants t CROSS JOIN generate_series(1, :per) AS k
        ORDER BY hashint4(t.id * 31 + k)"""),
        {"per": args.per_tenant, "regions": list(REGIONS), "states": list(STATES)})
    db.session.execute(text("""
        INSERT INTO subscriptions (deployment_id, plan_version_id, starts_on, created_at)
        SELECT d.id, (SELECT min(id) FROM plan_versions), DATE '2026-01-01', now() FROM deployments d"""))
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def p95(samples):
    return statistics.quantiles(samples, n=20)[-1] * 1000


def timed(call, n):
    samples = []
    for i in range(n + 5):
        t0 = time.perf_counter()
        call()
        if i >= 5:  # warm-ups
            samples.append(time.perf_counter() - t0)
    return samples


def main():
    recreate_database(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "REDIS_URL": None,
                      "SECRET_KEY": "bench-secret"})
    t0 = time.perf_counter()
    with app.app_context():
        build()
        count = db.session.scalar(text("SELECT count(*) FROM deployments"))
        version = db.session.scalar(text("SHOW server_version"))
        db.session.remove()
    print(f"data: {count:,} deployments of {args.tenants:,} tenants, PostgreSQL {version}, "
          f"built in {time.perf_counter() - t0:.0f} s", flush=True)

    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    r = browser.post("/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code in (302, 303), r.status_code
    htmx = {"HX-Request": "true"}

    def deep(sort: str) -> str:
        """The cursor of a page about 90 % down the list, by following the real Next links
        would take hundreds of requests: build it as the list does, from the row there."""
        from portal.services.deployments import DEPLOYMENT_SORTS
        from portal.services.paging import OLDER, cursor_text

        keyset = DEPLOYMENT_SORTS.keyset(sort)
        with app.app_context():
            from portal.models import Deployment
            order = [c.desc() if keyset.descending else c.asc() for c, _ in keyset.columns]
            row = db.session.scalars(sa.select(Deployment).order_by(*order)
                                     .offset(int(count * 0.9)).limit(1)).one()
            text_ = cursor_text(OLDER, keyset.key(row), keyset)
            db.session.remove()
        return text_

    def bare(sort: str, cursor: str | None):
        """The list's own keyset read, nothing else: the floor for the fragment."""
        from portal.services.deployments import DEPLOYMENT_SORTS
        from portal.services.paging import parse_cursor

        keyset = DEPLOYMENT_SORTS.keyset(sort)
        columns = [c for c, _ in keyset.columns]
        from portal.models import Deployment
        query = sa.select(Deployment.id).order_by(*(c.desc() if keyset.descending else c.asc()
                                                     for c in columns)).limit(PER_PAGE + 1)
        if cursor:
            key = parse_cursor(cursor, keyset).key
            query = query.where(sa.tuple_(*columns) < sa.tuple_(*key) if keyset.descending
                                else sa.tuple_(*columns) > sa.tuple_(*key))

        def run():
            with app.app_context():
                db.session.execute(query).all()
                db.session.remove()
        return run

    cases = []
    for sort in ("-created", "name", "-status"):
        cursor = deep(sort)
        cases.append((f"fragment deep {sort}", f"/deployments/?sort={sort}&cursor={cursor}", bare(sort, cursor)))
        cases.append((f"summary deep {sort}", f"/deployments/summary?sort={sort}&cursor={cursor}", None))
    cases.insert(0, ("fragment first", "/deployments/", bare("-created", None)))
    cases.append(("fragment filtered", "/deployments/?region=syd1&status=active&name=rag", None))
    cases.append(("full page first", "/deployments/", None))
    for name, url, floor in cases:
        headers = {} if name.startswith("full") else htmx

        def call(url=url, headers=headers):
            r = browser.get(url, headers=headers)
            assert r.status_code == 200, (url, r.status_code, r.get_data(as_text=True)[:300])
        samples = timed(call, args.requests)
        line = f"{name:24} p50 {statistics.median(samples) * 1000:7.1f} ms  p95 {p95(samples):7.1f} ms"
        if floor is not None:
            bare_samples = timed(floor, args.requests)
            line += (f"   | its bare keyset SQL p50 {statistics.median(bare_samples) * 1000:5.1f} ms"
                     f"  p95 {p95(bare_samples):5.1f} ms")
        print(line, flush=True)


if __name__ == "__main__":
    main()
