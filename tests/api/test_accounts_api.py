"""Tenants and users over the API, for each role, hostile requests included."""
import re

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, MailMessage, User, UserLink
from tests.factories import make_tenant, make_user
from tests.mail.smtp import no_mail_server  # noqa: F401

ABN = "51 824 753 556"


@pytest.fixture
def people(database):
    acme, globex = make_tenant("acme", "Acme"), make_tenant("globex", "Globex")
    return {
        "admin": make_user(email="admin@example.com"),
        "alice": make_user("tenant_admin", tenant=acme, email="alice@example.com"),
        "vic": make_user("tenant_viewer", tenant=acme, email="vic@example.com"),
        "gina": make_user("tenant_admin", tenant=globex, email="gina@example.com"),
        "acme": acme, "globex": globex,
    }


def patch(api, url, json):
    return api.client.patch(url, headers=api.headers, json=json)


def audit(action):
    return [e for e in AuditEntry.query.filter_by(action=action).order_by(AuditEntry.id)]


# --- tenants --------------------------------------------------------------------------------


def test_admin_creates_reads_lists_and_patches_tenants(api_as, people, database):
    api = api_as(people["admin"])
    r = api.post("/api/v1/tenants", json={
        "slug": "initech", "name": "Initech", "billing_address": "1 Office St\nAustin",
        "billing_email": "AP@Initech.EXAMPLE.com", "abn": "51824753556"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body == {"id": body["id"], "slug": "initech", "name": "Initech",
                    "billing_name": "Initech", "billing_address": "1 Office St\nAustin",
                    "billing_email": "AP@initech.example.com", "abn": ABN}
    assert api.get(f"/api/v1/tenants/{body['id']}").get_json() == body

    r = patch(api, f"/api/v1/tenants/{body['id']}", {"billing_name": "Initech Pty Ltd"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {**body, "billing_name": "Initech Pty Ltd"}  # only what was sent
    r = patch(api, f"/api/v1/tenants/{body['id']}", {"abn": None, "billing_email": ""})
    assert (r.get_json()["abn"], r.get_json()["billing_email"]) == (None, None)

    entry = audit("tenant.create")[-1]
    assert (entry.actor, entry.target_id) == ("admin@example.com", body["id"])
    assert audit("tenant.update")[0].details["changed"] == {
        "billing_name": ["Initech", "Initech Pty Ltd"]}

    page = api.get("/api/v1/tenants?per_page=2").get_json()
    assert [t["slug"] for t in page["tenants"]] == ["acme", "globex"]
    assert page["next"] == "/api/v1/tenants?per_page=2&page=2"
    last = api.get(page["next"]).get_json()
    assert [t["slug"] for t in last["tenants"]] == ["initech"] and last["next"] is None


def test_tenant_checks_are_the_pages_checks(api_as, people, database):
    api = api_as(people["admin"])
    r = api.post("/api/v1/tenants", json={"slug": "Bad Slug", "name": " ", "abn": "51 824 753 557",
                                          "billing_email": "not-an-email", "color": "red"})
    assert r.status_code == 422
    fields = r.get_json()["error"]["fields"]
    assert set(fields) == {"color"}  # unknown fields first: a typo never half-creates a tenant
    r = api.post("/api/v1/tenants", json={"slug": "Bad Slug", "name": " ", "abn": "51 824 753 557",
                                          "billing_email": "not-an-email", "billing_address": 5})
    fields = r.get_json()["error"]["fields"]
    assert r.status_code == 422
    assert fields["abn"] == "is not a valid ABN (checksum)"
    assert set(fields) == {"slug", "name", "abn", "billing_email", "billing_address"}
    assert api.post("/api/v1/tenants", json={"slug": "x" * 64, "name": "X"}).status_code == 422
    assert api.post("/api/v1/tenants", json={"slug": "ok", "name": "N" * 201}).status_code == 422
    assert api.post("/api/v1/tenants", json={"name": "No slug"}).status_code == 422
    assert api.post("/api/v1/tenants", json=[1]).status_code == 400
    r = api.post("/api/v1/tenants", json={"slug": "acme", "name": "Acme again"})
    assert r.status_code == 409 and r.get_json()["error"]["fields"] == {"slug": "already exists"}

    acme = people["acme"].id
    r = patch(api, f"/api/v1/tenants/{acme}", {"abn": "123", "name": ""})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"abn", "name"}
    assert patch(api, f"/api/v1/tenants/{acme}", {"slug": "renamed"}).status_code == 422
    assert patch(api, f"/api/v1/tenants/{acme}", {"name": 7}).status_code == 422
    assert patch(api, "/api/v1/tenants/999999", {"name": "x"}).status_code == 404
    assert api.get("/api/v1/tenants/999999").status_code == 404
    assert api.get("/api/v1/tenants?page=0").status_code == 422


def test_a_tenant_admin_reads_only_its_own_tenant(api_as, people, database):
    api = api_as(people["alice"])
    acme, globex = people["acme"], people["globex"]
    r = api.get(f"/api/v1/tenants/{acme.id}")
    assert r.status_code == 200 and r.get_json()["slug"] == "acme"
    assert api.get(f"/api/v1/tenants/{globex.id}").status_code == 404  # not 403: no leak
    assert patch(api, f"/api/v1/tenants/{globex.id}", {"name": "Pwned"}).status_code == 404
    assert patch(api, f"/api/v1/tenants/{acme.id}", {"name": "Mine"}).status_code == 403
    assert api.get("/api/v1/tenants").status_code == 403
    assert api.post("/api/v1/tenants", json={"slug": "mine", "name": "Mine"}).status_code == 403
    viewer = api_as(people["vic"])
    assert viewer.get(f"/api/v1/tenants/{acme.id}").status_code == 403
    database.session.refresh(globex)
    assert globex.name == "Globex"


# --- users ----------------------------------------------------------------------------------


def test_admin_invites_a_tenant_user_and_a_platform_admin(api_as, people, database, no_mail_server):
    api = api_as(people["admin"])
    r = api.post("/api/v1/users", json={"email": "New@Example.com", "role": "tenant_viewer",
                                        "tenant": "globex"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body == {"id": body["id"], "email": "new@example.com", "role": "tenant_viewer",
                    "tenant": "globex", "active": True, "invited": True}
    r = api.post("/api/v1/users", json={"email": "ops@example.com", "role": "platform_admin"})
    assert r.status_code == 201 and r.get_json()["tenant"] is None

    mails = database.session.scalars(select(MailMessage).where(
        MailMessage.kind == "invitation").order_by(MailMessage.id)).all()
    assert [m.to_address for m in mails] == ["new@example.com", "ops@example.com"]
    assert mails[0].status == "not_sent"  # no mail server: the outbox shows it
    token = re.search(r"/password/link/([\w-]+)", mails[0].body).group(1)
    link = database.session.scalar(select(UserLink).where(UserLink.user_id == body["id"]))
    assert link.purpose == "invite" and token not in link.token_hash  # stored hashed
    assert (link.expires_at - link.created_at).total_seconds() == 72 * 3600
    assert [e.details["email"] for e in audit("user.invite")] == ["new@example.com", "ops@example.com"]

    listed = api.get("/api/v1/users?tenant=globex").get_json()
    assert [u["email"] for u in listed["users"]] == ["gina@example.com", "new@example.com"]
    assert listed["next"] is None
    everyone = api.get("/api/v1/users?per_page=3").get_json()
    assert len(everyone["users"]) == 3 and everyone["next"] == "/api/v1/users?per_page=3&page=2"
    assert api.get("/api/v1/users?tenant=nope").status_code == 404


def test_invitation_checks(api_as, people, database, no_mail_server):
    api = api_as(people["admin"])
    r = api.post("/api/v1/users", json={"email": "vic@example.com", "role": "tenant_viewer",
                                        "tenant": "acme"})
    assert r.status_code == 409 and r.get_json()["error"]["fields"] == {"email": "already exists"}
    r = api.post("/api/v1/users", json={"email": "VIC@example.com", "role": "tenant_viewer",
                                        "tenant": "acme"})
    assert r.status_code == 409  # emails are one case
    for body, field in (({"email": "x", "role": "tenant_viewer", "tenant": "acme"}, "email"),
                        ({"email": "a@example.com", "role": "god", "tenant": "acme"}, "role"),
                        ({"email": "a@example.com", "role": "tenant_viewer"}, "tenant"),
                        ({"email": "a@example.com", "role": "tenant_viewer", "tenant": "nope"}, "tenant"),
                        ({"email": "a@example.com", "role": "platform_admin", "tenant": "acme"}, "tenant"),
                        ({"email": ["a"], "role": "tenant_viewer", "tenant": "acme"}, "email"),
                        ({"email": "a@example.com", "role": "tenant_viewer", "tenant": 3}, "tenant"),
                        ({"email": "a@example.com", "role": "tenant_viewer", "tenant": "acme",
                          "password": "x"}, "password")):
        r = api.post("/api/v1/users", json=body)
        assert r.status_code == 422, body
        assert field in r.get_json()["error"]["fields"], body
    assert api.post("/api/v1/users", json="x").status_code == 400
    assert User.query.filter_by(email="a@example.com").count() == 0


def test_a_tenant_admin_invites_into_its_own_tenant_only(api_as, people, database, no_mail_server):
    api = api_as(people["alice"])
    r = api.post("/api/v1/users", json={"email": "bob@example.com", "role": "tenant_admin"})
    assert r.status_code == 201 and r.get_json()["tenant"] == "acme"  # its own by default
    r = api.post("/api/v1/users", json={"email": "eve@example.com", "role": "platform_admin"})
    assert r.status_code == 403
    r = api.post("/api/v1/users", json={"email": "eve@example.com", "role": "tenant_admin",
                                        "tenant": "globex"})
    assert r.status_code == 404  # another tenant, as if it did not exist
    r = api.post("/api/v1/users", json={"email": "eve@example.com", "role": "tenant_admin",
                                        "tenant": "no-such"})
    assert r.status_code == 404  # indistinguishable from another tenant's
    assert User.query.filter_by(email="eve@example.com").count() == 0

    listed = api.get("/api/v1/users").get_json()["users"]
    assert [u["email"] for u in listed] == ["alice@example.com", "bob@example.com", "vic@example.com"]
    assert api.get("/api/v1/users?tenant=globex").status_code == 404
    assert api.get("/api/v1/users?tenant=acme").status_code == 200


def test_deactivation_through_the_api(api_as, people, database):
    alice, gina, vic = people["alice"], people["gina"], people["vic"]
    api = api_as(alice)
    assert api.post(f"/api/v1/users/{gina.id}/deactivate").status_code == 404
    assert api.post(f"/api/v1/users/{people['admin'].id}/deactivate").status_code == 404
    assert api.post("/api/v1/users/999999/deactivate").status_code == 404
    assert api.post(f"/api/v1/users/{alice.id}/deactivate").status_code == 409
    r = api.post(f"/api/v1/users/{vic.id}/deactivate")
    assert r.status_code == 200 and r.get_json()["active"] is False
    database.session.refresh(gina)
    assert gina.active
    assert [e.details["email"] for e in audit("user.deactivate")] == ["vic@example.com"]
    admin = api_as(people["admin"])
    assert admin.post(f"/api/v1/users/{gina.id}/deactivate").get_json()["active"] is False


def test_a_viewer_manages_no_users(api_as, people, database):
    api = api_as(people["vic"])
    assert api.get("/api/v1/users").status_code == 403
    assert api.post("/api/v1/users", json={"email": "z@example.com", "role": "tenant_viewer"}).status_code == 403
    assert api.post(f"/api/v1/users/{people['alice'].id}/deactivate").status_code == 403


@pytest.mark.parametrize("method, path", [
    ("get", f"/api/v1/tenants/{10**30}"), ("patch", f"/api/v1/tenants/{2**63}"),
    ("post", f"/api/v1/users/{10**30}/deactivate"), ("get", "/api/v1/users?page=99999999999"),
    ("get", "/api/v1/tenants?per_page=501"),
])
def test_out_of_range_ids_and_pages(api_as, people, method, path):
    api = api_as(people["admin"])
    r = getattr(api.client, method)(path, headers=api.headers, json={"name": "x"})
    assert r.status_code in (404, 405, 422), (path, r.status_code)  # the router caps ids
    assert set(r.get_json()["error"]) == {"code", "message", "fields"}


def test_oversized_values_are_422(api_as, people):
    api = api_as(people["admin"])
    assert api.post("/api/v1/users", json={"email": "a" * 10_000 + "@example.com", "role": "tenant_viewer",
                                           "tenant": "acme"}).status_code == 422
    assert api.post("/api/v1/tenants", json={"slug": "big", "name": "Big",
                                             "billing_address": "x" * 1001}).status_code == 422
    assert api.post("/api/v1/tenants", json={"slug": "big", "name": "Big",
                                             "billing_email": "a" * 300 + "@x.com"}).status_code == 422
