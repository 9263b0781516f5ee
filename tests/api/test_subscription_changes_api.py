"""Changing and ending subscriptions, billed through the real rollup (exact cents)."""
from datetime import date

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from portal.models import AuditEntry, Subscription
from tests.factories import make_deployment, make_plan, make_tenant, make_user


@pytest.fixture
def acme(database):
    return make_tenant("acme", "Acme AI")


@pytest.fixture
def scale(catalog):
    """A bigger plan to change to (tests only; the seeded catalog stays the contract's)."""
    return make_plan("scale", base_price_cents=12000, items=[
        ("droplet_hours", 4464, 1, "hour", None),
        ("llm_tokens", 5_000_000, 1, "1k_tokens", None),
        ("spaces_gb", 500, 2, "gb", None),
    ])


@pytest.fixture
def admin(catalog, api_as):
    return api_as(make_user(email="admin@example.com"))


def meter(admin, dep, *events):
    """``events``: (kind, quantity, "YYYY-MM-DD") each; ids unique per deployment and call."""
    body = [{"event_id": f"{dep.id}-{kind}-{day}-{qty}", "deployment_id": dep.id,
             "resource_kind": kind, "quantity": qty, "occurred_at": f"{day}T12:00:00Z"}
            for kind, qty, day in events]
    assert admin.post("/api/v1/usage", json={"events": body}).status_code == 200


def invoice_for(admin, period, force=False):
    r = admin.post("/api/v1/invoices/rollup", json={"period": period, "force": force})
    assert r.status_code == 200, r.get_json()
    (listed,) = [i for i in admin.get("/api/v1/invoices").get_json()["invoices"]
                 if i["period_start"].startswith(period)]
    return admin.get(f"/api/v1/invoices/{listed['id']}").get_json()


def summary(body):
    return [(l["kind"], l["resource_kind"], l["amount_cents"]) for l in body["lines"]]


