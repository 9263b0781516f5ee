"""The rollup writes a chunk of tenants per transaction with set-based statements: on
PostgreSQL with real commits, a crash midway loses nothing, a forced run rebuilds drafts only
(issued and paid invoices byte-for-byte as they were), two runs at once leave one invoice per
tenant, and the number of SQL statements does not grow with the number of tenants."""
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import event, func, select

from portal.models import Invoice, InvoiceLine, RollupRun, Tenant
from portal.services import usage
from portal.services.invoices import transition_invoice
from portal.services.rollup import roll_up_period
from tests.concurrency import at_once
from tests.factories import hourly_events, make_deployment, make_tenant, make_user

APRIL = (date(2026, 4, 1), date(2026, 5, 1))
# studio (5000) + storage_50gb (750), no usage: plan_base, addon and GST lines.
PLAIN = (5750, 575, 6325)


def _tenants(n: int, prefix: str) -> list[int]:
    ids = []
    for i in range(n):
        dep = make_deployment(make_tenant(f"{prefix}{i:02d}"), plan_code="studio",
                              addons=["storage_50gb"], starts_on=date(2026, 3, 1))
        ids.append(dep.tenant_id)
    return ids


def _live(db) -> dict[int, tuple]:
    db.session.rollback()
    rows = db.session.execute(
        select(Invoice.tenant_id, Invoice.subtotal_cents, Invoice.tax_cents, Invoice.total_cents,
               func.count(InvoiceLine.id))
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(Invoice.period_start == APRIL[0], Invoice.status != "void")
        .group_by(Invoice.id)).all()
    by_tenant = {r[0]: tuple(r[1:]) for r in rows}
    assert len(by_tenant) == len(rows), "a tenant has two live invoices"
    return by_tenant


class Crash(Exception):
    pass


def test_a_crash_after_the_first_chunk_keeps_it_whole_and_a_rerun_finishes_the_rest(app, committed, monkeypatch):
    from portal.services.catalog import seed_catalog

    monkeypatch.setitem(app.config, "ROLLUP_CHUNK_TENANTS", 2)
    db = committed
    seed_catalog()
    tenants = _tenants(5, "x")

    def crash_after_first_chunk(done, total):
        assert total == 5
        if done == 2:
            raise Crash()

    with pytest.raises(Crash):
        roll_up_period(*APRIL, progress=crash_after_first_chunk)
    db.session.remove()
    # The first chunk (the two lowest tenant ids) is committed whole; nothing else is.
    assert _live(db) == {t: (*PLAIN, 3) for t in sorted(tenants)[:2]}
    assert db.session.scalar(select(RollupRun.finished_at)) is None

    seen = []
    result = roll_up_period(*APRIL, progress=lambda done, total: seen.append((done, total)))
    assert (result.created, result.skipped, result.rebuilt) == (3, 2, 0)
    assert seen == [(n, 5) for n in range(1, 6)]  # every tenant reported, chunk by chunk
    assert len(result.invoice_ids) == 3
    assert _live(db) == {t: (*PLAIN, 3) for t in tenants}
    runs = db.session.execute(select(RollupRun.finished_at.is_not(None), RollupRun.created)
                              .order_by(RollupRun.id)).all()
    assert runs == [(False, 0), (True, 3)]


def _snapshot(db, invoice_id: int):
    invoice = db.session.execute(select(Invoice.__table__).where(Invoice.id == invoice_id)).one()
    lines = db.session.execute(select(InvoiceLine.__table__).where(
        InvoiceLine.invoice_id == invoice_id).order_by(InvoiceLine.position)).all()
    return tuple(invoice), [tuple(line) for line in lines]


