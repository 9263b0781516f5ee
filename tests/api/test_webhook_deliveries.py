"""A webhook's deliveries after an outage: filtered by status, paged by cursor, and every failed
one sent again in one call, which a real receiver then gets in order, once each."""
import json

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from portal.models import AuditEntry, WebhookDelivery
from portal.models.tenancy import TENANT_ADMIN, TENANT_VIEWER
from tests.conftest import run_worker
from tests.factories import make_tenant, make_user
from tests.webhook_outage import OUTCOMES, seven_events




@pytest.fixture
def outage(api_as, catalog, database, receiver, app, monkeypatch):
    """(admin API, webhook id, the seven events' public ids oldest first)."""
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", [])  # one failure is final
    admin = api_as(make_user(email="ops@example.com"))
    hook = admin.post("/api/v1/webhooks", json={"url": receiver.url,
                                                "events": ["rollup.finished"]}).get_json()
    events, counts = seven_events(receiver, database)
    assert counts == {"succeeded": 2, "retrying": 0, "failed": 3}
    assert len(receiver.requests) == 5
    return admin, hook["id"], events


def _listed(body):
    return [(d["event_id"], d["status"]) for d in body["deliveries"]]


def test_newest_event_first_with_each_status(outage):
    admin, hook_id, events = outage
    body = admin.get(f"/api/v1/webhooks/{hook_id}/deliveries").get_json()
    assert _listed(body) == list(zip(events, OUTCOMES))[::-1]
    assert body["next"] is None
    assert [d["attempts"] for d in body["deliveries"]] == [0, 0, 1, 1, 1, 1, 1]
    assert [d["last_status_code"] for d in body["deliveries"]] == [None, None, 500, 500, 200, 500, 200]


@pytest.mark.parametrize("status, expected", [
    ("failed", [4, 3, 1]), ("succeeded", [2, 0]), ("pending", [6, 5]),
    ("", [6, 5, 4, 3, 2, 1, 0]),  # blank: no filter, as the page's "Any" sends it
])
def test_the_status_filter(outage, status, expected):
    admin, hook_id, events = outage
    body = admin.get(f"/api/v1/webhooks/{hook_id}/deliveries?status={status}").get_json()
    assert [d["event_id"] for d in body["deliveries"]] == [events[i] for i in expected]
    assert {d["status"] for d in body["deliveries"]} == ({status} if status else set(OUTCOMES))


def _follow(admin, path):
    pages, seen = [], []
    while path:
        r = admin.get(path)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        pages.append([d["event_id"] for d in body["deliveries"]])
        seen.append(path)
        path = body["next"]
    return pages, seen


def test_cursor_paging_walks_every_delivery_once(outage):
    admin, hook_id, e = outage
    base = f"/api/v1/webhooks/{hook_id}/deliveries"
    pages, paths = _follow(admin, f"{base}?per_page=2")
    assert pages == [[e[6], e[5]], [e[4], e[3]], [e[2], e[1]], [e[0]]]
    assert paths[1:] == [f"{base}?per_page=2&cursor=o.{n}" for n in _event_keys(e, [5, 3, 1])]

    # The filter and the order travel with the cursor.
    pages, paths = _follow(admin, f"{base}?status=failed&per_page=2")
    assert pages == [[e[4], e[3]], [e[1]]]
    assert paths[1].startswith(f"{base}?status=failed&per_page=2&cursor=o.")
    pages, _ = _follow(admin, f"{base}?sort=event&per_page=3")
    assert pages == [e[0:3], e[3:6], [e[6]]]

    # Old callers paging by number still get their page, and a cursor to go on with.
    body = admin.get(f"{base}?per_page=2&page=2").get_json()
    assert [d["event_id"] for d in body["deliveries"]] == [e[4], e[3]]
    assert body["next"] == f"{base}?per_page=2&cursor=o.{_event_keys(e, [3])[0]}"


def _event_keys(public_ids, indexes):
    from portal.extensions import db
    from portal.models import WebhookEvent

    ids = dict(db.session.execute(select(WebhookEvent.public_id, WebhookEvent.id)).all())
    return [ids[public_ids[i]] for i in indexes]


HOSTILE = [
    ("status=bogus", {"status"}), ("status=FAILED", {"status"}), ("status=%00", None),
    ("cursor=garbage", {"cursor"}), ("cursor=o.1.2", {"cursor"}), ("cursor=o.-1", {"cursor"}),
    ("cursor=o.99999999999", {"cursor"}), ("cursor=x.5", {"cursor"}),
    ("cursor=o.-event.5", {"cursor"}),  # a cursor of the other order
    ("cursor=o.5&page=2", {"cursor"}), ("per_page=0", {"per_page"}), ("per_page=501", {"per_page"}),
    ("page=-1", {"page"}), ("sort=status", {"sort"}),
    ("status=bogus&cursor=garbage&sort=x", {"status", "cursor", "sort"}),  # all named at once
]


