"""The invoice lists at depth: p95 of a deep page of ``GET /api/v1/invoices`` and of the
admin list page's HTMX fragment, at 100,000 invoices (10,000 tenants x 10 months).

Not part of the test suite. It builds a throwaway database (``arcadia_bench_paging``, dropped
and recreated) with one ``INSERT ... SELECT generate_series`` per table, then times requests
through Flask's test client (the whole view, SQL and rendering; no HTTP server).

    .venv/bin/python bench/invoice_list_bench.py                         # this checkout
    .venv/bin/python bench/invoice_list_bench.py --portal-root /work/main --mode page   # before

``--mode cursor`` (this branch) follows the deep row's cursor; ``--mode page`` asks for the
same depth by page number, as the lists did before cursors (and still allow).
"""
import argparse
import os
import re
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--portal-root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
parser.add_argument("--database-url",
                    default="postgresql+psycopg://postgres@127.0.0.1:5432/arcadia_bench_paging")
parser.add_argument("--tenants", type=int, default=10_000)
parser.add_argument("--months", type=int, default=10)
parser.add_argument("--requests", type=int, default=100)
parser.add_argument("--mode", choices=("cursor", "page"), default="cursor")
parser.add_argument("--depth", type=int, default=95_000, help="rows before the deep page")
args = parser.parse_args()
sys.path.insert(0, args.portal_root)
os.chdir(args.portal_root)
os.environ["TZ"] = "UTC"
time.tzset()

import flask_migrate  # noqa: E402
from sqlalchemy import text  # noqa: E402

import portal  # noqa: E402
from portal import create_app  # noqa: E402
from benchdb import recreate_database  # noqa: E402
from portal.extensions import db  # noqa: E402

ADMIN = "bench@example.com"
PASSWORD = "bench-password"
PER_PAGE = 50


def build() -> str:
    from portal.services import accounts

    flask_migrate.upgrade()
    accounts.create_user(ADMIN, "platform_admin", PASSWORD)
    token = accounts.create_token(ADMIN)
    db.session.execute(text("""
        INSERT INTO tenants (slug, name, billing_name, billing_address, credit_balance_cents, created_at)
        SELECT 'tenant-' || lpad(n::text, 5, '0'), 'Tenant ' || n, 'Tenant ' || n || ' Pty Ltd', '', 0, now()
        FROM generate_series(1, :tenants) AS n"""), {"tenants": args.tenants})
    # Month by month, tenants in a shuffled order, as rollups create them; every invoice issued.
    db.session.execute(text("""
        INSERT INTO invoices (number, tenant_id, period_start, period_end, currency, subtotal_cents,
                              tax_cents, total_cents, status, issued_on, due_on, created_at, built_at,
                              amount_paid_cents, amount_credited_cents, credit_applied_cents)
        SELECT 'ARC-' || lpad((row_number() OVER (ORDER BY m, hashint4(t.id)))::text, 7, '0'),
               t.id, make_date(2025, 1, 1) + make_interval(months => m),
               make_date(2025, 1, 1) + make_interval(months => m + 1), 'AUD',
               (1000 + abs(hashint4(t.id * 16 + m)) % 9000) * 10,
               1000 + abs(hashint4(t.id * 16 + m)) % 9000,
               (1000 + abs(hashint4(t.id * 16 + m)) % 9000) * 11, 'issued',  -- totals vary: sortable
               make_date(2025, 1, 2) + make_interval(months => m + 1),
               make_date(2025, 1, 16) + make_interval(months => m + 1), now(), now(), 0, 0, 0
        FROM generate_series(0, :months - 1) AS m CROSS JOIN tenants t
        ORDER BY m, hashint4(t.id)"""), {"months": args.months})
    db.session.commit()
    # VACUUM as autovacuum would after a bulk load: the visibility map lets the counts read
    # their index alone.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE invoices"))
        conn.execute(text("ANALYZE"))
    return token


def timed_sql(sql, params, n):
    """The limit of a case: its bare SQL on one connection (no view, no ORM, no template)."""
    samples = []
    with db.engine.connect() as conn:
        for i in range(n + 5):
            t0 = time.perf_counter()
            conn.execute(text(sql), params).all()
            if i >= 5:
                samples.append(time.perf_counter() - t0)
    return samples


