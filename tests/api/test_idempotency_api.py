"""The Idempotency-Key header: one key, one effect, one answer (PostgreSQL, real commits).

These tests use the ``committed`` fixture: a claim lives in its own transaction beside the
request's, as on a real server, and concurrent requests each run on their own connection."""
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ApiToken, Deployment, IdempotencyKey, UsageEvent
from portal.services import accounts
from tests.conftest import IsolatedClient
from tests.factories import hourly_events, make_deployment, make_tenant, make_user

APRIL_1 = datetime(2026, 4, 1, tzinfo=timezone.utc)


class Script:
    """A script with a bearer token that may send an Idempotency-Key."""

    def __init__(self, client, token: str):
        self.client, self.token = client, token

    def post(self, url, json=None, key: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post(url, json=json, headers=headers, **kwargs)

    def get(self, url, key: str | None = None):
        headers = {"Authorization": f"Bearer {self.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.get(url, headers=headers)


@pytest.fixture
def http(app, committed):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def admin_user(committed):
    return make_user()


@pytest.fixture
def admin(http, admin_user):
    return Script(http, accounts.create_token(admin_user.email))


@pytest.fixture
def dep(committed):
    return make_deployment(make_tenant("acme"))


def count(model) -> int:
    db.session.remove()  # a fresh look at what is committed
    return db.session.scalar(select(func.count()).select_from(model))


def answer(response):
    return response.status_code, response.get_data(), response.content_type


def test_the_same_create_twice_makes_one_deployment_and_answers_the_same(admin, committed):
    make_tenant("acme")
    body = {"name": "inference", "region": "syd1", "tenant": "acme"}
    first = admin.post("/api/v1/deployments", json=body, key="create-inference-1")
    again = admin.post("/api/v1/deployments", json=body, key="create-inference-1")
    assert first.status_code == 201
    assert first.get_json()["name"] == "inference"
    assert answer(again) == answer(first)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(Deployment) == 1


def test_without_the_header_nothing_changes(admin, dep):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 5)
    assert admin.post("/api/v1/usage", json={"events": events}).get_json() == {
        "accepted": 5, "duplicates": 0}
    # Sent again without a key, the batch runs again (and event ids dedupe it, as before).
    assert admin.post("/api/v1/usage", json={"events": events}).get_json() == {
        "accepted": 0, "duplicates": 5}
    assert count(IdempotencyKey) == 0


def test_a_replayed_batch_is_the_first_answer_not_a_second_run(admin, dep):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 5)
    first = admin.post("/api/v1/usage", json={"events": events}, key="batch-1")
    again = admin.post("/api/v1/usage", json={"events": events}, key="batch-1")
    assert first.get_json() == {"accepted": 5, "duplicates": 0}
    assert answer(again) == answer(first)  # not {"accepted": 0, "duplicates": 5}
    assert count(UsageEvent) == 5


def test_the_same_key_with_another_body_is_422_and_does_nothing(admin, dep):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 5)
    admin.post("/api/v1/usage", json={"events": events}, key="batch-1")
    other = hourly_events(dep.id, "llm_tokens", APRIL_1, 3)
    r = admin.post("/api/v1/usage", json={"events": other}, key="batch-1")
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "validation_error"
    assert "Idempotency-Key" in error["fields"]
    assert count(UsageEvent) == 5
    # The same key on another path is another request too.
    r = admin.post("/api/v1/deployments", json={"events": events}, key="batch-1")
    assert r.status_code == 422 and "Idempotency-Key" in r.get_json()["error"]["fields"]


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\xe9", "tab\there"])
def test_a_key_that_is_empty_too_long_or_not_printable_ascii_is_422(admin, dep, key):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 2)
    r = admin.post("/api/v1/usage", json={"events": events}, key=key)
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {
        "Idempotency-Key": "must be 1 to 255 printable ASCII characters"}
    assert count(UsageEvent) == 0 and count(IdempotencyKey) == 0


def test_a_key_of_255_characters_is_taken(admin, dep):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 2)
    key = "k" * 254 + "~"
    assert admin.post("/api/v1/usage", json={"events": events}, key=key).status_code == 200
    again = admin.post("/api/v1/usage", json={"events": events}, key=key)
    assert again.get_json() == {"accepted": 2, "duplicates": 0}
    assert count(UsageEvent) == 2


