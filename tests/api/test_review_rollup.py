"""A forced rollup makes the period's drafts bill what the period bills now. A draft whose
tenant no longer has any subscription billing the period (its only one ended, backdated,
before the month began) was left as it stood: issuing it is refused as out of date and told
to rebuild it with a forced rollup, which passed over the tenant, so the draft could never
be issued nor rebuilt and went on billing a month nothing is owed for."""
from datetime import date

from portal.models import Invoice
from tests.api.test_subscription_changes_api import acme, admin, invoice_for  # noqa: F401
from tests.factories import make_deployment


def test_a_forced_rollup_voids_a_draft_that_no_subscription_bills_any_more(admin, acme, database):  # noqa: F811
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    april = invoice_for(admin, "2026-04")
    assert (april["status"], april["total_cents"]) == ("draft", 5500)
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscription/end", json={"ends_on": "2026-03-31"})
    assert r.status_code == 200, r.get_json()
    r = admin.post(f"/api/v1/invoices/{april['id']}/transition", json={"to": "issued"})
    assert r.status_code == 409 and "forced rollup" in r.get_json()["error"]["message"]

    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04", "force": True})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["created"], body["rebuilt"], body["skipped"]) == (0, 0, 1)
    assert body["messages"] == [f"acme: draft invoice {april['id']} voided: no subscription bills 2026-04 any more"]
    voided = database.session.get(Invoice, april["id"])
    database.session.refresh(voided)
    assert (voided.status, voided.number, voided.total_cents) == ("void", None, 5500)
    # Nothing live is left for the month, and a rerun has nothing to do.
    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04", "force": True})
    assert (r.get_json()["created"], r.get_json()["rebuilt"], r.get_json()["skipped"],
            r.get_json()["messages"]) == (0, 0, 0, [])


def test_an_unforced_rollup_leaves_such_a_draft_alone(admin, acme, database):  # noqa: F811
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    april = invoice_for(admin, "2026-04")
    admin.post(f"/api/v1/deployments/{dep.id}/subscription/end", json={"ends_on": "2026-03-31"})
    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04", "force": False})
    assert (r.get_json()["created"], r.get_json()["skipped"]) == (0, 0)
    assert database.session.get(Invoice, april["id"]).status == "draft"
