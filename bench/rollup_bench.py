"""Benchmark: a realistic month of metered usage on PostgreSQL, then the month-end rollup and
invoice PDFs. Not part of the test suite; it prints figures.

    python bench/rollup_bench.py                         # 1,000 tenants, 720 hours (~1.56 M events)
    python bench/rollup_bench.py --tenants 20 --hours 48 # smoke run, seconds

What it measures (see bench/README.md):
  1. ingest throughput through ``POST /api/v1/usage`` (Flask test client, 1,000 events a batch);
  2. ``roll_up_period`` for April 2026: first run (creates), re-run (skips), ``force=True``
     (rebuilds drafts);
  3. ``render_and_store`` per invoice PDF.

Each phase is checked for correctness on the way: the figures mean nothing if the result is
wrong.
"""
import argparse
import json
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import flask_migrate  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import delete, func, insert, select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/arcadia_bench"
PERIOD_START, PERIOD_END = date(2026, 4, 1), date(2026, 5, 1)
MONTH_START = datetime(2026, 4, 1, tzinfo=timezone.utc)
SUBSCRIPTION_START = date(2026, 3, 1)
BATCH = 1000
SPACES_EVERY = 6  # hours between spaces_gb gauge readings
ADMIN_EMAIL = "bench@example.com"

# The studio v1 contract and the storage_50gb addon, as the bench expects them (checked
# against the seeded catalog before anything is measured).
PLAN_BASE_CENTS = 5000
ADDON_CENTS = 750
DROPLET_INCLUDED, DROPLET_CENTS = 1488, 1  # per hour
TOKENS_INCLUDED, TOKENS_CENTS_PER_1K = 1_000_000, 1
SPACES_ALLOWANCE, SPACES_CENTS = 100 + 50, 2  # plan 100 GB + addon 50 GB, per GB
TAX_RATE = Decimal("0.10")


# --- the generated month -------------------------------------------------------------------
# Deterministic functions of (deployment id, hour): the ingest sends them, and the expected
# invoice is computed from the very same numbers.

DROPLETS = 3


def llm_tokens(dep: int, hour: int) -> int:
    """1,000 to 3,000 tokens an hour, varying by deployment and hour."""
    return 1000 + (dep * 7919 + hour * 104_729 + (dep * hour) % 613) % 2001


def spaces_gb(dep: int, reading: int) -> Decimal:
    """A storage gauge in tenths of a GB that grows through the month with some jitter; it
    starts between 100 and 179.9 GB, so some tenants stay within the allowance, most don't."""
    tenths = 1000 + (dep * 37) % 800 + reading * 3 + (dep + reading * 11) % 17
    return Decimal(tenths) / 10