def test_another_token_with_the_same_key_is_independent(http, admin, admin_user, dep):
    second = Script(http, accounts.create_token(admin_user.email))  # same user, other token
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 4)
    assert admin.post("/api/v1/usage", json={"events": events}, key="k1").get_json() == {
        "accepted": 4, "duplicates": 0}
    # Not the first token's answer: this token's request runs (and event ids dedupe it).
    assert second.post("/api/v1/usage", json={"events": events}, key="k1").get_json() == {
        "accepted": 0, "duplicates": 4}
    # ...and a different body under the same key is no conflict across tokens.
    other = hourly_events(dep.id, "llm_tokens", APRIL_1, 1)
    third = Script(http, accounts.create_token(make_user().email))
    assert third.post("/api/v1/usage", json={"events": other}, key="k1").status_code == 200
    assert count(IdempotencyKey) == 3


def test_a_key_is_fresh_again_after_24_hours(admin, dep):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 3)
    other = hourly_events(dep.id, "llm_tokens", APRIL_1, 2)
    with freeze_time("2026-06-01 10:00:00") as clock:
        first = admin.post("/api/v1/usage", json={"events": events}, key="daily")
        assert first.get_json() == {"accepted": 3, "duplicates": 0}
        clock.move_to("2026-06-02 09:59:59")  # still within 24 hours: replayed / refused
        assert answer(admin.post("/api/v1/usage", json={"events": events}, key="daily")) == \
            answer(first)
        assert admin.post("/api/v1/usage", json={"events": other}, key="daily").status_code == 422
        clock.move_to("2026-06-02 10:00:00")  # 24 hours on: the key names a new request
        r = admin.post("/api/v1/usage", json={"events": other}, key="daily")
        assert r.get_json() == {"accepted": 2, "duplicates": 0}
        assert "Idempotent-Replayed" not in r.headers
        assert admin.post("/api/v1/usage", json={"events": other}, key="daily").get_json() == \
            {"accepted": 2, "duplicates": 0}
    assert count(UsageEvent) == 5
    assert count(IdempotencyKey) == 1


def test_expired_keys_are_cleared_by_later_claims(admin, dep):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 1)
    with freeze_time("2026-06-01 10:00:00") as clock:
        for n in range(5):
            admin.post("/api/v1/usage", json={"events": events}, key=f"old-{n}")
        assert count(IdempotencyKey) == 5
        clock.move_to("2026-06-03 10:00:00")
        admin.post("/api/v1/usage", json={"events": events}, key="new")
    assert count(IdempotencyKey) == 1


def test_a_refusal_is_the_first_answer_too(admin, committed):
    """A 4xx is the answer the request got: replayed as it is, even once the cause is gone."""
    body = {"name": "inference", "region": "syd1", "tenant": "later"}
    first = admin.post("/api/v1/deployments", json=body, key="create-later")
    assert first.status_code == 422 and "tenant" in first.get_json()["error"]["fields"]
    make_tenant("later")
    again = admin.post("/api/v1/deployments", json=body, key="create-later")
    assert answer(again) == answer(first)
    assert count(Deployment) == 0
    # A new key runs the request again.
    assert admin.post("/api/v1/deployments", json=body, key="create-later-2").status_code == 201


def test_a_server_error_gives_the_key_back_for_a_retry(admin, dep, monkeypatch):
    from portal.services import usage

    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 3)
    real_ingest = usage.ingest

    def broken(_data):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(usage, "ingest", broken)
    assert admin.post("/api/v1/usage", json={"events": events}, key="retry-me").status_code == 500
    assert count(IdempotencyKey) == 0
    monkeypatch.setattr(usage, "ingest", real_ingest)
    r = admin.post("/api/v1/usage", json={"events": events}, key="retry-me")
    assert r.get_json() == {"accepted": 3, "duplicates": 0}


