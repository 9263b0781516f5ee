"""Benchmark: the portal's hot paths against the limit of the machine they run on, measured in
the same run. Not part of the test suite; it prints a table and writes a JSON file.

    python bench/run.py                       # 10,000 tenants × 3 deployments, a month of usage
    python bench/run.py --tenants 200         # a quick run

Each measurement is the median of --repeat runs (3) and is set beside its limit:

  ingest_inprocess  ``usage.ingest`` (JSON parsing, validation, COPY, aggregate) on 1
                    connection, vs COPY → staging → INSERT … ON CONFLICT on 1 raw connection;
  ingest_http       POST /api/v1/usage through gunicorn (4 workers) from 4 concurrent clients,
                    vs the same COPY limit on 4 connections;
  quote_http        POST /api/v1/quote p50 through gunicorn vs GET /api/health p50.

MEASUREMENTS maps a name to a function ``(Bench) -> dict``; add the rollup or a list page there.
"""
import argparse
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import flask_migrate  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from portal import create_app  # noqa: E402
from benchdb import recreate_database  # noqa: E402
from portal.extensions import db  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/arcadia_bench_run"
MONTH_START = datetime(2026, 4, 1, tzinfo=timezone.utc)
HOURS = 720  # April 2026
BATCH = 1000
ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password"
KINDS = ("droplet_hours", "llm_tokens", "spaces_gb")


# --- data ----------------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# The tables loaded in bulk: their keys, unique constraints, secondary indexes and foreign keys
# are dropped before the load and re-created after it from the definitions the migrations made
# (read back from the catalog), so the data goes in without index maintenance or per-row checks.
BULK_TABLES = ("usage_events", "usage_daily")
HISTORY_INVOICES = 100_000
LOAD_SETTINGS = ("SET synchronous_commit = off", "SET maintenance_work_mem = '1GB'",
                 "SET work_mem = '256MB'", "SET hash_mem_multiplier = 8",
                 "SET max_parallel_maintenance_workers = 2")


def schema_snapshot(conn) -> list[tuple]:
    """Every constraint and index of the public schema, as PostgreSQL prints its definition:
    two snapshots are equal exactly when the keys, checks, foreign keys and indexes are."""
    constraints = conn.execute(text(
        "SELECT c.conrelid::regclass::text, 'constraint', c.conname, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = 'public'")).all()
    indexes = conn.execute(text(
        "SELECT tablename, 'index', indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = 'public'")).all()
    columns = conn.execute(text(
        "SELECT table_name, 'column', column_name, concat_ws(' ', data_type, "
        "character_maximum_length, numeric_precision, numeric_scale, is_nullable, "
        "column_default) FROM information_schema.columns WHERE table_schema = 'public'")).all()
    return sorted(tuple(r) for r in [*constraints, *indexes, *columns])


def drop_bulk_keys(conn) -> list[str]:
    """Drop the bulk tables' primary keys, unique constraints, foreign keys and other indexes;
    return the statements that re-create them, in an order that works (keys, then indexes,
    then foreign keys). Check constraints stay: they cost nothing per row worth saving."""
    tables = list(BULK_TABLES)
    keys = conn.execute(text(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE conrelid::regclass::text = ANY(:t) AND contype IN ('p','u','f') "
        "ORDER BY contype DESC, conname"), {"t": tables}).all()
    indexes = conn.execute(text(
        "SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.schemaname = 'public' AND i.tablename = ANY(:t) AND NOT EXISTS ("
        "  SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) "
        "ORDER BY i.indexname"), {"t": tables}).all()
    for table, name, _ in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
    for table, name, kind, _ in sorted(keys, key=lambda k: k[2] != "f"):  # foreign keys first
        conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
    recreate = [f'ALTER TABLE "{t}" ADD CONSTRAINT "{n}" {d}' for t, n, k, d in keys if k != "f"]
    recreate += [d for _, _, d in indexes]
    recreate += [f'ALTER TABLE "{t}" ADD CONSTRAINT "{n}" {d}' for t, n, k, d in keys if k == "f"]
    return recreate


def run_parallel(url: str, statements: list[tuple[str, dict]]) -> None:
    """Run each statement on its own connection at once (the loads split by hour)."""
    errors = []

    def run(sql, params):
        try:
            with psycopg.connect(libpq_url(url), autocommit=True) as conn:
                for setting in LOAD_SETTINGS:
                    conn.execute(setting)
                conn.execute(sql, params)
        except Exception as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=s) for s in statements]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


