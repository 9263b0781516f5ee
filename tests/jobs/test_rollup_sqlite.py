"""SQLite (one person trying the portal out) rolls up by the plain statements: the seed
figures to the cent, a re-run skips, force rebuilds the draft in place."""
from datetime import date, datetime, timezone

import flask_migrate
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import Invoice, InvoiceLine
from portal.services import catalog, usage
from portal.services.rollup import roll_up_period
from tests.factories import hourly_events, make_deployment, make_tenant

APRIL = (date(2026, 4, 1), date(2026, 5, 1))


def _lines(invoice_id):
    return [(l.kind, l.resource_kind, l.amount_cents) for l in db.session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id).order_by(InvoiceLine.position))]


def test_sqlite_rollup_creates_skips_and_rebuilds(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "REDIS_URL": None,
                      "ROLLUP_CHUNK_TENANTS": 1,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.sqlite3'}"})
    with app.app_context():
        flask_migrate.upgrade()
        catalog.seed_catalog()
        dep = make_deployment(make_tenant("acme"), plan_code="studio", addons=["storage_50gb"],
                              starts_on=date(2026, 3, 1))
        make_deployment(make_tenant("globex"), plan_code="studio", starts_on=date(2026, 3, 1))
        april = datetime(2026, 4, 1, tzinfo=timezone.utc)
        usage.ingest({"events": hourly_events(dep.id, "droplet_hours", april, 720, 3)})
        db.session.commit()
        first = roll_up_period(*APRIL)
        assert (first.created, first.skipped, first.rebuilt) == (2, 0, 0)
        acme = db.session.scalar(select(Invoice).where(Invoice.tenant_id == dep.tenant_id))
        assert (acme.subtotal_cents, acme.tax_cents, acme.total_cents) == (6422, 642, 7064)
        assert _lines(acme.id) == [("plan_base", None, 5000), ("addon", "spaces_gb", 750),
                                   ("overage", "droplet_hours", 672), ("tax", None, 642)]
        again = roll_up_period(*APRIL)
        assert (again.created, again.skipped, again.rebuilt) == (0, 2, 0)
        usage.ingest({"events": [{"event_id": "late", "deployment_id": dep.id,
                                  "resource_kind": "llm_tokens", "quantity": 1_250_000,
                                  "occurred_at": "2026-04-15T00:00:00Z"}]})
        db.session.commit()
        forced = roll_up_period(*APRIL, force=True)
        assert (forced.created, forced.skipped, forced.rebuilt) == (0, 0, 2)
        assert acme.id in forced.invoice_ids
        db.session.expire_all()
        acme = db.session.get(Invoice, acme.id)
        assert (acme.subtotal_cents, acme.tax_cents, acme.total_cents) == (6672, 667, 7339)
        assert ("overage", "llm_tokens", 250) in _lines(acme.id)
        assert len(db.session.scalars(select(Invoice)).all()) == 2
        db.session.remove()
        db.engine.dispose()