def p95(samples):
    return statistics.quantiles(samples, n=20)[-1] * 1000


def timed(client, url, headers, n):
    samples = []
    for i in range(n + 5):
        t0 = time.perf_counter()
        r = client.get(url, headers=headers)
        elapsed = time.perf_counter() - t0
        assert r.status_code == 200, (url, r.status_code, r.get_data(as_text=True)[:300])
        if i >= 5:  # warm-ups
            samples.append(elapsed)
    return samples


def main():
    recreate_database(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "REDIS_URL": None,
                      "SECRET_KEY": "bench-secret"})
    t0 = time.perf_counter()
    with app.app_context():
        token = build()
        count = db.session.scalar(text("SELECT count(*) FROM invoices"))
        version = db.session.scalar(text("SHOW server_version"))
        deep = db.session.execute(text(
            "SELECT period_start, id FROM invoices ORDER BY period_start DESC, id DESC "
            "OFFSET :depth - 1 LIMIT 1"), {"depth": args.depth}).one()
        deep_total = db.session.execute(text(
            "SELECT total_cents, id FROM invoices ORDER BY total_cents DESC, id DESC "
            "OFFSET :depth - 1 LIMIT 1"), {"depth": args.depth}).one()
        db.session.remove()
    print(f"data: {count:,} invoices of {args.tenants:,} tenants, PostgreSQL {version}, "
          f"built in {time.perf_counter() - t0:.0f} s; code from {os.path.dirname(portal.__file__)}", flush=True)

    if args.mode == "cursor":
        deep_query = f"cursor=o.{deep.period_start.isoformat()}.{deep.id}"
    else:
        deep_query = f"page={args.depth // PER_PAGE + 1}"
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    r = browser.post("/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code in (302, 303), r.status_code
    htmx = {"HX-Request": "true"}
    cases = [
        ("api first page", api, f"/api/v1/invoices?per_page={PER_PAGE}", bearer),
        ("api deep page", api, f"/api/v1/invoices?per_page={PER_PAGE}&{deep_query}", bearer),
        ("page fragment first", browser, f"/invoices/?per_page={PER_PAGE}", htmx),
        ("page fragment deep", browser, f"/invoices/?per_page={PER_PAGE}&{deep_query}", htmx),
        ("full page first", browser, f"/invoices/?per_page={PER_PAGE}", {}),
    ]
    if args.mode == "cursor":  # sorted by total (its own index), and the totals fragment
        by_total = f"cursor=o.-total.{deep_total.total_cents}.{deep_total.id}"
        cases += [
            ("fragment -total first", browser, f"/invoices/?per_page={PER_PAGE}&sort=-total", htmx),
            ("fragment -total deep", browser,
             f"/invoices/?per_page={PER_PAGE}&sort=-total&{by_total}", htmx),
            ("summary first", browser, f"/invoices/summary?per_page={PER_PAGE}", htmx),
            ("summary deep", browser, f"/invoices/summary?per_page={PER_PAGE}&{deep_query}", htmx),
            ("summary one tenant", browser,
             f"/invoices/summary?per_page={PER_PAGE}&tenant=tenant-00042", htmx),
        ]
    for name, client, url, headers in cases:
        samples = timed(client, url, headers, args.requests)
        print(f"{name:22} p50 {statistics.median(samples) * 1000:8.1f} ms   p95 {p95(samples):8.1f} ms"
              f"   ({url.split('?')[1][:60]})", flush=True)
    # Limits, same run: the deep page's bare SQL, and the bare aggregate of every invoice.
    limits = [
        ("limit: deep page SQL", "SELECT * FROM invoices WHERE (period_start, id) < (:p, :i) "
         "ORDER BY period_start DESC, id DESC LIMIT 51", {"p": deep.period_start, "i": deep.id}),
        ("limit: bare aggregate", "SELECT currency, count(*), sum(total_cents) FROM invoices "
         "GROUP BY currency", {}),
    ]
    with app.app_context():
        for name, sql, params in limits:
            samples = timed_sql(sql, params, args.requests)
            print(f"{name:22} p50 {statistics.median(samples) * 1000:8.1f} ms   p95 "
                  f"{p95(samples):8.1f} ms", flush=True)


if __name__ == "__main__":
    main()