EVENTS_LOAD = """
    INSERT INTO usage_events (event_id, deployment_id, resource_kind, quantity,
                              occurred_at, received_at)
    SELECT d.id || ':' || k.kind || ':' || h, d.id, k.kind,
           CASE k.kind WHEN 'droplet_hours' THEN 1
                       WHEN 'llm_tokens' THEN 1000 + (d.id * 7919 + h * 104729) %% 2001
                       ELSE 100 + (d.id * 37 + h) %% 800 / 10.0 END,
           %(start)s::timestamptz + make_interval(hours => h), %(start)s::timestamptz + make_interval(hours => h)
    FROM generate_series(%(first)s::int, %(last)s::int) h
    CROSS JOIN deployments d
    CROSS JOIN (VALUES ('droplet_hours'), ('llm_tokens'), ('spaces_gb')) k(kind)
    WHERE k.kind <> 'spaces_gb' OR h %% 6 = 0
"""


def expected_events(deployments: int, hours: int) -> int:
    return deployments * (2 * hours + (hours + 5) // 6)


def insert_invoice_history(total: int = HISTORY_INVOICES) -> None:
    """``total`` issued invoices of earlier months (each tenant's months back from January
    2025, one INSERT … SELECT): the history the lists page through and the rollup writes next to."""
    tenants = db.session.scalar(text("SELECT count(*) FROM tenants"))
    db.session.execute(text("""
        WITH t AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM tenants)
        INSERT INTO invoices (number, tenant_id, period_start, period_end, currency,
            subtotal_cents, tax_cents, total_cents, status, issued_on, due_on, created_at,
            built_at, amount_paid_cents, amount_credited_cents, credit_applied_cents)
        SELECT 'BENCH-' || n, t.id, make_date(2025, 1, 1) - make_interval(months => n / :tenants),
               make_date(2025, 2, 1) - make_interval(months => n / :tenants), 'AUD', 10000,
               1000, 11000, 'issued', make_date(2025, 2, 2) - make_interval(months => n / :tenants),
               make_date(2025, 2, 16) - make_interval(months => n / :tenants), now(), now(), 0, 0, 0
        FROM generate_series(0, :total - 1) AS n JOIN t ON t.k = n % :tenants
        """), {"total": total, "tenants": tenants})
    db.session.commit()


def build(url: str, tenants: int, hours: int) -> None:
    """Schema (the migrations), catalog, an admin, tenants × 3 subscribed deployments, ``hours``
    of hourly usage for each (droplet hours and tokens every hour, a storage gauge every 6),
    the daily aggregate from it, 100,000 invoices of history, then ANALYZE.

    Building is not measured, but must take minutes at 10,000 tenants: the events are loaded
    by two INSERT … SELECT generate_series at once (half the month each) into ``usage_events``
    and ``usage_daily`` stripped of keys and indexes, the aggregate is the app's own rebuild
    (one GROUP BY of the raw events), and the keys, indexes and foreign keys are then
    re-created from the migrations' definitions; a schema snapshot before and after proves
    the result is exactly what the migrations make."""
    from portal.models import (Addon, Deployment, Plan, PlanVersion, Subscription, Tenant)
    from portal.services import accounts, catalog, usage

    flask_migrate.upgrade()
    catalog.seed_catalog()
    accounts.create_user(ADMIN_EMAIL, "platform_admin", ADMIN_PASSWORD)
    version = db.session.scalar(select(PlanVersion).join(Plan).where(Plan.code == "studio"))
    addon = db.session.scalar(select(Addon).where(Addon.code == "storage_50gb"))
    for start in range(1, tenants + 1, 5000):
        chunk = range(start, min(tenants, start + 4999) + 1)
        db.session.execute(insert(Tenant), [
            {"slug": f"bench-{i:05d}", "name": f"Bench {i}", "billing_name": f"Bench {i} Pty Ltd",
             "billing_address": f"{i} Bench Street\nSydney NSW 2000", "abn": None}
            for i in chunk])
    tenant_ids = list(db.session.scalars(select(Tenant.id).order_by(Tenant.id)))
    db.session.execute(insert(Deployment), [
        {"tenant_id": t, "name": f"d{n}", "region": "syd1", "status": "active"}
        for t in tenant_ids for n in range(3)])
    deployment_ids = list(db.session.scalars(select(Deployment.id).order_by(Deployment.id)))
    db.session.execute(insert(Subscription), [
        {"deployment_id": d, "plan_version_id": version.id, "starts_on": date(2026, 3, 1),
         "ends_on": None} for d in deployment_ids])
    db.session.execute(text(
        "INSERT INTO subscription_addons (subscription_id, addon_id, name, price_cents, "
        "resource_kind, qty) SELECT id, :a, :n, :p, :k, :q FROM subscriptions"),
        {"a": addon.id, "n": addon.name, "p": addon.price_cents, "k": addon.resource_kind,
         "q": addon.qty})
    db.session.commit()
    insert_invoice_history()

    conn = db.session.connection()
    before = schema_snapshot(conn)
    recreate = drop_bulk_keys(conn)
    db.session.commit()
    t0 = time.perf_counter()
    # A month of history, generated in the server, half the month on each of two connections.
    half = hours // 2
    run_parallel(url, [(EVENTS_LOAD, {"start": MONTH_START, "first": 0, "last": half - 1}),
                       (EVENTS_LOAD, {"start": MONTH_START, "first": half, "last": hours - 1})])
    print(f"  events loaded in {time.perf_counter() - t0:.0f} s", flush=True)
    for setting in LOAD_SETTINGS:
        db.session.execute(text(setting))
    db.session.execute(text("ANALYZE usage_events"))
    t0 = time.perf_counter()
    usage.rebuild_aggregates()  # the app's own GROUP BY of the raw events
    db.session.commit()
    print(f"  usage_daily in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    for setting in LOAD_SETTINGS:
        db.session.execute(text(setting))
    for statement in recreate:
        db.session.execute(text(statement))
    db.session.commit()
    print(f"  keys, indexes and foreign keys re-created in {time.perf_counter() - t0:.0f} s",
          flush=True)
    after = schema_snapshot(db.session.connection())
    assert after == before, sorted(set(before) ^ set(after))
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    db.session.remove()


def built_size(url: str, tenants: int, hours: int) -> bool:
    """Whether the database already holds the data ``build`` makes for this size (for
    ``--reuse``): the tenants, their deployments, the last hour's event, the aggregate, the
    history. Cheap lookups only, and no error when the database does not exist."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            counts = conn.execute(text(
                "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM deployments), "
                "(SELECT count(*) FROM invoices WHERE number LIKE 'BENCH-%'), "
                "(SELECT max(id) FROM deployments)")).one()
            if tuple(counts[:3]) != (tenants, 3 * tenants, HISTORY_INVOICES):
                return False
            last = f"{counts[3]}:llm_tokens:{hours - 1}"
            beyond = f"{counts[3]}:llm_tokens:{hours}"
            found = conn.execute(text(
                "SELECT (SELECT count(*) FROM usage_events WHERE event_id IN (:l, :b)), "
                "EXISTS (SELECT 1 FROM usage_daily WHERE deployment_id = :d AND day = :day)"),
                {"l": last, "b": beyond, "d": counts[3],
                 "day": (MONTH_START + timedelta(hours=hours - 1)).date()}).one()
            return tuple(found) == (1, True)
    except sa.exc.OperationalError:
        return False
    except sa.exc.ProgrammingError:  # no such table
        return False
    finally:
        engine.dispose()


class Events:
    """Fresh events (never seen ids) for the measured runs, spread over the month's
    deployments, as a metering agent sends them."""

    def __init__(self, deployment_ids: list[int]):
        self.deployment_ids = deployment_ids
        self.serial = 0
        self.run = f"run{time.time_ns():x}"  # a --reuse run must not replay an earlier run's ids

    def batch(self, size: int = BATCH) -> list[dict]:
        self.serial += 1
        deps = self.deployment_ids
        out = []
        for i in range(size):
            dep = deps[(self.serial * 7919 + i) % len(deps)]
            hour = (self.serial + i) % HOURS
            kind = KINDS[i % 3]
            qty = 1 if kind == "droplet_hours" else (1000 + i if kind == "llm_tokens"
                                                    else float(f"{100 + i % 80}.5"))
            out.append({"event_id": f"{self.run}-{self.serial}-{i}", "deployment_id": dep,
                        "resource_kind": kind, "quantity": qty,
                        "occurred_at": (MONTH_START + timedelta(hours=hour))
                        .strftime("%Y-%m-%dT%H:%M:%SZ")})
        return out

    def bodies(self, n: int) -> list[bytes]:
        return [json.dumps({"events": self.batch()}).encode() for _ in range(n)]


# --- the limit: COPY → staging → INSERT … ON CONFLICT, no Python validation or ORM -------------

LIMIT_STAGING = ("CREATE TEMP TABLE IF NOT EXISTS s (event_id text, deployment_id bigint, "
                 "resource_kind text, quantity numeric, occurred_at timestamptz) "
                 "ON COMMIT DELETE ROWS")
LIMIT_INSERT = ("INSERT INTO usage_events (event_id, deployment_id, resource_kind, quantity, "
                "occurred_at, received_at) SELECT event_id, deployment_id, resource_kind, "
                "quantity, occurred_at, now() FROM s ON CONFLICT (event_id) DO NOTHING")


def copy_limit(url: str, batches: list[list[tuple]], cpu: list | None = None) -> int:
    """Every batch: COPY its rows into a temporary table and INSERT … SELECT … ON CONFLICT,
    one commit a batch, on one connection. The rows are ready tuples: the pure database path.
    With ``cpu``, appends the CPU seconds this spent: the thread's and its server backend's."""
    n = 0
    with psycopg.connect(libpq_url(url)) as conn:
        backend = conn.info.backend_pid
        before = time.thread_time(), backend_cpu([backend])
        for rows in batches:
            with conn.cursor() as cur:
                cur.execute(LIMIT_STAGING)
                with cur.copy("COPY s FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute(LIMIT_INSERT)
                n += cur.rowcount
            conn.commit()
        if cpu is not None:
            cpu.append(time.thread_time() - before[0] + backend_cpu([backend]) - before[1])
    return n


def backend_cpu(pids) -> float:
    """CPU seconds (user + system) that these processes (PostgreSQL backends or gunicorn
    workers, all on this machine) have used so far; a process gone since counts 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def as_rows(batch: list[dict]) -> list[tuple]:
    return [(e["event_id"], e["deployment_id"], e["resource_kind"], Decimal(str(e["quantity"])),
             e["occurred_at"]) for e in batch]


def limit_rate(bench, batches: int, connections: int, cpu: list | None = None) -> float:
    """Events/s of ``copy_limit`` on ``connections`` connections at once; with ``cpu``,
    appends the CPU seconds per 1,000 events (threads and backends) it took."""
    work = [[as_rows(bench.events.batch()) for _ in range(batches)] for _ in range(connections)]
    counts = [0] * connections
    spent: list[float] = []

    def run(i):
        counts[i] = copy_limit(bench.url, work[i], spent)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    assert sum(counts) == batches * connections * BATCH, counts
    if cpu is not None:
        cpu.append(sum(spent) / sum(counts) * BATCH)
    return sum(counts) / seconds


def interleaved(repeat: int, measure, limit) -> tuple[list[float], list[float]]:
    """``repeat`` runs of each, alternating (value, limit, limit, value, …), so that a load
    that comes and goes on a shared machine weighs on both alike."""
    values, limits = [], []
    for i in range(repeat):
        if i % 2 == 0:
            values.append(measure())
            limits.append(limit())
        else:
            limits.append(limit())
            values.append(measure())
    return values, limits


# --- gunicorn ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, workers: int):
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-secret", "TZ": "UTC"}
        env.pop("REDIS_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
             "--log-level", "warning", "portal:create_app()"],
            cwd=ROOT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.request("GET", "/api/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# --- the measurements --------------------------------------------------------------------------


class Bench:
    def __init__(self, app, url: str, token: str, deployment_ids: list[int], args):
        self.app, self.url, self.token, self.args = app, url, token, args
        self.events = Events(deployment_ids)
        self.tenants = args.tenants
        self.server: Server | None = None

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}


def median_of(repeat: int, run) -> tuple[float, list[float]]:
    values = [run() for _ in range(repeat)]
    return statistics.median(values), values


def ingest_inprocess(bench: Bench) -> dict:
    """``usage.ingest`` as the API view calls it, on the body's JSON parsed as the app parses
    it (numbers with a fraction as Decimal), one batch and one commit at a time. Runs
    alternate with the limit's. Besides events/s, the CPU per 1,000 events (this thread and
    its PostgreSQL backend) against the limit's, which a shared machine's load does not move."""
    from portal.services import usage

    n = bench.args.batches
    cpu, limit_cpu = [], []

    def run() -> float:
        bodies = bench.events.bodies(n)
        with bench.app.app_context():
            backend = db.session.scalar(text("SELECT pg_backend_pid()"))
            db.session.commit()
            before = time.thread_time(), backend_cpu([backend])
            t0 = time.perf_counter()
            for body in bodies:
                result = usage.ingest(bench.app.json.loads(body))
                assert result == {"accepted": BATCH, "duplicates": 0}, result
            seconds = time.perf_counter() - t0
            cpu.append((time.thread_time() - before[0] + backend_cpu([backend]) - before[1]) / n)
            db.session.remove()
        return n * BATCH / seconds

    runs, limit_runs = interleaved(bench.args.repeat, run,
                                   lambda: limit_rate(bench, n, 1, limit_cpu))
    return {"unit": "events/s", "value": statistics.median(runs),
            "limit": statistics.median(limit_runs), "goal": 0.60,
            "runs": runs, "limit_runs": limit_runs,
            "limit_is": "COPY → staging → INSERT … ON CONFLICT, 1 connection",
            **cpu_figures(cpu, limit_cpu)}


def cpu_figures(cpu: list[float], limit_cpu: list[float]) -> dict:
    value, limit = statistics.median(cpu), statistics.median(limit_cpu)
    print(f"  CPU per 1,000 events: {value * 1000:.1f} ms (runs "
          f"{' / '.join(f'{c * 1000:.1f}' for c in cpu)}), limit {limit * 1000:.1f} ms (runs "
          f"{' / '.join(f'{c * 1000:.1f}' for c in limit_cpu)}): ratio {limit / value:.2f}",
          flush=True)
    return {"cpu_ms_per_1000": value * 1000, "limit_cpu_ms_per_1000": limit * 1000,
            "cpu_runs": cpu, "limit_cpu_runs": limit_cpu, "cpu_ratio": limit / value}


def ingest_http(bench: Bench) -> dict:
    """POST /api/v1/usage through gunicorn from 4 client threads at once, runs alternating
    with the limit's. Each client keeps one ``http.client`` connection (it reconnects when a
    sync worker closes it) and sends bodies built before the clock starts; every worker and
    its database connection are warmed first. Besides events/s, the CPU per 1,000 events of
    the server side (the gunicorn workers and their PostgreSQL backends; not the clients,
    which only stand in for metering agents) against the limit's (its threads and backends)."""
    clients, n = 4, bench.args.batches
    cpu, limit_cpu = [], []

    def post_all(mine: list[bytes], errors: list) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", bench.server.port, timeout=60)
        try:
            for body in mine:
                conn.request("POST", "/api/v1/usage", body=body, headers=bench.auth)
                response = conn.getresponse()
                answer = response.read()
                if response.status != 200 or json.loads(answer) != ACCEPTED_ALL:
                    errors.append((response.status, answer[:200]))
        finally:
            conn.close()

    def concurrently(bodies: list[list[bytes]]) -> float:
        errors: list = []
        threads = [threading.Thread(target=post_all, args=(b, errors)) for b in bodies]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        assert not errors, errors[:3]
        return seconds

    def server_pids() -> list[int]:
        workers = [int(p) for p in subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(bench.server.proc.pid)],
            capture_output=True, text=True).stdout.split()]
        with psycopg.connect(libpq_url(bench.url)) as conn:
            backends = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")]
        return workers + backends

    concurrently([bench.events.bodies(2) for _ in range(clients)])  # warm workers and pools

    def run() -> float:
        bodies = [bench.events.bodies(n) for _ in range(clients)]
        pids = server_pids()
        before = backend_cpu(pids)
        seconds = concurrently(bodies)
        cpu.append((backend_cpu(pids) - before) / (clients * n))
        return clients * n * BATCH / seconds

    runs, limit_runs = interleaved(bench.args.repeat, run,
                                   lambda: limit_rate(bench, n, clients, limit_cpu))
    return {"unit": "events/s", "value": statistics.median(runs),
            "limit": statistics.median(limit_runs), "goal": 0.50,
            "runs": runs, "limit_runs": limit_runs,
            "limit_is": "COPY → staging → INSERT … ON CONFLICT, 4 connections",
            **cpu_figures(cpu, limit_cpu)}