def test_get_requests_ignore_the_header(admin, dep):
    for key in ("list-1", "k" * 300):  # not even validated: only POSTs take keys
        r = admin.get("/api/v1/deployments", key=key)
        assert r.status_code == 200 and len(r.get_json()["deployments"]) == 1
    r = admin.get(f"/api/v1/deployments/{dep.id}", key="list-1")
    assert r.status_code == 200 and r.get_json()["id"] == dep.id
    assert count(IdempotencyKey) == 0


# --- concurrency ---------------------------------------------------------------------------

CLIENTS = 8


def _post_from_threads(app, make_request, n):
    """``n`` threads, each its own client and request, released together."""
    barrier = threading.Barrier(n)
    answers, errors = [], []

    def run():
        try:
            client = app.test_client()
            barrier.wait(timeout=30)
            answers.append(make_request(client))
        except Exception as exc:  # surfaced by the caller: a thread's failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, answers, errors


def test_concurrent_replays_of_one_batch_count_it_once(app, admin, dep):
    events = hourly_events(dep.id, "llm_tokens", APRIL_1, 1000, quantity=7)
    headers = {"Authorization": f"Bearer {admin.token}", "Idempotency-Key": "batch-concurrent"}

    def send(client):
        return answer(client.post("/api/v1/usage", json={"events": events}, headers=headers))

    threads, answers, errors = _post_from_threads(app, send, CLIENTS)
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(answers) == CLIENTS
    first = (200, b'{"accepted":1000,"duplicates":0}\n', "application/json")
    assert {a[0] for a in answers} <= {200, 409}
    assert [a for a in answers if a[0] == 200] == [first] * sum(a[0] == 200 for a in answers)
    assert count(UsageEvent) == 1000
    assert db.session.scalar(select(func.sum(UsageEvent.quantity))) == 7000
    # Once it has finished, every retry gets the first answer.
    for client in (app.test_client() for _ in range(3)):
        assert send(client) == first


def test_while_the_first_request_runs_every_retry_is_409(app, admin, dep, committed):
    """Hold the first request inside its work (a lock on the events table), so that all the
    other clients meet its claim while it runs; then let it finish. All five use a fresh
    token, so they race to stamp its last_used_at: a client that lost that race used to keep
    the token's row locked through its work and, when it was the one that got the claim, the
    retries behind it never answered (the next test pins that case down)."""
    clients = 5
    events = hourly_events(dep.id, "llm_tokens", APRIL_1, 200, quantity=7)
    headers = {"Authorization": f"Bearer {admin.token}", "Idempotency-Key": "batch-held"}

    def send(client):
        return answer(client.post("/api/v1/usage", json={"events": events}, headers=headers))

    holder = committed.engine.connect()
    holder_tx = holder.begin()
    holder.execute(sa.text("LOCK TABLE usage_events IN EXCLUSIVE MODE"))  # reads pass, writes wait
    try:
        threads, answers, errors = _post_from_threads(app, send, clients)
        deadline = time.monotonic() + 60  # answered in 2 s, under 10 s with the CPUs saturated
        while len(answers) + len(errors) < clients - 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Every client but the one doing the work has been answered, and it was 409.
        assert errors == []
        assert [a[0] for a in answers] == [409] * (clients - 1)
        assert b"still running" in answers[0][1]
    finally:
        holder_tx.rollback()
        holder.close()
    for t in threads:
        t.join(timeout=120)
    first = (200, b'{"accepted":200,"duplicates":0}\n', "application/json")
    assert errors == [] and answers[-1] == first
    assert count(UsageEvent) == 200
    assert send(app.test_client()) == first


def _blocked_by(pid: int) -> int:
    """How many database sessions are waiting on a lock that session ``pid`` holds."""
    with db.engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity "
                                   "WHERE :pid = ANY(pg_blocking_pids(pid))"), {"pid": pid})