def test_an_upgrade_on_the_16th_of_april_bills_15_30_of_each_plan(admin, acme, scale, database):
    dep = make_deployment(acme, plan_code="studio", addons=["storage_50gb"], starts_on=date(2026, 3, 1))
    old_id = dep.subscriptions[0].id
    meter(admin, dep, ("droplet_hours", 1000, "2026-04-10"), ("spaces_gb", 80, "2026-04-05"),
          ("droplet_hours", 2500, "2026-04-20"), ("spaces_gb", 260, "2026-04-25"))
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscription/change",
                   json={"plan_code": "scale", "addons": [], "effective_on": "2026-04-16"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert set(body) == {"id", "tenant_id", "name", "region", "status", "subscription"}
    assert body["status"] == "active"
    new = body["subscription"]
    assert new["id"] != old_id
    assert {k: v for k, v in new.items() if k != "id"} == {
        "plan_code": "scale", "plan_version": 1, "addons": [], "starts_on": "2026-04-16",
        "ends_on": None}
    old = database.session.get(Subscription, old_id)
    database.session.refresh(old)
    assert old.ends_on == date(2026, 4, 15)

    invoice = invoice_for(admin, "2026-04")
    # Studio 1–15 April: 5000 × 15/30, 750 × 15/30; allowances 1488 → 744 h, 150 → 75 GB.
    # Scale 16–30 April: 12000 × 15/30; allowances 4464 → 2232 h, 500 → 250 GB.
    assert summary(invoice) == [
        ("plan_base", None, 2500), ("addon", "spaces_gb", 375),
        ("overage", "droplet_hours", 256), ("overage", "spaces_gb", 10),
        ("plan_base", None, 6000),
        ("overage", "droplet_hours", 268), ("overage", "spaces_gb", 20),
        ("tax", None, 943),
    ]
    assert (invoice["subtotal_cents"], invoice["tax_cents"], invoice["total_cents"]) == (9429, 943, 10372)
    assert "15/30 days, 2026-04-01 to 2026-04-15" in invoice["lines"][0]["description"]
    assert "15/30 days, 2026-04-16 to 2026-04-30" in invoice["lines"][4]["description"]
    # May bills Scale alone, whole month, whole allowance.
    with freeze_time("2026-06-02"):
        may = invoice_for(admin, "2026-05")
    assert summary(may) == [("plan_base", None, 12000), ("tax", None, 1200)]


def test_an_end_mid_month_prorates_and_the_deployment_may_subscribe_again_later(admin, acme, database):
    dep = make_deployment(acme, plan_code="studio", addons=["storage_50gb"], starts_on=date(2026, 3, 1))
    meter(admin, dep, ("droplet_hours", 600, "2026-04-05"), ("droplet_hours", 100, "2026-04-20"),
          ("droplet_hours", 700, "2026-04-25"))
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscription/end", json={"ends_on": "2026-04-10"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "active"  # ending is not decommissioning
    assert (body["subscription"]["starts_on"], body["subscription"]["ends_on"]) == ("2026-03-01", "2026-04-10")
    # Nothing runs now: a second end or a change is a conflict.
    assert admin.post(f"/api/v1/deployments/{dep.id}/subscription/end",
                      json={"ends_on": "2026-04-12"}).status_code == 409
    assert admin.post(f"/api/v1/deployments/{dep.id}/subscription/change",
                      json={"plan_code": "studio", "effective_on": "2026-04-20"}).status_code == 409
    url = f"/api/v1/deployments/{dep.id}/subscribe"
    assert admin.post(url, json={"plan_code": "studio", "starts_on": "2026-04-10"}).status_code == 409
    r = admin.post(url, json={"plan_code": "studio", "starts_on": "2026-04-21"})
    assert r.status_code == 201

    invoice = invoice_for(admin, "2026-04")
    # 1–10 April (10/30): 1667, 250; 600 h over 496 → 104.
    # 21–30 April (10/30): 1667; the 100 h of the 20th belong to neither; 700 over 496 → 204.
    assert summary(invoice) == [
        ("plan_base", None, 1667), ("addon", "spaces_gb", 250), ("overage", "droplet_hours", 104),
        ("plan_base", None, 1667), ("overage", "droplet_hours", 204),
        ("tax", None, 389),
    ]
    assert invoice["total_cents"] == 3892 + 389


def test_backdating_into_an_issued_month_is_409_into_a_draft_is_fine(admin, acme, scale, database):
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    march = invoice_for(admin, "2026-03")
    assert admin.post(f"/api/v1/invoices/{march['id']}/transition", json={"to": "issued"}).status_code == 200
    change = f"/api/v1/deployments/{dep.id}/subscription/change"
    end = f"/api/v1/deployments/{dep.id}/subscription/end"
    for url, body, field in ((change, {"plan_code": "scale", "effective_on": "2026-03-20"}, "effective_on"),
                             (end, {"ends_on": "2026-03-15"}, "ends_on")):
        r = admin.post(url, json=body)
        assert r.status_code == 409
        error = r.get_json()["error"]
        assert "2026-03 is already invoiced (ARC-000001, issued)" in error["message"]
        assert "credit note" in error["message"]
        assert error["fields"] == {field: "falls in 2026-03, which is issued"}
    assert database.session.scalar(select(Subscription.ends_on).where(Subscription.deployment_id == dep.id)) is None
    assert not database.session.scalars(select(AuditEntry).where(
        AuditEntry.action.like("subscription.%"))).all()

    april = invoice_for(admin, "2026-04")  # a draft
    assert summary(april) == [("plan_base", None, 5000), ("tax", None, 500)]
    r = admin.post(change, json={"plan_code": "scale", "effective_on": "2026-04-16"})
    assert r.status_code == 200
    rebuilt = invoice_for(admin, "2026-04", force=True)
    assert rebuilt["id"] == april["id"]
    assert summary(rebuilt) == [("plan_base", None, 2500), ("plan_base", None, 6000), ("tax", None, 850)]


def test_an_end_on_the_last_day_of_an_issued_month_changes_nothing_in_it(admin, acme):
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    march = invoice_for(admin, "2026-03")
    admin.post(f"/api/v1/invoices/{march['id']}/transition", json={"to": "issued"})
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscription/end", json={"ends_on": "2026-03-31"})
    assert r.status_code == 200
    assert r.get_json()["subscription"]["ends_on"] == "2026-03-31"


def test_a_voided_invoice_does_not_block(admin, acme, scale):
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    march = invoice_for(admin, "2026-03")
    admin.post(f"/api/v1/invoices/{march['id']}/transition", json={"to": "issued"})
    admin.post(f"/api/v1/invoices/{march['id']}/transition", json={"to": "void"})
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscription/change",
                   json={"plan_code": "scale", "effective_on": "2026-03-20"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "path, body, fields",
    [
        ("change", {"plan_code": "studio", "effective_on": "2026-03-01"},
         {"effective_on": "must be after the running subscription's start (2026-03-01)"}),
        ("change", {"plan_code": "studio", "effective_on": "2026-02-20"},
         {"effective_on": "must be after the running subscription's start (2026-03-01)"}),
        ("change", {"plan_code": "nope", "effective_on": "2026-04-01"}, {"plan_code": "unknown plan 'nope'"}),
        ("change", {"plan_code": "studio", "effective_on": "2026-04-01", "addons": ["x"]},
         {"addons": "unknown addon 'x'"}),
        ("change", {"plan_code": "studio"}, {"effective_on": "is required"}),
        ("change", {"plan_code": "studio", "effective_on": "2026-02-30"},
         {"effective_on": "is not a real calendar date"}),
        ("change", {"plan_code": "studio", "effective_on": "9999-12-31"},
         {"effective_on": "must be between 2000-01-01 and 2999-12-31"}),
        ("change", {"plan_code": "studio", "effective_on": "2026-04-01", "starts_on": "x"},
         {"starts_on": "unknown field"}),
        ("end", {"ends_on": "2026-02-28"}, {"ends_on": "must be on or after the subscription's start (2026-03-01)"}),
        ("end", {"ends_on": 20260401}, {"ends_on": "must be a date as YYYY-MM-DD"}),
        ("end", {}, {"ends_on": "is required"}),
        ("end", {"ends_on": "9999-12-31"}, {"ends_on": "must be between 2000-01-01 and 2999-12-31"}),
    ],
)
def test_validation(admin, acme, path, body, fields):
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscription/{path}", json=body)
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == fields


def test_an_end_on_the_start_day_bills_that_one_day(admin, acme):
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 4, 30))
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscription/end", json={"ends_on": "2026-04-30"})
    assert r.status_code == 200
    assert summary(invoice_for(admin, "2026-04")) == [("plan_base", None, 167), ("tax", None, 17)]