ACCEPTED_ALL = {"accepted": BATCH, "duplicates": 0}


def quote_http(bench: Bench) -> dict:
    """p50 of POST /api/v1/quote (the contract's example) vs p50 of GET /api/health, one
    request at a time, each on a new connection (gunicorn's sync workers close them)."""
    quote = json.dumps({"plan_code": "studio", "addons": ["storage_50gb"],
                        "starts_on": "2026-05-20",
                        "projected_usage": {"droplet_hours": 1488, "llm_tokens": 1500000,
                                            "spaces_gb": 200}}).encode()
    n = bench.args.requests

    def p50(method, path, body=None, headers=None) -> float:
        for _ in range(20):  # warm every worker
            bench.server.request(method, path, body, headers)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            status, answer = bench.server.request(method, path, body, headers)
            times.append((time.perf_counter() - t0) * 1000)
            assert status == 200, (status, answer[:200])
        return statistics.median(times)

    status, answer = bench.server.request("POST", "/api/v1/quote", quote, bench.auth)
    assert status == 200 and json.loads(answer)["all_in_monthly_cents"] == 6350, answer
    value, runs = median_of(bench.args.repeat,
                            lambda: p50("POST", "/api/v1/quote", quote, bench.auth))
    limit, limit_runs = median_of(bench.args.repeat, lambda: p50("GET", "/api/health"))
    return {"unit": "ms p50", "value": value, "limit": limit, "goal": 2.5,
            "runs": runs, "limit_runs": limit_runs, "limit_is": "GET /api/health p50",
            "lower_is_better": True}