def _wait_for(condition, seconds=60) -> bool:
    for _ in range(int(seconds / 0.05)):  # time.sleep, not the clock: freezegun stops that
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_retry_is_409_even_when_the_running_request_met_another_token_stamp(
        app, admin, dep, committed):
    """The first request's token stamp (last_used_at, once a minute) meets another request's
    stamp still uncommitted. In READ COMMITTED that UPDATE waits, then locks the row's new
    version and matches nothing; the request used to keep that lock through its whole work,
    so a retry whose own stamp was due waited behind the running request instead of getting
    its 409. The stamp now skips a locked row and always ends its transaction."""
    events = hourly_events(dep.id, "llm_tokens", APRIL_1, 10, quantity=7)
    headers = {"Authorization": f"Bearer {admin.token}", "Idempotency-Key": "batch-stamped"}
    token_id = db.session.scalar(select(ApiToken.id))
    db.session.remove()
    first_answer, retry_answer = [], []

    def send(into):
        into.append(answer(app.test_client().post("/api/v1/usage", json={"events": events},
                                                  headers=headers)))

    stamped = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)
    with freeze_time(stamped) as clock:
        stamper = committed.engine.connect()  # another request of this token, stamping it
        stamper_tx = stamper.begin()
        stamper.execute(sa.update(ApiToken).where(ApiToken.id == token_id)
                        .values(last_used_at=stamped))
        holder = committed.engine.connect()  # keeps the first request inside its work
        holder_tx = holder.begin()
        holder.execute(sa.text("LOCK TABLE usage_events IN EXCLUSIVE MODE"))
        stamper_pid = stamper.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        first = threading.Thread(target=send, args=(first_answer,))
        retry = threading.Thread(target=send, args=(retry_answer,))
        try:
            first.start()
            # Either its stamp waits for the other one, or (skipping it) its work has begun.
            assert _wait_for(lambda: _blocked_by(stamper_pid) + _blocked_by(holder_pid) == 1)
            stamper_tx.commit()
            assert _wait_for(lambda: _blocked_by(holder_pid) == 1)  # in its work, key claimed
            clock.tick(61)  # the retry's stamp is due
            retry.start()
            retry.join(timeout=60)
            assert retry_answer and retry_answer[0][0] == 409
            assert b"still running" in retry_answer[0][1]
        finally:
            holder_tx.rollback()
            holder.close()
            stamper.close()
            first.join(timeout=120)
            retry.join(timeout=120)
    assert first_answer == [(200, b'{"accepted":10,"duplicates":0}\n', "application/json")]
    assert count(UsageEvent) == 10
    # The other request's stamp, then the retry's a minute later; none by the first request.
    assert db.session.scalar(select(ApiToken.last_used_at)) == stamped + timedelta(seconds=61)


def test_a_key_in_a_rolled_back_test_transaction_never_hangs_or_runs_twice(client, database):
    """Most tests run in one rolled-back transaction on one connection. A claim then takes a
    savepoint on that connection (a connection of its own would wait for ever on the test's
    uncommitted token row). The stored answer is written after the work's commit, inside the
    savepoint the request session reopened for serialising, and that one is rolled back at
    teardown: so in this fixture a retry meets the claim still running (409), never a second
    run. Tests of replays use the ``committed`` fixture, as above."""
    make_tenant("acme")
    script = Script(client, accounts.create_token(make_user().email))
    body = {"name": "inference", "region": "syd1", "tenant": "acme"}
    first = script.post("/api/v1/deployments", json=body, key="in-a-test-transaction")
    again = script.post("/api/v1/deployments", json=body, key="in-a-test-transaction")
    assert first.status_code == 201
    assert again.status_code == 409 or answer(again) == answer(first)
    assert database.session.scalar(select(func.count()).select_from(Deployment)) == 1


def test_a_stored_answer_is_unreadable_without_the_token_that_got_it(admin, dep):
    """An answer may carry a secret shown once (a new token, a webhook secret): the database
    keeps it sealed with a key derived from the caller's bearer token, which it never holds."""
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 2)
    first = admin.post("/api/v1/usage", json={"events": events}, key="sealed")
    db.session.remove()
    row = db.session.execute(select(IdempotencyKey)).scalar_one()
    assert (row.status, row.response_status, row.response_content_type) == (
        "done", 200, "application/json")
    assert b"accepted" not in row.response_body and first.get_data() not in row.response_body
    assert len(row.response_body) == 12 + len(first.get_data()) + 16  # nonce, text, GCM tag
    assert admin.post("/api/v1/usage", json={"events": events}, key="sealed").get_data() == \
        first.get_data()
