"""SQLite (one person trying the portal out) keeps the daily aggregate by the plain path."""
from datetime import date
from decimal import Decimal

import flask_migrate
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import Deployment, Tenant, UsageDaily
from portal.services import usage


def test_sqlite_ingest_keeps_the_aggregate_and_rebuilds_it(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "REDIS_URL": None,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.sqlite3'}"})
    with app.app_context():
        flask_migrate.upgrade()
        tenant = Tenant(slug="solo", name="Solo", billing_name="Solo", billing_address="1 St")
        db.session.add(tenant)
        dep = Deployment(tenant=tenant, name="d", region="syd1", status="active")
        db.session.add(dep)
        db.session.commit()
        events = [
            {"event_id": "a", "deployment_id": dep.id, "resource_kind": "droplet_hours",
             "quantity": 3, "occurred_at": "2026-04-30T23:30:00Z"},
            {"event_id": "b", "deployment_id": dep.id, "resource_kind": "droplet_hours",
             "quantity": Decimal("1.5"), "occurred_at": "2026-05-01T09:30:00+10:00"},  # 30 April UTC
            {"event_id": "c", "deployment_id": dep.id, "resource_kind": "spaces_gb",
             "quantity": Decimal("120.25"), "occurred_at": "2026-04-02T00:00:00Z"},
            {"event_id": "d", "deployment_id": dep.id, "resource_kind": "spaces_gb",
             "quantity": 80, "occurred_at": "2026-04-03T00:00:00Z"},
            {"event_id": "e", "deployment_id": dep.id, "resource_kind": "llm_tokens",
             "quantity": 500, "occurred_at": "2026-05-01T00:00:00Z"},
        ]
        assert usage.ingest({"events": events}) == {"accepted": 5, "duplicates": 0}
        assert usage.ingest({"events": events[:2]}) == {"accepted": 0, "duplicates": 2}
        april = {"droplet_hours": Decimal("4.5"), "llm_tokens": Decimal(0),
                 "spaces_gb": Decimal("120.25")}
        assert usage.usage_for_period(dep.id, date(2026, 4, 1), date(2026, 5, 1)) == april
        rows = db.session.scalars(select(UsageDaily).order_by(UsageDaily.day)).all()
        assert [(r.day, r.resource_kind, r.events) for r in rows] == [
            (date(2026, 4, 2), "spaces_gb", 1), (date(2026, 4, 3), "spaces_gb", 1),
            (date(2026, 4, 30), "droplet_hours", 2), (date(2026, 5, 1), "llm_tokens", 1)]
        db.session.execute(UsageDaily.__table__.delete())
        assert usage.rebuild_aggregates(date(2026, 4, 1), date(2026, 5, 1)) == 3
        db.session.commit()
        assert usage.usage_for_period(dep.id, date(2026, 4, 1), date(2026, 5, 1)) == april
        db.session.remove()
        db.engine.dispose()
