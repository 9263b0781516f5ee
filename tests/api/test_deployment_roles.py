"""Who moves a deployment: platform admins make every transition; a tenant_admin may only
decommission its own tenant's deployments; a tenant_viewer none (403). Another tenant's
deployment is 404 for every role, checked before the role. The API and the pages agree."""
import re

import pytest

from portal.extensions import db
from portal.models import Deployment
from portal.models.deployments import TRANSITIONS
from tests.factories import make_deployment, make_tenant, make_user

# Every edge of the state machine: (from, to).
EDGES = [(src, dst) for src, targets in TRANSITIONS.items() for dst in targets]
ROLES = ("platform_admin", "tenant_admin", "tenant_viewer")


def expected(role: str, to: str) -> int:
    if role == "platform_admin":
        return 200
    if role == "tenant_admin" and to == "decommissioned":
        return 200
    return 403


@pytest.fixture
def acme(catalog):
    return make_tenant("acme", "Acme AI")


def _user(role, tenant):
    return make_user(role, tenant=None if role == "platform_admin" else tenant)


def _status(dep_id):
    db.session.expire_all()
    return db.session.get(Deployment, dep_id).status


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("src, dst", EDGES)
def test_each_role_and_transition_through_the_api(api_as, acme, role, src, dst):
    dep = make_deployment(acme, status=src)
    api = api_as(_user(role, acme))
    r = api.post(f"/api/v1/deployments/{dep.id}/transition", json={"to": dst})
    assert r.status_code == expected(role, dst), r.get_json()
    if r.status_code == 200:
        assert r.get_json()["status"] == dst and _status(dep.id) == dst
    else:
        assert r.get_json()["error"]["code"] == "forbidden" and _status(dep.id) == src


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("src, dst", EDGES)
def test_each_role_and_transition_through_the_page(browser, acme, role, src, dst):
    dep = make_deployment(acme, status=src)
    user = _user(role, acme)
    browser.login(user.email)
    r = browser.post(f"/deployments/{dep.id}/transition", htmx=True, data={"to": dst})
    assert r.status_code == expected(role, dst)
    assert _status(dep.id) == (dst if r.status_code == 200 else src)


@pytest.mark.parametrize("role", ["tenant_admin", "tenant_viewer"])
@pytest.mark.parametrize("to", ["provisioning", "active", "suspended", "decommissioned", "bogus"])
def test_another_tenants_deployment_is_404_for_every_role_before_the_role(api_as, browser, acme, role, to):
    theirs = make_deployment(make_tenant("globex"), status="active")
    user = _user(role, acme)
    api = api_as(user)
    r = api.post(f"/api/v1/deployments/{theirs.id}/transition", json={"to": to})
    assert r.status_code == 404
    browser.login(user.email)
    assert browser.post(f"/deployments/{theirs.id}/transition", htmx=True, data={"to": to}).status_code == 404
    assert _status(theirs.id) == "active"


def test_tenant_admin_may_not_resume_what_an_admin_suspended(api_as, acme):
    dep = make_deployment(acme, status="suspended")
    api = api_as(make_user("tenant_admin", tenant=acme))
    r = api.post(f"/api/v1/deployments/{dep.id}/transition", json={"to": "active"})
    assert r.status_code == 403
    assert r.get_json()["error"]["message"] == "Your role may only decommission a deployment."
    assert _status(dep.id) == "suspended"


def test_tenant_admin_decommissioning_from_a_state_that_cannot_is_409(api_as, acme):
    dep = make_deployment(acme, status="requested")
    api = api_as(make_user("tenant_admin", tenant=acme))
    r = api.post(f"/api/v1/deployments/{dep.id}/transition", json={"to": "decommissioned"})
    assert r.status_code == 409
    assert r.get_json()["error"]["fields"] == {"to": "allowed: provisioning"}


def _actions(html: str) -> list[str]:
    section = html.split('<section id="deployment-status"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'name="to" value="([a-z]+)"', section)


@pytest.mark.parametrize("src", list(TRANSITIONS))
def test_the_page_offers_each_role_only_its_actions(browser, acme, src):
    dep = make_deployment(acme, status=src)
    for role in ROLES:
        user = _user(role, acme)
        browser.login(user.email)
        html = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
        if role == "platform_admin":
            assert _actions(html) == list(TRANSITIONS[src])
        elif role == "tenant_admin":
            assert _actions(html) == [t for t in TRANSITIONS[src] if t == "decommissioned"]
        else:
            assert _actions(html) == []
        browser.client.post("/logout", headers={"X-CSRFToken": browser.csrf_token()})