def event_stream(deployment_ids: list[int], hours: int):
    """Every event of the month in time order, as a metering agent would send them."""
    for hour in range(hours):
        at = (MONTH_START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
        gauge = hour % SPACES_EVERY == 0
        for dep in deployment_ids:
            yield {"event_id": f"{dep}:droplet_hours:{hour}", "deployment_id": dep,
                   "resource_kind": "droplet_hours", "quantity": DROPLETS, "occurred_at": at}
            yield {"event_id": f"{dep}:llm_tokens:{hour}", "deployment_id": dep,
                   "resource_kind": "llm_tokens", "quantity": llm_tokens(dep, hour),
                   "occurred_at": at}
            if gauge:
                # tenths as a JSON number (e.g. 140.3); the API parses it as Decimal("140.3")
                yield {"event_id": f"{dep}:spaces_gb:{hour}", "deployment_id": dep,
                       "resource_kind": "spaces_gb",
                       "quantity": float(spaces_gb(dep, hour // SPACES_EVERY)),
                       "occurred_at": at}


def events_per_deployment(hours: int) -> int:
    return 2 * hours + len(range(0, hours, SPACES_EVERY))


def batches(deployment_ids: list[int], hours: int):
    batch = []
    for event in event_stream(deployment_ids, hours):
        batch.append(event)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def expected_invoice(dep: int, hours: int) -> dict:
    """The contract's arithmetic on the generated numbers, in Decimal, rounded half-up per line."""
    droplet_hours = Decimal(DROPLETS * hours)
    tokens = Decimal(sum(llm_tokens(dep, h) for h in range(hours)))
    peak = max(spaces_gb(dep, h // SPACES_EVERY) for h in range(0, hours, SPACES_EVERY))
    droplet_over = half_up(max(Decimal(0), droplet_hours - DROPLET_INCLUDED) * DROPLET_CENTS)
    tokens_over = half_up(max(Decimal(0), tokens - TOKENS_INCLUDED) / 1000 * TOKENS_CENTS_PER_1K)
    spaces_over = half_up(max(Decimal(0), peak - SPACES_ALLOWANCE) * SPACES_CENTS)
    subtotal = PLAN_BASE_CENTS + ADDON_CENTS + droplet_over + tokens_over + spaces_over
    tax = half_up(Decimal(subtotal) * TAX_RATE)
    return {"droplet_hours": droplet_hours, "llm_tokens": tokens, "spaces_gb": peak,
            "droplet_over": droplet_over, "tokens_over": tokens_over,
            "spaces_over": spaces_over, "subtotal": subtotal, "tax": tax,
            "total": subtotal + tax}


# --- setup (not measured) ----------------------------------------------------------------------


def recreate_database(url: str) -> None:
    """As tests/conftest.py does: drop (forcing connections off) and create."""
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def check_catalog(version, addon) -> None:
    """The expected invoice hard-codes the seeded studio v1 terms: make sure they hold."""
    items = {i.resource_kind: (i.included_qty, i.overage_price_cents, i.overage_unit,
                               i.hard_cap_qty) for i in version.items}
    assert version.base_price_cents == PLAN_BASE_CENTS, version.base_price_cents
    assert items == {"droplet_hours": (DROPLET_INCLUDED, DROPLET_CENTS, "hour", None),
                     "llm_tokens": (TOKENS_INCLUDED, TOKENS_CENTS_PER_1K, "1k_tokens", None),
                     "spaces_gb": (100, SPACES_CENTS, "gb", None)}, items
    assert (addon.price_cents, addon.resource_kind, addon.qty) == (ADDON_CENTS, "spaces_gb", 50)


def setup(tenants: int) -> tuple[str, list[int], dict[int, int]]:
    """Schema, catalog, an admin with a token, and tenants → one active deployment each with
    a studio subscription and the storage_50gb addon, written in bulk. Returns the token,
    the deployment ids and deployment id → tenant id. Runs in an app context."""
    from portal.models import (Addon, Deployment, Plan, PlanVersion, Subscription,
                               SubscriptionAddon, Tenant)
    from portal.services import accounts, catalog

    flask_migrate.upgrade()
    catalog.seed_catalog()
    accounts.create_user(ADMIN_EMAIL, "platform_admin", "bench-password")
    token = accounts.create_token(ADMIN_EMAIL)

    version = db.session.scalar(
        select(PlanVersion).join(Plan).where(Plan.code == "studio", PlanVersion.version == 1))
    addon = db.session.scalar(select(Addon).where(Addon.code == "storage_50gb"))
    check_catalog(version, addon)

    db.session.execute(insert(Tenant), [
        {"slug": f"bench-{i:05d}", "name": f"Bench Tenant {i}",
         "billing_name": f"Bench Tenant {i} Pty Ltd",
         "billing_address": f"{i} Bench Street\nSydney NSW 2000\nAustralia",
         "abn": None} for i in range(1, tenants + 1)])
    tenant_ids = list(db.session.scalars(
        select(Tenant.id).where(Tenant.slug.like("bench-%")).order_by(Tenant.slug)))
    db.session.execute(insert(Deployment), [
        {"tenant_id": t, "name": "inference", "region": "syd1", "status": "active"}
        for t in tenant_ids])
    deployments = dict(db.session.execute(
        select(Deployment.id, Deployment.tenant_id).order_by(Deployment.id)).all())
    db.session.execute(insert(Subscription), [
        {"deployment_id": d, "plan_version_id": version.id, "starts_on": SUBSCRIPTION_START,
         "ends_on": None} for d in deployments])
    subscription_ids = list(db.session.scalars(select(Subscription.id).order_by(Subscription.id)))
    db.session.execute(insert(SubscriptionAddon), [
        {"subscription_id": s, "addon_id": addon.id, "name": addon.name,
         "price_cents": addon.price_cents, "resource_kind": addon.resource_kind,
         "qty": addon.qty} for s in subscription_ids])
    db.session.commit()
    assert len(deployments) == tenants == len(subscription_ids)
    db.session.remove()
    return token, list(deployments), deployments


# --- the phases ----------------------------------------------------------------------------------


def run_ingest(app, token: str, deployment_ids: list[int], hours: int) -> dict:
    """POST every batch through the test client. No app context is pushed around it, so each
    request gets its own context and session, as on a real server. Only the client.post
    calls are timed (building and serialising the batch is the sender's cost, not ours)."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    total_events = len(deployment_ids) * events_per_deployment(hours)
    n_batches = -(-total_events // BATCH)
    accepted = duplicates = sent = done = 0
    in_app = 0.0
    latencies = []
    wall_start = time.perf_counter()
    report_every = max(1, n_batches // 20)
    for batch in batches(deployment_ids, hours):
        body = json.dumps({"events": batch}).encode()
        t0 = time.perf_counter()
        response = client.post("/api/v1/usage", data=body, headers=headers,
                               content_type="application/json")
        elapsed = time.perf_counter() - t0
        assert response.status_code == 200, (response.status_code, response.get_data(as_text=True))
        result = response.get_json()
        in_app += elapsed
        latencies.append(elapsed)
        accepted += result["accepted"]
        duplicates += result["duplicates"]
        sent += len(batch)
        done += 1
        if done % report_every == 0 or done == n_batches:
            print(f"  ingest {done:,}/{n_batches:,} batches, {sent:,} events, "
                  f"{sent / in_app:,.0f} events/s so far", flush=True)
    wall = time.perf_counter() - wall_start
    assert sent == total_events, (sent, total_events)
    assert accepted == total_events and duplicates == 0, (accepted, duplicates, total_events)
    return {"events": sent, "accepted": accepted, "batches": done, "seconds": in_app,
            "wall": wall, "latencies": latencies}


def replay_check(app, token: str, deployment_ids: list[int], hours: int) -> None:
    """Idempotency spot check: the first batch again is all duplicates."""
    first = next(batches(deployment_ids, hours))
    response = app.test_client().post(
        "/api/v1/usage", data=json.dumps({"events": first}).encode(),
        headers={"Authorization": f"Bearer {token}"}, content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"accepted": 0, "duplicates": len(first)}, response.get_json()


def timed_rollup(force: bool = False):
    from portal.services.rollup import roll_up_period

    t0 = time.perf_counter()
    result = roll_up_period(PERIOD_START, PERIOD_END, force=force)
    seconds = time.perf_counter() - t0
    db.session.remove()
    return result, seconds


def check_invoices(dep_to_tenant: dict[int, int], hours: int, sample_dep: int) -> tuple[int, dict]:
    """Every tenant's invoice totals against the expected arithmetic, and one tenant's lines."""
    from portal.models import Invoice, InvoiceLine

    rows = db.session.execute(
        select(Invoice.tenant_id, Invoice.subtotal_cents, Invoice.tax_cents, Invoice.total_cents,
               Invoice.status)
        .where(Invoice.period_start == PERIOD_START)).all()
    by_tenant = {r.tenant_id: r for r in rows}
    assert len(rows) == len(by_tenant) == len(dep_to_tenant), (len(rows), len(dep_to_tenant))
    wrong = []
    for dep, tenant in dep_to_tenant.items():
        want = expected_invoice(dep, hours)
        got = by_tenant[tenant]
        if (got.subtotal_cents, got.tax_cents, got.total_cents, got.status) != (
                want["subtotal"], want["tax"], want["total"], "draft"):
            wrong.append((tenant, tuple(got), want))
    assert not wrong, f"{len(wrong)} invoices differ from the expected arithmetic: {wrong[:3]}"

    # One tenant in detail: the overage lines' quantities and amounts.
    want = expected_invoice(sample_dep, hours)
    invoice = db.session.scalar(select(Invoice).where(
        Invoice.tenant_id == dep_to_tenant[sample_dep], Invoice.period_start == PERIOD_START))
    lines = {(line.kind, line.resource_kind): line for line in db.session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))}
    assert lines[("plan_base", None)].amount_cents == PLAN_BASE_CENTS
    assert lines[("addon", "spaces_gb")].amount_cents == ADDON_CENTS
    assert lines[("tax", None)].amount_cents == want["tax"]
    for kind, key in (("droplet_hours", "droplet_over"), ("llm_tokens", "tokens_over"),
                      ("spaces_gb", "spaces_over")):
        line = lines.get(("overage", kind))
        assert (line.amount_cents if line else 0) == want[key], (kind, line, want)
    db.session.remove()
    return invoice.id, want


def render_pdfs(invoice_ids: list[int], n: int) -> list[float]:
    """One warm-up (imports WeasyPrint, loads fonts), then n timed renders. A stored, current
    document would be returned without rendering, so each one is deleted (untimed) first."""
    from portal.models import InvoiceDocument
    from portal.services.documents import render_and_store

    def render(invoice_id: int) -> float:
        db.session.execute(delete(InvoiceDocument).where(InvoiceDocument.invoice_id == invoice_id))
        db.session.commit()
        db.session.remove()
        t0 = time.perf_counter()
        doc = render_and_store(invoice_id)
        seconds = time.perf_counter() - t0
        assert doc.content.startswith(b"%PDF"), doc.content[:8]
        db.session.remove()
        return seconds

    render(invoice_ids[-1])  # warm-up
    return [render(invoice_ids[i % len(invoice_ids)]) * 1000 for i in range(n)]


# --- main --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000, help="tenants, one deployment each (1000)")
    parser.add_argument("--hours", type=int, default=720,
                        help="hours of April 2026 with usage, from the 1st (720 = all)")
    parser.add_argument("--pdfs", type=int, default=20, help="timed PDF renders (20)")
    parser.add_argument("--database-url", default=DEFAULT_URL,
                        help="a database the bench may drop and recreate (%(default)s)")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.hours <= 720:
        parser.error("--hours must be 1 to 720 (April 2026 has 720)")
    if args.tenants < 1 or args.pdfs < 0:
        parser.error("--tenants must be at least 1, --pdfs at least 0")

    url = args.database_url
    started = time.perf_counter()
    recreate_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "REDIS_URL": None,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    try:
        with app.app_context():
            pg_version = db.session.execute(sa.text("SHOW server_version")).scalar().split()[0]
            t0 = time.perf_counter()
            token, deployment_ids, dep_to_tenant = setup(args.tenants)
            print(f"setup: {args.tenants:,} tenants/deployments/subscriptions in "
                  f"{time.perf_counter() - t0:.1f} s (bulk SQL, not measured)", flush=True)

        total = args.tenants * events_per_deployment(args.hours)
        print(f"ingest: {total:,} events in batches of {BATCH:,} ...", flush=True)
        ingest = run_ingest(app, token, deployment_ids, args.hours)
        replay_check(app, token, deployment_ids, args.hours)

        with app.app_context():
            from portal.models import UsageEvent

            stored = db.session.scalar(select(func.count()).select_from(UsageEvent))
            assert stored == total, (stored, total)
            table_mb = db.session.execute(sa.text(
                "SELECT pg_total_relation_size('usage_events') / 1048576.0")).scalar()
            # A table that grew over a month would have been analysed by autovacuum by now.
            db.session.execute(sa.text("ANALYZE usage_events"))
            db.session.commit()
            db.session.remove()

            print("rollup: first run ...", flush=True)
            first, first_s = timed_rollup()
            assert (first.created, first.skipped, first.rebuilt) == (args.tenants, 0, 0), first
            # the tenant shown in detail: the dearest of the first 50
            sample_dep = max(deployment_ids[:50],
                             key=lambda d: expected_invoice(d, args.hours)["total"])
            sample_id, sample = check_invoices(dep_to_tenant, args.hours, sample_dep)

            print("rollup: re-run ...", flush=True)
            second, second_s = timed_rollup()
            assert (second.created, second.skipped, second.rebuilt) == (0, args.tenants, 0), second

            print("rollup: force ...", flush=True)
            forced, forced_s = timed_rollup(force=True)
            assert (forced.created, forced.skipped, forced.rebuilt) == (0, 0, args.tenants), forced
            check_invoices(dep_to_tenant, args.hours, sample_dep)

            pdf_ms = []
            if args.pdfs:
                print(f"pdf: {args.pdfs} renders ...", flush=True)
                pdf_ms = render_pdfs(sorted(forced.invoice_ids), args.pdfs)
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep:
            with app.app_context():
                db.engine.dispose()
            drop_database(url)

    per_k = 1000 / args.tenants
    lat = sorted(ingest["latencies"])
    print()
    print(f"data: {args.tenants} tenants, {args.hours} hours, {total:,} events "
          f"(PostgreSQL {pg_version}; usage_events {table_mb:,.1f} MB with indexes)")
    print(f"ingest: {ingest['accepted']:,} events in {ingest['seconds']:.1f} s = "
          f"{ingest['accepted'] / ingest['seconds']:,.0f} events/s ({BATCH:,} per batch; "
          f"per batch median {statistics.median(lat) * 1000:.0f} ms, "
          f"p95 {(statistics.quantiles(lat, n=20)[-1] if len(lat) > 1 else lat[0]) * 1000:.0f} ms; "
          f"wall incl. generating the JSON {ingest['wall']:.1f} s)")
    print(f"rollup: {first.created} invoices created in {first_s:.2f} s = "
          f"{first_s * per_k:.2f} s per 1,000 tenants; re-run (all skipped) {second_s:.2f} s; "
          f"force (rebuild drafts) {forced_s:.2f} s = {forced_s * per_k:.2f} s per 1,000 tenants")
    print(f"check: all {args.tenants} invoice totals match the contract's arithmetic; e.g. "
          f"tenant {dep_to_tenant[sample_dep]} (invoice {sample_id}): "
          f"{sample['droplet_hours']} h -> {sample['droplet_over']} c, "
          f"{sample['llm_tokens']:,} tokens -> {sample['tokens_over']} c, "
          f"peak {sample['spaces_gb']} GB -> {sample['spaces_over']} c; subtotal "
          f"{sample['subtotal']} + GST {sample['tax']} = {sample['total']} c")
    if pdf_ms:
        print(f"pdf: {len(pdf_ms)} renders, mean {statistics.mean(pdf_ms):.0f} ms, "
              f"median {statistics.median(pdf_ms):.0f} ms, max {max(pdf_ms):.0f} ms")
    print(f"total bench time {time.perf_counter() - started:.1f} s"
          + ("" if args.keep else "; database dropped"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