def invoices_deep_http(bench: Bench) -> dict:
    """p95 of ``GET /api/v1/invoices`` 95,000 rows deep by cursor vs p95 of its first page, at
    100,000 invoices (the tenants' months back from 2025, one INSERT … SELECT, not timed)."""
    total, per_page = HISTORY_INVOICES, 50
    with bench.app.app_context():
        if not db.session.scalar(text("SELECT count(*) FROM invoices")):  # an older database
            insert_invoice_history(total)
            db.session.execute(text("ANALYZE invoices"))
            db.session.commit()
        deep = db.session.execute(text(
            "SELECT period_start, id FROM invoices ORDER BY period_start DESC, id DESC "
            "OFFSET :depth LIMIT 1"), {"depth": total - 5_000 - 1}).one()
        db.session.remove()
    headers = {"Authorization": f"Bearer {bench.token}"}
    n = bench.args.requests

    def p95(path: str) -> float:
        for _ in range(20):
            bench.server.request("GET", path, None, headers)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            status, answer = bench.server.request("GET", path, None, headers)
            times.append((time.perf_counter() - t0) * 1000)
            assert status == 200, (status, answer[:200])
        return statistics.quantiles(times, n=20)[-1]

    first = f"/api/v1/invoices?per_page={per_page}"
    deep_path = f"{first}&cursor=o.{deep.period_start.isoformat()}.{deep.id}"
    value, runs = median_of(bench.args.repeat, lambda: p95(deep_path))
    limit, limit_runs = median_of(bench.args.repeat, lambda: p95(first))
    return {"unit": "ms p95", "value": value, "limit": limit, "goal": 1.5, "runs": runs,
            "limit_runs": limit_runs, "limit_is": "the first page's p95", "lower_is_better": True}


