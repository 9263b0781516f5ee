"""The rollup's overlapping pipeline (usage read and chunks written on threads of their own) on
PostgreSQL with real commits: what each stage does on its own thread still happens (an
auto-issued invoice's email and webhook), progress is reported only for committed chunks, an
exception in the calling thread leaves whole chunks only, and no connection is left checked
out of the pool."""
import json
from datetime import date

import pytest
from sqlalchemy import func, select, text

from portal.models import Invoice, InvoiceLine, MailMessage, RollupRun
from portal.services import webhooks
from portal.services.catalog import seed_catalog
from portal.services.rollup import _overlapping, roll_up_period
from tests.fakes.receiver import Receiver
from tests.factories import make_deployment, make_tenant
from tests.mail.smtp import smtp_server  # noqa: F401 (a fixture)

APRIL = (date(2026, 4, 1), date(2026, 5, 1))
TENANTS = 7  # chunks of 2: four chunks, the last one short


@pytest.fixture
def tenants(app, committed, monkeypatch):
    monkeypatch.setitem(app.config, "ROLLUP_CHUNK_TENANTS", 2)
    seed_catalog()
    for i in range(TENANTS):
        tenant = make_tenant(f"p{i}", f"P{i}", billing_email=f"billing@p{i}.example.com")
        make_deployment(tenant, plan_code="studio", starts_on=date(2026, 3, 1))
    committed.session.commit()
    committed.session.remove()
    assert _overlapping()  # the threaded path is the one under test
    yield committed
    assert committed.engine.pool.checkedout() == 0, "a stage left its connection checked out"


def _committed_invoices(db) -> int:
    """Counted on a connection of its own: what another transaction can see now."""
    with db.engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM invoices"))


def test_auto_issued_invoices_are_emailed_and_their_webhooks_sent(app, tenants, smtp_server,  # noqa: F811
                                                                  monkeypatch):
    db = tenants
    monkeypatch.setitem(app.config, "ROLLUP_AUTO_ISSUE", True)
    with Receiver() as receiver:
        webhooks.create_webhook(None, {"url": receiver.url,
                                       "events": ["invoice.issued", "rollup.finished"]})
        db.session.commit()
        result = roll_up_period(*APRIL)
        assert (result.created, result.skipped) == (TENANTS, 0)
        numbers = db.session.scalars(select(Invoice.number).order_by(Invoice.number)).all()
        assert numbers == [f"ARC-{n:06d}" for n in range(1, TENANTS + 1)]  # gap-free
        # Each invoice's email went (the writer thread dispatched it after its chunk's commit).
        assert sorted(rcpt[0] for _, rcpt, _ in smtp_server.received) == sorted(
            f"billing@p{i}.example.com" for i in range(TENANTS))
        assert db.session.scalars(select(MailMessage.status)).all() == ["sent"] * TENANTS
        # And each invoice.issued event, emitted on the writer's session, was delivered.
        types = [json.loads(r["body"])["type"] for r in receiver.requests]
        assert sorted(types) == ["invoice.issued"] * TENANTS + ["rollup.finished"]
        db.session.remove()


def test_progress_is_reported_only_for_committed_chunks(app, tenants):
    db = tenants
    reported = []

    def progress(done, total):
        reported.append((done, total, _committed_invoices(db)))

    roll_up_period(*APRIL, progress=progress)
    assert [(done, total) for done, total, _ in reported] == [(n, TENANTS) for n in range(1, TENANTS + 1)]
    for done, _, committed_then in reported:
        assert committed_then >= done, reported
    db.session.remove()


class Stop(Exception):
    pass


def test_an_exception_in_the_calling_thread_leaves_whole_chunks_and_a_rerun_finishes(app, tenants):
    """The caller fails while chunk 2's report is made (chunk 3 already planned, chunk 2's
    write done): chunks 1 and 2 stay committed, whole; nothing of chunk 3 is written, not
    even after the pipeline's threads wind down; a second run invoices the rest, once each."""
    db = tenants

    def progress(done, total):
        if done == 4:
            raise Stop

    with pytest.raises(Stop):
        roll_up_period(*APRIL, progress=progress)
    assert _committed_invoices(db) == 4
    lines = db.session.execute(select(InvoiceLine.invoice_id, func.count())
                               .group_by(InvoiceLine.invoice_id)).all()
    assert sorted(n for _, n in lines) == [2] * 4  # plan + GST, each invoice whole
    db.session.remove()

    again = roll_up_period(*APRIL)
    assert (again.created, again.skipped) == (TENANTS - 4, 4)
    per_tenant = db.session.execute(
        select(Invoice.tenant_id, func.count()).group_by(Invoice.tenant_id)).all()
    assert len(per_tenant) == TENANTS and {n for _, n in per_tenant} == {1}
    finished = db.session.scalars(select(RollupRun.finished_at.is_not(None)).order_by(RollupRun.id)).all()
    assert finished == [False, True]
    db.session.remove()


def test_a_forced_rerun_rebuilds_every_draft_on_the_threads(app, tenants):
    db = tenants
    assert roll_up_period(*APRIL).created == TENANTS
    again = roll_up_period(*APRIL, force=True)
    assert (again.created, again.rebuilt, again.skipped) == (0, TENANTS, 0)
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == TENANTS
    db.session.remove()


def test_two_forced_runs_at_once_each_rebuild_every_draft_without_a_deadlock(app, tenants):
    """Each run's writer locks its chunk's drafts (in tenant order) while its reader reads the
    next chunk's usage on a third connection: two such runs at once finish, one after the
    other chunk by chunk, and leave one invoice a tenant."""
    from tests.concurrency import at_once

    db = tenants
    assert roll_up_period(*APRIL).created == TENANTS
    db.session.remove()
    results = at_once(app, *[lambda: roll_up_period(*APRIL, force=True)] * 2)
    assert [(r.created, r.rebuilt, r.skipped) for r in results] == [(0, TENANTS, 0)] * 2
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == TENANTS
    db.session.remove()


def test_a_failed_write_on_the_writer_thread_fails_the_run_and_writes_nothing_after_it(
        app, tenants, monkeypatch):
    """Auto-issue with the invoice counter gone: the first chunk's write fails on the writer
    thread. The failure reaches the caller, that chunk is rolled back whole, no later chunk
    is written, and the run stays unfinished (the catch-up runs it again)."""
    from sqlalchemy.exc import NoResultFound

    db = tenants
    monkeypatch.setitem(app.config, "ROLLUP_AUTO_ISSUE", True)
    db.session.execute(text("DELETE FROM counters WHERE name = 'invoice_number'"))
    db.session.commit()
    with pytest.raises(NoResultFound):
        roll_up_period(*APRIL)
    assert _committed_invoices(db) == 0
    assert db.session.scalars(select(RollupRun.finished_at)).all() == [None]
    db.session.remove()