def test_force_across_chunks_rebuilds_drafts_only_and_bills_voided_periods_again(app, committed, monkeypatch):
    from portal.services.catalog import seed_catalog

    monkeypatch.setitem(app.config, "ROLLUP_CHUNK_TENANTS", 2)
    db = committed
    seed_catalog()
    admin = make_user()
    late, issued, paid, voided, fresh, same = _tenants(6, "f")
    first = roll_up_period(*APRIL)
    assert (first.created, first.skipped, first.rebuilt) == (6, 0, 0)
    ids = dict(db.session.execute(select(Invoice.tenant_id, Invoice.id)).all())
    transition_invoice(admin, ids[issued], {"to": "issued"})
    transition_invoice(admin, ids[paid], {"to": "issued"})
    transition_invoice(admin, ids[paid], {"to": "paid"})
    transition_invoice(admin, ids[voided], {"to": "void"})
    db.session.execute(Invoice.__table__.delete().where(Invoice.id == ids[fresh]))
    db.session.commit()
    # Usage metered late into the month, for the late tenant's deployment and the issued one's.
    late_dep, issued_dep = (db.session.scalar(select(InvoiceLine.deployment_id).where(
        InvoiceLine.invoice_id == ids[t], InvoiceLine.kind == "plan_base")) for t in (late, issued))
    for dep in (late_dep, issued_dep):
        usage.ingest({"events": hourly_events(dep, "droplet_hours",
                                              datetime(2026, 4, 1, tzinfo=timezone.utc), 720, 3)})
    db.session.commit()
    before = {t: _snapshot(db, ids[t]) for t in (issued, paid, voided, same)}
    db.session.remove()

    forced = roll_up_period(*APRIL, force=True)
    assert (forced.created, forced.skipped, forced.rebuilt) == (2, 2, 2)
    issued_no, paid_no = (before[t][0][1] for t in (issued, paid))
    assert forced.messages == [
        f"f01: invoice {issued_no} is issued; issued and paid invoices are never rebuilt "
        "(void it first to bill the period again)",
        f"f02: invoice {paid_no} is paid; issued and paid invoices are never rebuilt "
        "(correct it with a credit note)"]
    db.session.rollback()
    # Issued, paid and void: every column of the invoice and of each line as it was.
    for t in (issued, paid, voided):
        assert _snapshot(db, ids[t]) == before[t]
    # The drafts rebuilt in place (same ids): the late one bills 2160 droplet hours now.
    live = _live(db)
    assert live[late] == (5750 + 672, 642, 5750 + 672 + 642, 4)
    assert live[same] == (*PLAIN, 3)
    # The unchanged draft: the same lines again (new line rows, so all but their ids).
    assert [line[1:] for line in _snapshot(db, ids[same])[1]] == [line[1:] for line in before[same][1]]
    assert sorted(forced.invoice_ids)[:2] == sorted([ids[late], ids[same]])
    # The voided and the deleted tenants got new drafts.
    assert live[voided] == (*PLAIN, 3) and live[fresh] == (*PLAIN, 3)
    new_ids = set(db.session.scalars(select(Invoice.id).where(
        Invoice.tenant_id.in_([voided, fresh]), Invoice.status == "draft")))
    assert new_ids == set(forced.invoice_ids) - {ids[late], ids[same]}
    assert db.session.scalar(select(func.count()).select_from(Tenant)) == 6


def test_two_forced_runs_and_a_plain_one_at_once_leave_one_whole_invoice_per_tenant(app, committed, monkeypatch):
    from portal.services.catalog import seed_catalog

    monkeypatch.setitem(app.config, "ROLLUP_CHUNK_TENANTS", 3)
    db = committed
    seed_catalog()
    drafted = _tenants(6, "d")
    roll_up_period(*APRIL)
    fresh = _tenants(6, "n")
    db.session.remove()

    forces = (True, True, False)
    results = list(zip(forces, at_once(app, *[
        (lambda force=force: roll_up_period(*APRIL, force=force)) for force in forces])))
    # Each new tenant was created by exactly one run; every run accounted for every tenant.
    assert sum(r.created for _, r in results) == 6
    for force, r in results:
        assert r.created + r.skipped + r.rebuilt == 12
        if not force:
            assert r.rebuilt == 0 and r.skipped >= 6
    assert _live(db) == {t: (*PLAIN, 3) for t in drafted + fresh}


def test_the_statements_a_rollup_runs_do_not_grow_with_its_tenants(app, database, catalog, monkeypatch):
    statements = []

    def count(conn, cursor, statement, *args):
        if not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):  # the test's nesting
            statements.append(statement.split("(")[0].strip())

    def statements_for(tenants: int, prefix: str, period: tuple[date, date]) -> list[str]:
        _tenants(tenants, prefix)
        database.session.commit()
        statements.clear()
        event.listen(database.engine, "before_cursor_execute", count)
        try:
            result = roll_up_period(*period)
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
        assert result.created >= tenants
        return list(statements)

    monkeypatch.setitem(app.config, "ROLLUP_CHUNK_TENANTS", 100)
    three = statements_for(3, "s", (date(2026, 3, 1), date(2026, 4, 1)))
    twelve = statements_for(9, "t", APRIL)  # 3 + 9 tenants billed in April, one chunk
    assert three == twelve and len(twelve) <= 16, twelve
    # Chunks of 5: three chunks, each one SELECT of its usage, one INSERT of its invoices and
    # one of their lines.
    monkeypatch.setitem(app.config, "ROLLUP_CHUNK_TENANTS", 5)
    chunked = statements_for(1, "u", (date(2026, 5, 1), date(2026, 6, 1)))  # 13 tenants
    assert chunked.count("INSERT INTO invoices") == chunked.count("INSERT INTO invoice_lines") == 3
    assert sum(s.startswith("SELECT usage_daily.deployment_id") for s in chunked) == 3
    assert len(chunked) == len(twelve) + 6