PDF_INVOICES = 100  # draft invoices per pdf_worker run, on a database of its own


def pdf_worker(bench: Bench) -> dict:
    """Per invoice PDF through a real worker process (``worker.py --burst``: the rollup's
    ``render_pdfs`` batches on the documents queue) vs a bare one-page WeasyPrint render in this
    process, each run's floor taken just before it. The figure is CPU per PDF (the worker's
    CPU beyond an idle worker's start-up): on a shared machine wall-clock floors move severalfold
    within a minute. Wall-clock figures are kept beside it. Builds its own database (the bench's
    name + ``_pdfs``, dropped and recreated: PDF_INVOICES tenants rolled up into drafts, by
    pdf_bench) and uses the bench-pdf-* queues on REDIS_URL (or db 0)."""
    import pdf_bench

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    target = sa.engine.make_url(bench.url)
    url = target.set(database=f"{target.database}_pdfs").render_as_string(hide_password=False)
    app, ids = pdf_bench.prepare(url, PDF_INVOICES)
    runs, floors, wall_floors = [], [], []
    with app.app_context():
        for _ in range(bench.args.repeat):
            floors.append(1000 * statistics.median(pdf_bench.floor(20, time.process_time)))
            wall_floors.append(1000 * statistics.median(pdf_bench.floor(20)))
            runs.append(pdf_bench.run_mode(app, "after", ids, redis_url, 20))
        db.session.remove()
        db.engine.dispose()
    return {"unit": "CPU ms per PDF", "value": statistics.median(r["cpu_ms_per_pdf"] for r in runs),
            "limit": statistics.median(floors), "goal": 1.5, "lower_is_better": True,
            "runs": [r["cpu_ms_per_pdf"] for r in runs], "limit_runs": floors,
            "wall_ms_per_pdf": [r["ms_per_pdf"] for r in runs], "wall_floor_ms": wall_floors,
            "pdfs": len(ids),
            "limit_is": "a bare one-page WeasyPrint render (25 paragraphs), CPU ms, warmed"}


