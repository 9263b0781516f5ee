"""Benchmark: invoice PDF throughput of the real worker (`python worker.py --burst` on Redis).
Not part of the test suite; it prints figures.

    python bench/pdf_bench.py                  # 200 invoices, every mode (~5-10 minutes on 2 cores)
    python bench/pdf_bench.py --invoices 20    # smoke run
    python bench/pdf_bench.py --before-invoices 50   # the slow modes on the first 50 only
    python bench/pdf_bench.py --portal-root /work/main --modes forked   # another checkout's code

Modes (each renders every invoice's DRAFT preview through a fresh worker process):
  before  one job per invoice (render_pdf), WeasyPrint imported in each forked work horse
          (PORTAL_PDF_WARM=0, PORTAL_PDF_FORK=1): the worker as it first was
  warm    one job per invoice, each in a forked horse, WeasyPrint warmed in the worker first
  forked  warmed, one render_pdfs job per batch of PDF_BATCH_SIZE, each batch in a forked
          horse (PORTAL_PDF_FORK=1)
  after   the worker as it is: batches, run in the worker's own process (no fork), so the
          renderer, fonts, stylesheets, templates and database pool stay warm between jobs
and the floor: a bare one-page WeasyPrint render in this process, nothing else.
See bench/README.md.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import date

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if "--portal-root" in sys.argv:  # another checkout's portal and worker.py on the same data
    ROOT = os.path.abspath(sys.argv[sys.argv.index("--portal-root") + 1])
    sys.path.insert(0, ROOT)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import flask_migrate  # noqa: E402
from redis import Redis  # noqa: E402
from rq import Queue  # noqa: E402
from sqlalchemy import delete, func, select  # noqa: E402

from portal import create_app  # noqa: E402
from benchdb import recreate_database  # noqa: E402
from portal.extensions import db  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/arcadia_bench_pdf"
PREFIX = "bench-pdf"  # the bench's own queues: nothing else on the Redis db is touched
# mode → (one job per invoice?, fork a horse per job?, warm WeasyPrint first?)
MODES = {"before": (True, True, False), "warm": (True, True, True), "forked": (False, True, True),
         "after": (False, False, True)}


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


def prepare(url: str, invoices: int):
    """Drop and recreate ``url``, build ``invoices`` draft invoices → (app, their ids)."""
    recreate_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "SECRET_KEY": "bench",
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        ids = setup(app, invoices)
        db.session.remove()
    return app, ids


def floor(renders: int, clock=time.perf_counter) -> list[float]:
    """A bare one-page WeasyPrint render, in this process, after one untimed warm-up: seconds
    of ``clock`` each (``time.process_time`` for CPU)."""
    import weasyprint

    page = "<h1>Tax invoice</h1>" + "".join(f"<p>line {i}</p>" for i in range(25))
    weasyprint.HTML(string=page).write_pdf()
    times = []
    for _ in range(renders):
        t0 = clock()
        weasyprint.HTML(string=page).write_pdf()
        times.append(clock() - t0)
    return times


def children_cpu() -> float:
    """CPU seconds of this process's finished children and theirs (a worker and its horses)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_worker(env: dict) -> tuple[float, float]:
    """``python worker.py --burst`` until the queues are empty → (wall seconds, CPU seconds)."""
    cpu, t0 = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, children_cpu() - cpu


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

    per_invoice, fork, warm = MODES[mode]
    app.config.update(REDIS_URL=redis_url, RQ_QUEUE=PREFIX, PDF_BATCH_SIZE=1 if per_invoice else batch)
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
           "PORTAL_PDF_WARM": "1" if warm else "0", "PORTAL_PDF_FORK": "1" if fork else "0"}
    wall, cpu = run_worker(env)
    documents.empty()
    _, startup_cpu = run_worker(env)  # the same worker with nothing to do: start-up and warm-up

    registry = documents.finished_job_registry
    assert documents.failed_job_registry.count == 0, "a PDF job failed"
    finished = [documents.fetch_job(job_id) for job_id in registry.get_job_ids()]
    assert len(finished) == jobs, (len(finished), jobs)
    span = (max(j.ended_at for j in finished) - min(j.started_at for j in finished)).total_seconds()
    db.session.rollback()
    stored = db.session.scalar(select(func.count()).select_from(InvoiceDocument))
    assert stored == len(ids), (stored, len(ids))
    return {"mode": mode, "jobs": jobs, "wall": wall, "span": span, "rate": len(ids) / span,
            "ms_per_pdf": 1000 * span / len(ids),
            "cpu_ms_per_pdf": 1000 * max(0.0, cpu - startup_cpu) / len(ids)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--before-invoices", type=int, default=None,
                        help="render only the first N in the slow modes (before, warm), to bound the run")
    parser.add_argument("--batch", type=int, default=20, help="PDF_BATCH_SIZE for 'forked' and 'after'")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, of " + ", ".join(MODES))
    parser.add_argument("--floor-renders", type=int, default=20)
    parser.add_argument("--portal-root", default=ROOT, help="the checkout whose portal and worker.py run")
    parser.add_argument("--database-url", default=DEFAULT_URL, help="dropped and recreated")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help=f"only the {PREFIX}-* queues are used and emptied")
    args = parser.parse_args()

    os.environ["TZ"] = "UTC"
    time.tzset()
    results = []
    t0 = time.perf_counter()
    app, ids = prepare(args.database_url, args.invoices)
    print(f"setup: {len(ids)} draft invoices in {time.perf_counter() - t0:.1f} s", flush=True)
    with app.app_context():
        for mode in args.modes.split(","):
            # The floor just before each mode: on a shared machine the load moves within minutes.
            median = statistics.median(floor(args.floor_renders))
            cpu_median = statistics.median(floor(args.floor_renders, time.process_time))
            subset = ids[:args.before_invoices] if MODES[mode][0] and args.before_invoices else ids
            r = run_mode(app, mode, subset, args.redis_url, args.batch)
            r["floor_ms"], r["floor_cpu_ms"] = 1000 * median, 1000 * cpu_median
            results.append(r)
            print(f"{mode:>6}: {len(subset)} PDFs in {r['jobs']} jobs: {r['span']:.1f} s from first job start "
                  f"to last job end = {r['rate']:.2f} PDFs/s ({r['ms_per_pdf']:.0f} ms each, "
                  f"{r['ms_per_pdf'] / r['floor_ms']:.2f} x the floor's {r['floor_ms']:.0f} ms, "
                  f"{args.floor_renders} bare renders just before); worker process {r['wall']:.1f} s "
                  f"with start-up; CPU {r['cpu_ms_per_pdf']:.0f} ms a PDF beyond the worker's start-up, "
                  f"{r['cpu_ms_per_pdf'] / r['floor_cpu_ms']:.2f} x the floor's {r['floor_cpu_ms']:.0f} ms",
                  flush=True)
        db.session.remove()
        db.engine.dispose()
    by_mode = {r["mode"]: r for r in results}
    if "before" in by_mode and "after" in by_mode:
        print(f"after/before: {by_mode['after']['rate'] / by_mode['before']['rate']:.2f}x the throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
