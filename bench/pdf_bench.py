"""Benchmark: invoice PDF throughput of the real worker (`python worker.py --burst` on Redis).
Not part of the test suite; it prints figures.

    python bench/pdf_bench.py                  # 200 invoices, every mode (~5-10 minutes on 2 cores)
    python bench/pdf_bench.py --invoices 20    # smoke run
    python bench/pdf_bench.py --before-invoices 50   # the slow modes on the first 50 only

Modes (each renders every invoice's DRAFT preview through a fresh worker process):
  before  one job per invoice (render_pdf), WeasyPrint imported in each forked work horse
          (PORTAL_PDF_WARM=0): what the portal did before
  warm    one job per invoice, WeasyPrint imported and warmed in the worker's parent
  after   warmed, and the rollup's path: one render_pdfs job per batch of PDF_BATCH_SIZE
and the floor: a bare one-page WeasyPrint render in this process, nothing else.
See bench/README.md.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import date

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import flask_migrate  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from redis import Redis  # noqa: E402
from rq import Queue  # noqa: E402
from sqlalchemy import delete, func, select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/arcadia_bench_pdf"
PREFIX = "bench-pdf"  # the bench's own queues: nothing else on the Redis db is touched
MODES = ("before", "warm", "after")


def recreate_database(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def setup(app, invoices: int) -> list[int]:
    """``invoices`` tenants on studio + storage_50gb, rolled up for April 2026 (inline: no
    Redis yet, so no PDF renders here) → their draft invoices' ids."""
    from portal.models import Invoice
    from portal.services.catalog import seed_catalog
    from portal.services.rollup import roll_up_period
    from tests.factories import make_deployment, make_tenant

    flask_migrate.upgrade()
    seed_catalog()
    for i in range(invoices):
        make_deployment(make_tenant(f"bench{i:04d}", f"Bench tenant {i}"), plan_code="studio",
                        addons=["storage_50gb"], starts_on=date(2026, 3, 1))
    db.session.commit()
    result = roll_up_period(date(2026, 4, 1), date(2026, 5, 1))
    assert result.created == invoices, result
    return list(db.session.scalars(select(Invoice.id).order_by(Invoice.id)))


def floor(renders: int) -> list[float]:
    """A bare one-page WeasyPrint render, in this process, after one untimed warm-up."""
    import weasyprint

    page = "<h1>Tax invoice</h1>" + "".join(f"<p>line {i}</p>" for i in range(25))
    weasyprint.HTML(string=page).write_pdf()
    times = []
    for _ in range(renders):
        t0 = time.perf_counter()
        weasyprint.HTML(string=page).write_pdf()
        times.append(time.perf_counter() - t0)
    return times


def run_mode(app, mode: str, ids: list[int], redis_url: str, batch: int) -> dict:
    from portal.jobs.invoicing import request_pdfs
    from portal.models import InvoiceDocument
    from portal.queue import DOCUMENTS, enqueue

    conn = Redis.from_url(redis_url)
    for suffix in ("high", "documents", "messages"):
        q = Queue(f"{PREFIX}-{suffix}", connection=conn)
        q.empty()
        for registry in (q.finished_job_registry, q.failed_job_registry):
            for job_id in registry.get_job_ids():
                registry.remove(job_id, delete_job=True)
    db.session.execute(delete(InvoiceDocument))
    db.session.commit()

    app.config.update(REDIS_URL=redis_url, RQ_QUEUE=PREFIX, PDF_BATCH_SIZE=batch if mode == "after" else 1)
    if mode == "before":
        for invoice_id in ids:  # the old path: one render_pdf job per invoice
            enqueue("portal.jobs.invoicing.render_pdf", invoice_id, queue_name=DOCUMENTS)
    else:
        request_pdfs(ids)
    app.config.update(REDIS_URL=None)
    documents = Queue(f"{PREFIX}-documents", connection=conn)
    jobs = documents.count

    env = {**os.environ, "TZ": "UTC", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": redis_url, "RQ_QUEUE": PREFIX, "SECRET_KEY": "bench",
           "PORTAL_PDF_WARM": "0" if mode == "before" else "1"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0

    registry = documents.finished_job_registry
    assert documents.failed_job_registry.count == 0, "a PDF job failed"
    finished = [documents.fetch_job(job_id) for job_id in registry.get_job_ids()]
    assert len(finished) == jobs, (len(finished), jobs)
    span = (max(j.ended_at for j in finished) - min(j.started_at for j in finished)).total_seconds()
    db.session.rollback()
    stored = db.session.scalar(select(func.count()).select_from(InvoiceDocument))
    assert stored == len(ids), (stored, len(ids))
    return {"mode": mode, "jobs": jobs, "wall": wall, "span": span, "rate": len(ids) / span,
            "ms_per_pdf": 1000 * span / len(ids)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--before-invoices", type=int, default=None,
                        help="render only the first N in the slow modes (before, warm), to bound the run")
    parser.add_argument("--batch", type=int, default=20, help="PDF_BATCH_SIZE for 'after'")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, of " + ", ".join(MODES))
    parser.add_argument("--floor-renders", type=int, default=20)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="dropped and recreated")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help=f"only the {PREFIX}-* queues are used and emptied")
    args = parser.parse_args()

    os.environ["TZ"] = "UTC"
    time.tzset()
    recreate_database(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "REDIS_URL": None,
                      "SECRET_KEY": "bench", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    results = []
    with app.app_context():
        t0 = time.perf_counter()
        ids = setup(app, args.invoices)
        print(f"setup: {len(ids)} draft invoices in {time.perf_counter() - t0:.1f} s", flush=True)
        times = floor(args.floor_renders)
        median = statistics.median(times)
        print(f"floor: bare one-page WeasyPrint render, median {1000 * median:.0f} ms "
              f"= {1 / median:.2f} renders/s ({len(times)} renders, in-process, warmed)", flush=True)
        for mode in args.modes.split(","):
            subset = ids[:args.before_invoices] if mode != "after" and args.before_invoices else ids
            r = run_mode(app, mode, subset, args.redis_url, args.batch)
            results.append(r)
            print(f"{mode:>6}: {len(subset)} PDFs in {r['jobs']} jobs: {r['span']:.1f} s from first job start "
                  f"to last job end = {r['rate']:.2f} PDFs/s ({r['ms_per_pdf']:.0f} ms each); "
                  f"worker process {r['wall']:.1f} s with start-up", flush=True)
        db.session.remove()
        db.engine.dispose()
    by_mode = {r["mode"]: r for r in results}
    if "before" in by_mode and "after" in by_mode:
        print(f"after/before: {by_mode['after']['rate'] / by_mode['before']['rate']:.2f}x the throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