ROLLUP_PERIOD = (date(2026, 4, 1), date(2026, 5, 1))
BARE_GROUP_BY = """
    SELECT deployment_id, resource_kind, sum(quantity), max(quantity), count(*)
    FROM usage_events WHERE occurred_at >= :start AND occurred_at < :end
    GROUP BY deployment_id, resource_kind
"""


def reset_rollup_month() -> None:
    """The state every rollup repetition starts from: no invoice for the month (its drafts
    deleted, lines with them), the invoice history of earlier months in place, vacuumed."""
    start, _ = ROLLUP_PERIOD
    live = db.session.scalar(text(
        "SELECT count(*) FROM invoices WHERE period_start = :s AND status <> 'draft'"),
        {"s": start})
    assert live == 0, f"{live} issued invoices in the bench month: rebuild the database"
    db.session.execute(text("DELETE FROM invoices WHERE period_start = :s AND status = 'draft'"),
                       {"s": start})
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE invoices, invoice_lines"))


def rollup(bench: Bench) -> dict:
    """``roll_up_period`` for April 2026, from call to return, each run from no invoice for the
    month (drafts deleted between runs, 100,000 invoices of earlier months in place), vs the
    bare GROUP BY of that month's raw events (every deployment and kind's sum, peak, count)."""
    from portal.services.rollup import roll_up_period

    start, end = ROLLUP_PERIOD

    def run() -> float:
        with bench.app.app_context():
            reset_rollup_month()
            t0 = time.perf_counter()
            result = roll_up_period(start, end)
            seconds = time.perf_counter() - t0
            assert result.created == bench.tenants and not result.messages, result.as_dict()
            db.session.remove()
        return seconds

    def bare() -> float:
        with bench.app.app_context():
            t0 = time.perf_counter()
            rows = db.session.execute(text(BARE_GROUP_BY), {"start": MONTH_START,
                                                            "end": MONTH_START.replace(month=5)}).all()
            seconds = time.perf_counter() - t0
            assert len(rows) == 3 * len(bench.events.deployment_ids), len(rows)
            db.session.remove()
        return seconds

    value, runs = median_of(bench.args.repeat, run)
    limit, limit_runs = median_of(bench.args.repeat, bare)
    return {"unit": "s", "value": value, "limit": limit, "goal": 1.0, "max_value": 10.0,
            "runs": runs, "limit_runs": limit_runs, "lower_is_better": True,
            "limit_is": "the bare GROUP BY of the month's raw usage_events"}


