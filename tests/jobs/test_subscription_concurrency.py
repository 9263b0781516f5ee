"""Two changes of one subscription at once, on PostgreSQL with real commits: the row lock
makes the second see the first, so billed days never overlap and one subscription runs."""
import threading
from datetime import date

from sqlalchemy import select

from portal.errors import ValidationError
from portal.extensions import db
from portal.models import Subscription, User
from portal.services import subscriptions
from portal.services.catalog import seed_catalog
from tests.factories import make_deployment, make_tenant, make_user


def test_two_identical_changes_at_once_make_one_change(app, committed):
    seed_catalog()
    admin_id = make_user(email="admin@example.com").id
    dep_id = make_deployment(make_tenant("acme"), plan_code="studio", starts_on=date(2026, 3, 1)).id
    committed.session.remove()

    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def change():
        with app.app_context():
            try:
                admin = db.session.get(User, admin_id)
                barrier.wait(timeout=30)
                subscriptions.change_subscription(
                    admin, dep_id, {"plan_code": "studio", "addons": ["storage_50gb"],
                                    "effective_on": "2026-04-16"})
                outcomes.append("changed")
            except ValidationError as exc:
                outcomes.append(exc.fields)
            except Exception as exc:  # surfaced below: a thread's failure must fail the test
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=change) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(outcomes, key=str) == [
        "changed", {"effective_on": "must be after the running subscription's start (2026-04-16)"}]
    with app.app_context():
        subs = committed.session.execute(
            select(Subscription.starts_on, Subscription.ends_on)
            .where(Subscription.deployment_id == dep_id).order_by(Subscription.starts_on)).all()
        assert [tuple(s) for s in subs] == [(date(2026, 3, 1), date(2026, 4, 15)),
                                            (date(2026, 4, 16), None)]
        committed.session.remove()
