"""Two rollups of one period at once, on PostgreSQL with real commits: one invoice a tenant."""
from datetime import date

from sqlalchemy import func, select

from portal.models import Invoice, InvoiceLine
from portal.services.catalog import seed_catalog
from portal.services.rollup import roll_up_period
from tests.concurrency import at_once
from tests.factories import make_deployment, make_tenant

TENANTS = 25


def test_two_rollups_at_once_make_exactly_one_invoice_per_tenant(app, committed):
    seed_catalog()
    for i in range(TENANTS):
        tenant = make_tenant(f"c{i:02d}")
        for n in range(2):  # two deployments: more lines to write, a wider race window
            make_deployment(tenant, name=f"d{n}", plan_code="studio", addons=["storage_50gb"],
                            starts_on=date(2026, 3, 1))
    committed.session.remove()

    results = at_once(app, *[lambda: roll_up_period(date(2026, 4, 1), date(2026, 5, 1))] * 2)
    assert sum(r.created for r in results) == TENANTS
    assert sum(r.skipped for r in results) == TENANTS
    with app.app_context():
        per_tenant = committed.session.execute(
            select(Invoice.tenant_id, func.count()).group_by(Invoice.tenant_id)).all()
        assert len(per_tenant) == TENANTS and {n for _, n in per_tenant} == {1}
        # Every invoice whole: 2 × (plan + addon) + GST, and totals that add up.
        lines = committed.session.execute(
            select(InvoiceLine.invoice_id, func.count(), func.sum(InvoiceLine.amount_cents))
            .group_by(InvoiceLine.invoice_id)).all()
        assert {(n, total) for _, n, total in lines} == {(5, 11500 + 1150)}
        committed.session.remove()