class CapturedSql:
    """The SQL statements (with their parameters) one request runs, as the driver got them."""

    def __init__(self):
        self.statements: list[tuple[str, object]] = []

    def __enter__(self):
        sa.event.listen(db.engine, "before_cursor_execute", self.record)
        return self

    def __exit__(self, *exc):
        sa.event.remove(db.engine, "before_cursor_execute", self.record)

    def record(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append((statement, parameters))


def invoice_list_page(bench: Bench) -> dict:
    """p95 of the admin invoice list page's HTMX fragment (``/invoices/?per_page=50``, signed
    in, through Flask's test client: auth, SQL and rendering), at its first page and 95,000
    rows deep by cursor, vs the p95 of that page's own SQL: every statement the request ran,
    replayed with its parameters on one connection and fetched."""
    per_page, n = 50, bench.args.requests
    client = bench.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                         "csrf_token": csrf})
    assert answer.status_code in (302, 303), answer.status_code
    with bench.app.app_context():
        total = db.session.scalar(text("SELECT count(*) FROM invoices"))
        deep = db.session.execute(text(
            "SELECT period_start, id FROM invoices ORDER BY period_start DESC, id DESC "
            "OFFSET :depth LIMIT 1"), {"depth": min(95_000, total - per_page)}).one()
        db.session.remove()
    htmx = {"HX-Request": "true"}
    first = f"/invoices/?per_page={per_page}"
    deep_path = f"{first}&cursor=o.{deep.period_start.isoformat()}.{deep.id}"

    def get(path: str):
        answer = client.get(path, headers=htmx)
        assert answer.status_code == 200, (path, answer.status_code)
        body = answer.get_data(as_text=True)
        assert body.count("<tr") >= per_page, body[:300]
        return body

    p50s = {}

    def page_p95(path: str) -> float:
        for _ in range(5):
            get(path)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            get(path)
            times.append((time.perf_counter() - t0) * 1000)
        p50s.setdefault(path, []).append(statistics.median(times))
        return statistics.quantiles(times, n=20)[-1]

    def sql_p95(path: str) -> float:
        with bench.app.app_context():
            with CapturedSql() as captured:
                get(path)
            statements = [(s, p) for s, p in captured.statements
                          if s.lstrip().upper().startswith(("SELECT", "WITH"))]
            assert statements, captured.statements
            times = []
            with db.engine.connect() as conn:
                for i in range(n + 5):
                    t0 = time.perf_counter()
                    for statement, params in statements:
                        conn.exec_driver_sql(statement, params).all()
                    if i >= 5:
                        times.append((time.perf_counter() - t0) * 1000)
                conn.rollback()
            db.session.remove()
        return statistics.quantiles(times, n=20)[-1]

    cases = {"first": first, "deep": deep_path}
    pages = {name: median_of(bench.args.repeat, lambda p=path: page_p95(p))
             for name, path in cases.items()}
    sqls = {name: median_of(bench.args.repeat, lambda p=path: sql_p95(p))
            for name, path in cases.items()}
    worst = max(pages, key=lambda name: pages[name][0])
    return {"unit": "ms p95", "value": pages[worst][0], "limit": sqls[worst][0],
            "goal": None, "max_value": 30.0, "lower_is_better": True,
            "case": worst, "runs": pages[worst][1], "limit_runs": sqls[worst][1],
            "pages": {name: {"p95": v, "runs": r, "p50_runs": p50s[cases[name]]}
                      for name, (v, r) in pages.items()},
            "sql": {name: {"p95": v, "runs": r} for name, (v, r) in sqls.items()},
            "limit_is": f"the page's own SQL replayed (the slower page: {worst})"}


# Another measurement (the rollup, a list page) is one more entry: a function of the Bench
# returning {unit, value, limit, goal, ...}; "lower_is_better" where a time is measured.
MEASUREMENTS = {
    "ingest_inprocess": ingest_inprocess,
    "ingest_http": ingest_http,
    "quote_http": quote_http,
    "invoices_deep_http": invoices_deep_http,
    "pdf_worker": pdf_worker,
    "rollup": rollup,
    "invoice_list_page": invoice_list_page,
}
NEEDS_SERVER = {"ingest_http", "quote_http", "invoices_deep_http"}


