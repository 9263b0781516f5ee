"""A duplicate created at the same moment as the original is 409, as a later one is: the
unique index decides, and its refusal is the contract's conflict, never a 500."""
import threading
import time

import pytest
from sqlalchemy import text

from portal.extensions import db
from tests.factories import make_tenant, make_user

HOLDERS = {
    # (the row another transaction is inserting, the same through the API)
    "tenant": ("INSERT INTO tenants (slug, name, billing_name, billing_address, credit_balance_cents, created_at)"
               " VALUES ('race', 'R', 'R', '', 0, now())",
               "/api/v1/tenants", {"slug": "race", "name": "Race"}),
    "user": ("INSERT INTO users (email, password_hash, role, tenant_id, active, session_generation, created_at)"
             " SELECT 'race@example.com', '!', 'tenant_viewer', id, true, 0, now() FROM tenants WHERE slug = 'acme'",
             "/api/v1/users", {"email": "race@example.com", "role": "tenant_viewer", "tenant": "acme"}),
    "addon": ("INSERT INTO addons (code, name, price_cents, currency, resource_kind, qty, created_at)"
              " VALUES ('race', 'R', 1, 'AUD', 'spaces_gb', 1, now())",
              "/api/v1/catalog/addons", {"code": "race", "name": "Race", "price_cents": 100,
                                         "currency": "AUD", "resource_kind": "spaces_gb", "qty": 5}),
    "plan": ("INSERT INTO plans (code, name, description, created_at) VALUES ('race', 'R', '', now())",
             "/api/v1/catalog/plans", {"code": "race", "name": "Race", "versions": [{
                 "base_price_cents": 100, "currency": "AUD", "effective_from": "2026-01-01",
                 "items": [{"resource_kind": "spaces_gb", "included_qty": 1, "overage_price_cents": 1,
                            "overage_unit": "gb", "hard_cap_qty": None}]}]}),
}


@pytest.mark.parametrize("what", sorted(HOLDERS))
def test_a_duplicate_created_at_the_same_moment_is_409(app, committed, what):
    from portal.services import accounts

    with app.app_context():
        make_tenant("acme")
        token = accounts.create_token(make_user(email="admin@example.com").email)
        db.session.remove()
    sql, url, body = HOLDERS[what]
    holder = db.engine.connect()
    pending = holder.begin()
    holder.execute(text(sql))  # inserted, not committed: the API's own check cannot see it
    answer = {}

    def post():
        client = app.test_client()
        answer["r"] = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})

    thread = threading.Thread(target=post)
    thread.start()
    time.sleep(1.0)  # the request is now waiting on the unique index
    pending.commit()
    holder.close()
    thread.join(timeout=30)
    r = answer["r"]
    assert r.status_code == 409, (r.status_code, r.get_data(as_text=True)[:300])