def test_conflicts(admin, acme):
    bare = make_deployment(acme)
    gone = make_deployment(acme, status="decommissioned", plan_code="studio",
                           starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 31))
    for dep in (bare, gone):
        for path, body in (("change", {"plan_code": "studio", "effective_on": "2026-04-16"}),
                           ("end", {"ends_on": "2026-04-16"})):
            r = admin.post(f"/api/v1/deployments/{dep.id}/subscription/{path}", json=body)
            assert r.status_code == 409, (dep.status, path)
    r = admin.post(f"/api/v1/deployments/{gone.id}/subscription/end", json={"ends_on": "2026-04-16"})
    assert "decommissioned" in r.get_json()["error"]["message"]
    assert admin.post(f"/api/v1/deployments/{bare.id}/subscription/end", json=[]).status_code == 400


def test_roles_and_tenants(api_as, acme, catalog):
    globex = make_tenant("globex")
    mine = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    theirs = make_deployment(globex, plan_code="studio", starts_on=date(2026, 3, 1))
    change = {"plan_code": "studio", "effective_on": "2026-04-16"}
    for role in ("tenant_admin", "tenant_viewer"):
        api = api_as(make_user(role, tenant=acme))
        for path, body in (("change", change), ("end", {"ends_on": "2026-04-16"})):
            assert api.post(f"/api/v1/deployments/{mine.id}/subscription/{path}", json=body).status_code == 403
            assert api.post(f"/api/v1/deployments/{theirs.id}/subscription/{path}", json=body).status_code == 404
            assert api.post(f"/api/v1/deployments/999999/subscription/{path}", json=body).status_code == 404


def test_writes_are_audited(admin, acme, scale, database):
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    admin.post(f"/api/v1/deployments/{dep.id}/subscription/change",
               json={"plan_code": "scale", "addons": ["storage_50gb"], "effective_on": "2026-04-16"})
    admin.post(f"/api/v1/deployments/{dep.id}/subscription/end", json={"ends_on": "2026-05-31"})
    rows = database.session.scalars(select(AuditEntry).where(
        AuditEntry.target_type == "deployment", AuditEntry.target_id == dep.id).order_by(AuditEntry.id)).all()
    assert [(r.action, r.actor) for r in rows] == [("subscription.change", "admin@example.com"),
                                                   ("subscription.end", "admin@example.com")]
    assert rows[0].details["effective_on"] == "2026-04-16" and rows[0].details["ends_on"] == "2026-04-15"
    assert rows[0].details["plan"] == "scale" and rows[0].details["addons"] == ["storage_50gb"]
    assert rows[1].details["ends_on"] == "2026-05-31"


def test_decommissioning_brings_a_later_end_forward_to_today(admin, acme):
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    with freeze_time("2026-04-20 10:00:00"):
        admin.post(f"/api/v1/deployments/{dep.id}/subscription/end", json={"ends_on": "2026-06-30"})
        r = admin.post(f"/api/v1/deployments/{dep.id}/transition", json={"to": "decommissioned"})
    assert r.get_json()["subscription"]["ends_on"] == "2026-04-20"


def test_subscribing_back_into_an_issued_month_is_409(api_as, catalog, database):
    """Its days there would never be billed: the month's rollup skips a tenant it invoiced."""
    from portal.services import invoices, rollup
    from tests.factories import make_deployment, make_tenant, make_user

    acme = make_tenant("acme-b", "Acme B")
    make_deployment(acme, name="first", plan_code="studio", starts_on=date(2026, 3, 1))
    admin = make_user()
    rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    (draft,), _ = invoices.list_invoices(admin, tenant_slug="acme-b")
    invoices.transition_invoice(admin, draft.id, {"to": "issued"})
    second = make_deployment(acme, name="second")
    api = api_as(admin)
    r = api.post(f"/api/v1/deployments/{second.id}/subscribe",
                 json={"plan_code": "studio", "addons": [], "starts_on": "2026-03-20"})
    assert r.status_code == 409
    assert r.get_json()["error"]["fields"] == {"starts_on": "falls in 2026-03, which is issued"}
    r = api.post(f"/api/v1/deployments/{second.id}/subscribe",
                 json={"plan_code": "studio", "addons": [], "starts_on": "2026-04-01"})
    assert r.status_code == 201