def verdict(m: dict) -> tuple[float, bool]:
    """The ratio to the limit against its goal, and an absolute ceiling where the issue
    sets one too (``max_value``: the rollup under 10 s, the list page under 30 ms)."""
    ratio = m["value"] / m["limit"]
    if m.get("lower_is_better"):
        within = m["value"] <= m.get("max_value", m["value"])
        return ratio, within and (m["goal"] is None or ratio <= m["goal"])
    return ratio, ratio >= m["goal"]


def goal_text(m: dict) -> str:
    op = "≤" if m.get("lower_is_better") else "≥"
    parts = [] if m["goal"] is None else [f"{op}{m['goal']:.2f}"]
    if "max_value" in m:
        parts.append(f"<{m['max_value']:g} {m['unit'].split()[0]}")
    return " & ".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10_000, help="tenants, 3 deployments each")
    parser.add_argument("--hours", type=int, default=HOURS, help="hours of April with usage (720)")
    parser.add_argument("--batches", type=int, default=20,
                        help="batches of 1,000 events per ingest run (per client over HTTP)")
    parser.add_argument("--requests", type=int, default=300, help="requests per p50 run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--only", action="append", choices=sorted(MEASUREMENTS),
                        help="run only these measurements")
    parser.add_argument("--database-url", default=DEFAULT_URL,
                        help="a database the bench drops and recreates, unless --reuse finds "
                        "it built (%(default)s)")
    parser.add_argument("--reuse", action="store_true",
                        help="skip the build when the database already holds data of this size")
    parser.add_argument("--build-only", action="store_true", help="build, measure nothing")
    parser.add_argument("--json", default=os.path.join(ROOT, "bench", "results.json"),
                        help="where to write the figures (%(default)s)")
    args = parser.parse_args(argv)
    os.environ["TZ"] = "UTC"
    time.tzset()

    disk = shutil.disk_usage("/")
    reuse = args.reuse and built_size(args.database_url, args.tenants, args.hours)
    if not reuse:
        recreate_database(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "REDIS_URL": None,
                      "SECRET_KEY": "bench-secret"})
    t0 = time.perf_counter()
    with app.app_context():
        if not reuse:
            build(args.database_url, args.tenants, args.hours)
        else:  # built by an earlier checkout: bring its schema to this code's migrations
            flask_migrate.upgrade()
        from portal.services import accounts
        token = accounts.create_token(ADMIN_EMAIL)
        deployment_ids = list(db.session.scalars(text("SELECT id FROM deployments ORDER BY id")))
        events = db.session.scalar(text(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'usage_events'"))
        version = db.session.scalar(text("SHOW server_version"))
        size = db.session.scalar(text(
            "SELECT pg_size_pretty(pg_total_relation_size('usage_events'))"))
        db.session.commit()
        db.session.remove()
    built = time.perf_counter() - t0
    print(f"data: {args.tenants:,} tenants, {len(deployment_ids):,} deployments, "
          f"{expected_events(len(deployment_ids), args.hours):,} events built (~{events:,} now; "
          f"{args.hours} hours; usage_events {size}), "
          + ("reused" if reuse else f"built in {built:.0f} s")
          + f"; disk free before {disk.free / 2**30:.0f} GB", flush=True)
    if args.build_only:
        return 0

    bench = Bench(app, args.database_url, token, deployment_ids, args)
    chosen = args.only or list(MEASUREMENTS)
    results = {}
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "postgresql": version,
                    "load_average_at_start": os.getloadavg()},
        "data": {"tenants": args.tenants, "deployments": len(deployment_ids),
                 "hours": args.hours, "events_built": expected_events(len(deployment_ids), args.hours),
                 "usage_events_size": size, "reused": reuse,
                 "build_seconds": None if reuse else round(built)},
        "settings": {"batch": BATCH, "batches": args.batches, "requests": args.requests,
                     "repeat": args.repeat},
        "results": results,
    }
    header = f"{'measurement':<18} {'value':>14} {'limit':>14} {'ratio':>7} {'goal':>16}  ok"
    lines = []
    try:
        if NEEDS_SERVER & set(chosen):
            bench.server = Server(args.database_url, workers=4)
        for name in chosen:
            print(f"measuring {name} …", flush=True)
            m = results[name] = MEASUREMENTS[name](bench)
            ratio, ok = verdict(m)
            m["ratio"], m["ok"] = ratio, ok
            m["load_average_after"] = os.getloadavg()
            lines.append(f"{name:<18} {m['value']:>14,.1f} {m['limit']:>14,.1f} {ratio:>7.2f} "
                         f"{goal_text(m):>16}  {'yes' if ok else 'NO'}   "
                         f"({m['unit']}; limit: {m['limit_is']})")
            print(lines[-1], flush=True)
            with open(args.json, "w") as f:  # after every figure: a long run keeps what it has
                json.dump(report, f, indent=2)
    finally:
        if bench.server:
            bench.server.stop()

    print()
    print(header)
    print("\n".join(lines))
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