@pytest.mark.parametrize("query, fields", HOSTILE)
def test_hostile_query_strings_are_422_never_500(outage, query, fields):
    admin, hook_id, _ = outage
    r = admin.get(f"/api/v1/webhooks/{hook_id}/deliveries?{query}")
    assert r.status_code == 422, (query, r.status_code)
    if fields is not None:
        assert set(r.get_json()["error"]["fields"]) == fields


def test_unknown_or_deleted_webhook_is_404(outage):
    admin, hook_id, _ = outage
    assert admin.get("/api/v1/webhooks/999999/deliveries?status=bogus").status_code == 404
    assert admin.post("/api/v1/webhooks/999999/deliveries/redeliver-failed").status_code == 404
    assert admin.client.delete(f"/api/v1/webhooks/{hook_id}", headers=admin.headers).status_code == 204
    assert admin.get(f"/api/v1/webhooks/{hook_id}/deliveries").status_code == 404
    assert admin.post(f"/api/v1/webhooks/{hook_id}/deliveries/redeliver-failed").status_code == 404


def test_redeliver_all_failed_sends_them_again_in_order_once(outage, receiver, database):
    admin, hook_id, e = outage
    r = admin.post(f"/api/v1/webhooks/{hook_id}/deliveries/redeliver-failed")
    assert r.status_code == 200 and r.get_json() == {"redelivered": 3}
    # Inline (no worker): the one dispatch sent the three failed ones, then the two that were
    # waiting behind them, in order of occurrence, each once.
    sent = [json.loads(req["body"])["id"] for req in receiver.requests[5:]]
    assert sent == [e[1], e[3], e[4], e[5], e[6]]
    body = admin.get(f"/api/v1/webhooks/{hook_id}/deliveries").get_json()
    assert _listed(body) == [(x, "succeeded") for x in e[::-1]]
    assert [d["attempts"] for d in body["deliveries"]] == [1, 1, 1, 1, 1, 1, 1]
    # Each failed one keeps its history: the 500, then the 200.
    assert [a["status_code"] for a in body["deliveries"][2]["attempt_log"]] == [500, 200]

    # Right after, none has failed: nothing is reset, sent or audited again.
    again = admin.post(f"/api/v1/webhooks/{hook_id}/deliveries/redeliver-failed")
    assert again.status_code == 200 and again.get_json() == {"redelivered": 0}
    assert len(receiver.requests) == 10
    entries = database.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "webhook.redeliver_failed")).all()
    assert [(a.actor, a.target_type, a.target_id, a.details) for a in entries] == [
        ("ops@example.com", "webhook", hook_id,
         {"count": 3, "first_event": e[1], "last_event": e[4]})]


def test_redeliver_all_failed_resets_each_as_the_single_redeliver_does(outage, receiver, database,
                                                                       redis_queue, app):
    """With a worker: the call resets and answers at once; one job is queued; the worker then
    delivers them in order."""
    admin, hook_id, e = outage
    queue = Queue("portal-tests-messages", connection=Redis.from_url(redis_queue))
    r = admin.post(f"/api/v1/webhooks/{hook_id}/deliveries/redeliver-failed")
    assert r.get_json() == {"redelivered": 3}
    assert len(receiver.requests) == 5 and queue.count == 1  # one dispatch, nothing sent yet
    rows = database.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id)
        .order_by(WebhookDelivery.event_id)).all()
    assert [(d.status, d.attempts) for d in rows] == [
        ("succeeded", 1), ("pending", 0), ("succeeded", 1), ("pending", 0), ("pending", 0),
        ("pending", 0), ("pending", 0)]
    reset = [rows[i] for i in (1, 3, 4)]
    assert len({d.next_attempt_at for d in reset}) == 1  # all due at the same moment: now
    assert run_worker(app) == 1
    assert [json.loads(q["body"])["id"] for q in receiver.requests[5:]] == [e[1], e[3], e[4], e[5], e[6]]


def test_an_idempotency_key_replays_the_count_without_redelivering(outage, receiver):
    admin, hook_id, _ = outage
    path = f"/api/v1/webhooks/{hook_id}/deliveries/redeliver-failed"
    headers = {**admin.headers, "Idempotency-Key": "after-the-outage"}
    first = admin.client.post(path, headers=headers)
    replay = admin.client.post(path, headers=headers)
    assert first.get_json() == replay.get_json() == {"redelivered": 3}
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(receiver.requests) == 10  # 5 before, 5 after the first call; none for the replay


@pytest.mark.parametrize("role", [TENANT_ADMIN, TENANT_VIEWER])
def test_tenant_roles_are_refused(outage, api_as, role, receiver):
    _, hook_id, _ = outage
    tenant = api_as(make_user(role, make_tenant()))
    assert tenant.get(f"/api/v1/webhooks/{hook_id}/deliveries").status_code == 403
    assert tenant.post(f"/api/v1/webhooks/{hook_id}/deliveries/redeliver-failed").status_code == 403
    assert tenant.post("/api/v1/webhooks/999999/deliveries/redeliver-failed").status_code == 403
    assert len(receiver.requests) == 5
