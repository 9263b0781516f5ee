"""Webhooks: endpoints admins register, events recorded in an outbox, signed deliveries.

``emit`` writes an event and one pending delivery per interested endpoint in the caller's
transaction: if that transaction rolls back, no event was; once it commits, the delivery is
in the database until it succeeds or runs out of retries, whatever happens to a worker.
``dispatch`` (after the commit) asks the worker to deliver; the scheduler's sweep and every
later dispatch pick up anything a dead worker left. Each endpoint gets its events in order
of occurrence: a delivery waiting for its retry holds back the later ones for that endpoint.

Order of occurrence, on PostgreSQL, is (writing transaction id, event id), and an event is
sent only once its transaction and every older one have finished (the outbox technique: an
event's ``xid`` below ``pg_snapshot_xmin`` of the dispatcher's snapshot). Ids come from a
sequence when a transaction writes, not when it commits: without this, an event committed
after a later one could be sent after it. SQLite (the demo, one writer) keeps id order.
"""
import functools
import hashlib
import hmac
import json
import secrets
import socket
import ssl
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any, Mapping
from urllib.parse import urlsplit

import httpx
from flask import current_app
from sqlalchemy import (BigInteger, Text, cast, column, exists, func, or_, select, table, true,
                        update)
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.sql import Select

from ..clock import as_utc, utcnow
from ..errors import NotFound, ValidationError
from ..extensions import db
from ..models import User, Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent
from ..models.webhooks import DELIVERY_STATES, EVENT_TYPES, FAILED, PENDING, SUCCEEDED
from ..queue import MESSAGES, enqueue
from . import audit
from .paging import KeysetPage, Sorts, Totals, keyset_page, parse_list_args, totals
from .validation import FieldError, Fields

SIGNATURE_HEADER = "Arcadia-Signature"
WEBHOOK_FIELDS = {"url", "events"}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


# --- endpoints -----------------------------------------------------------------------------


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise FieldError("must be an http or https URL of at most 2048 characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise FieldError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a port that is no number in range)
        httpx.URL(value).host  # noqa: B018  (the client's own parse: IDNA host, port)
        (parts.hostname or "").encode("idna")  # what the resolver is asked: labels ≤ 63
    except (ValueError, httpx.InvalidURL):  # UnicodeError (a bad IDNA label) is a ValueError
        raise FieldError("must be an http or https URL a request can be sent to") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError("must be an http or https URL")
    return value


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise FieldError(f"must be a non-empty list of event types: {', '.join(EVENT_TYPES)}")
    unknown = [v for v in value if v not in EVENT_TYPES]
    if unknown:
        raise FieldError(f"unknown event type {unknown[0]!r} (known: {', '.join(EVENT_TYPES)})")
    if len(set(value)) != len(value):
        raise FieldError("lists an event type more than once")
    return value


def create_webhook(actor: User | None, data: Mapping[str, Any]) -> Webhook:
    """A new endpoint; its ``secret`` is readable on the returned object this once."""
    fields = Fields(data, WEBHOOK_FIELDS)
    url = fields.get("url", _url)
    events = fields.get("events", _events)
    fields.done()
    webhook = Webhook(url=url, events=events, secret="whsec_" + secrets.token_urlsafe(32))
    db.session.add(webhook)
    db.session.flush()
    audit.record(actor, "webhook.create", "webhook", webhook.id, url=url, events=events)
    db.session.commit()
    return webhook


def list_webhooks() -> list[Webhook]:
    return list(db.session.scalars(
        select(Webhook).where(Webhook.deleted_at.is_(None)).order_by(Webhook.id)))


def get_webhook(webhook_id: int) -> Webhook:
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None or webhook.deleted_at is not None:
        raise NotFound(f"no webhook {webhook_id}")
    return webhook


def delete_webhook(actor: User | None, webhook_id: int) -> None:
    """Stop sending to it (its delivery history stays readable in the audit and database)."""
    webhook = get_webhook(webhook_id)
    webhook.deleted_at = utcnow()
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == PENDING)
        .values(status=FAILED))
    audit.record(actor, "webhook.delete", "webhook", webhook.id, url=webhook.url)
    db.session.commit()


DELIVERY_SORTS = Sorts({"event": (WebhookDelivery.event_id, int)}, "-event",
                      WebhookDelivery.event_id)  # unique per webhook: the key alone is the order


def deliveries_query(webhook_id: int, status: str | None = None) -> Select:
    """A webhook's deliveries, newest event first, optionally of one ``status`` (pending,
    succeeded, failed; anything else is a 422). 404 for a deleted or unknown webhook. Read by
    ``ix_webhook_deliveries_webhook_status_event`` (filtered) or the (webhook, event) unique
    index, so a deep keyset page costs what the first does."""
    get_webhook(webhook_id)
    query = (select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
             .options(selectinload(WebhookDelivery.event),
                      selectinload(WebhookDelivery.attempt_log))
             .order_by(WebhookDelivery.event_id.desc()))
    if status:
        if status not in DELIVERY_STATES:
            raise ValidationError({"status": f"must be one of {', '.join(DELIVERY_STATES)}"})
        query = query.where(WebhookDelivery.status == status)
    return query


def delivery_page(webhook_id: int, args) -> KeysetPage:
    """One page of a webhook's deliveries from request ``args`` (``status``, ``sort``,
    ``cursor`` or the old ``page``, ``per_page``); every bad one named in one 422, after the
    404 of an unknown webhook (``deliveries_query`` looks first)."""
    errors, query, listed = {}, None, None
    try:
        query = deliveries_query(webhook_id, args.get("status") or None)
    except ValidationError as exc:
        errors.update(exc.fields)
    try:
        listed = parse_list_args(args, DELIVERY_SORTS)
    except ValidationError as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationError(errors)
    return keyset_page(query, listed.keyset, listed.cursor, listed.page, listed.per_page)


def delivery_totals(query, keyset=None, cursor=None) -> Totals:
    return totals(query, {}, keyset, cursor)


def count_by_status(webhook_id: int) -> dict[str, int]:
    """{status: deliveries} of one webhook, every status present (0 where none)."""
    found = dict(db.session.execute(
        select(WebhookDelivery.status, func.count())
        .where(WebhookDelivery.webhook_id == webhook_id)
        .group_by(WebhookDelivery.status)).all())
    return {status: found.get(status, 0) for status in DELIVERY_STATES}


def redeliver(actor: User | None, webhook_id: int, delivery_id: int) -> WebhookDelivery:
    """Send it again, now, with a fresh set of retries (receivers dedupe on the event id)."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != get_webhook(webhook_id).id:
        raise NotFound(f"no delivery {delivery_id}")
    delivery.status, delivery.attempts, delivery.next_attempt_at = PENDING, 0, utcnow()
    audit.record(actor, "webhook.redeliver", "webhook", webhook_id, delivery_id=delivery.id,
                 event=delivery.event.public_id)
    db.session.commit()
    dispatch(force=True)
    return delivery


def redeliver_failed(actor: User | None, webhook_id: int) -> int:
    """Every failed delivery of the webhook sent again, as :func:`redeliver` does each one
    (pending, no attempts, due now); the worker then sends them in order of occurrence with
    the endpoint's other pending ones. One audit entry with the count, one dispatch; nothing
    at all when none has failed, so a second call right after answers 0.

    The rows are locked in event order before they change (``SELECT … FOR UPDATE`` sorted by
    event): two admins pressing the button at once never deadlock, and the second, having
    waited for the first, finds them pending again and counts none of them."""
    get_webhook(webhook_id)
    failed = db.session.execute(
        select(WebhookDelivery.id, WebhookEvent.public_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == FAILED)
        .order_by(WebhookDelivery.event_id).with_for_update(of=WebhookDelivery)).all()
    if not failed:
        return 0
    ids = [delivery_id for delivery_id, _ in failed]
    now = utcnow()
    for chunk in range(0, len(ids), REDELIVER_CHUNK):  # a bounded IN list per statement
        db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids[chunk:chunk + REDELIVER_CHUNK]),
                   WebhookDelivery.status == FAILED)  # (locked above: still failed)
            .values(status=PENDING, attempts=0, next_attempt_at=now)
            .execution_options(synchronize_session=False))
    audit.record(actor, "webhook.redeliver_failed", "webhook", webhook_id, count=len(ids),
                 first_event=failed[0].public_id, last_event=failed[-1].public_id)
    db.session.commit()
    db.session.expire_all()  # the bulk update bypassed the session's copies
    dispatch(force=True)
    return len(ids)


REDELIVER_CHUNK = 1000


# --- events --------------------------------------------------------------------------------


def emit(event_type: str, data: dict) -> WebhookEvent | None:
    """Record that ``event_type`` happened, in the caller's transaction (call ``dispatch``
    after it commits). Nothing is recorded when no endpoint wants this type."""
    assert event_type in EVENT_TYPES, event_type
    wanted = [w for w in list_webhooks() if event_type in w.events]
    if not wanted:
        return None
    event = WebhookEvent(public_id="evt_" + secrets.token_hex(12), type=event_type, data=data)
    db.session.add(event)
    db.session.flush()
    db.session.add_all(WebhookDelivery(webhook_id=w.id, event_id=event.id, status=PENDING,
                                       next_attempt_at=event.created_at) for w in wanted)
    db.session.info[EMITTED] = True
    return event


EMITTED = "webhooks.emitted"


def dispatch(force: bool = False) -> None:
    """Deliver what is due, on the worker (inline without Redis), when this session emitted
    an event (or ``force``). Never raises: the change that emitted the event is committed,
    and the sweep retries anything left."""
    if not (db.session.info.pop(EMITTED, False) or force):
        return
    try:
        enqueue("portal.jobs.webhooks.deliver_due", queue_name=MESSAGES, timeout=600)
    except Exception:
        current_app.logger.exception("could not queue webhook deliveries")


def payload(event: WebhookEvent) -> bytes:
    """The exact bytes sent and signed."""
    return json.dumps({"id": event.public_id, "type": event.type,
                       "created_at": event.created_at.isoformat(), "data": event.data},
                      separators=(",", ":"), sort_keys=True).encode()


def deliver_due(now: datetime | None = None) -> dict:
    """Every endpoint's due deliveries, oldest event first; at a failure that endpoint waits
    for its retry. Endpoints are served side by side (``_deliver_side_by_side``), so a slow or
    dead receiver costs its own endpoint at most its deadline, never the others'. Returns
    counts of what happened."""
    now = now or utcnow()
    counts = {"succeeded": 0, "retrying": 0, "failed": 0}
    # A committed event may wait on an older transaction still running; such transactions are
    # short (a request, one rollup chunk), so look again for a moment before leaving the rest
    # to the next dispatch or the minutely sweep.
    polls = int(current_app.config["WEBHOOK_HOLD_SECONDS"] / HOLD_POLL_SECONDS)
    for poll in range(polls + 1):
        # Looked at before the pass: once it sees nothing held, the pass that follows sees
        # every event it saw finished (finished stays finished), so none is left behind.
        held = _on_postgresql() and db.session.scalar(select(_held_back(now)))
        webhook_ids = db.session.scalars(
            select(WebhookDelivery.webhook_id).join(Webhook)
            .where(WebhookDelivery.status == PENDING, Webhook.deleted_at.is_(None))
            .distinct().order_by(WebhookDelivery.webhook_id))
        _deliver_side_by_side(list(webhook_ids), now, counts)
        db.session.commit()  # no transaction left open while waiting
        if not held or poll == polls:
            return counts
        time.sleep(HOLD_POLL_SECONDS)
    return counts


HOLD_POLL_SECONDS = 0.2


def _finished(event=WebhookEvent):
    """SQL: the event's writing transaction has finished, and so has every transaction that
    could still write an event ordered before it (PostgreSQL); always true elsewhere.

    That is: its xid is below the oldest transaction still running (``pg_snapshot_xmin``), or
    every transaction still running with a smaller xid is positively one of another
    database's (``pg_stat_activity``), which cannot write our events. Transaction ids are
    the cluster's: without that second test, a long transaction in another database on the
    same server (a report, a bulk load) would hold every webhook back until it ended. One
    that cannot be placed (no such row, or statistics we may not read) still holds back.

    The reading transaction's own events count as finished too: nothing in the portal
    dispatches before its commit, and the tests, which run each test in one transaction that
    "commits" to savepoints, see their events delivered as they would be after a commit."""
    if not _on_postgresql():
        return true()
    snapshot = func.pg_current_snapshot()
    running = func.pg_snapshot_xip(snapshot).column_valued("running_xid")
    elsewhere = exists().where(  # xid8 → its low 32 bits, the xid pg_stat_activity shows
        _ACTIVITY.c.datname != func.current_database(),
        cast(cast(_ACTIVITY.c.backend_xid, Text), BigInteger)
        == cast(cast(running, Text), BigInteger) % 4294967296)
    return or_(event.xid < func.pg_snapshot_xmin(snapshot),
               # (never NULL, so that NOT of this is true for an unfinished event)
               event.xid.is_not_distinct_from(func.pg_current_xact_id_if_assigned()),
               ~exists(select(running).where(running < event.xid, ~elsewhere)))


def _on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


_ACTIVITY = table("pg_stat_activity", column("datname"), column("backend_xid"))


def _held_back(now: datetime):
    """SQL (PostgreSQL): some endpoint has a committed event waiting on an older transaction
    still running, and is not waiting anyway (for a retry, or on another worker's lease)."""
    waiting, its_event = aliased(WebhookDelivery), aliased(WebhookEvent)
    head, head_event = aliased(WebhookDelivery), aliased(WebhookEvent)
    return exists().where(
        waiting.status == PENDING, waiting.event_id == its_event.id, ~_finished(its_event),
        ~exists().where(head.webhook_id == waiting.webhook_id, head.status == PENDING,
                        head.next_attempt_at > now,
                        head.event_id == head_event.id, _finished(head_event)))


def _in_order():
    """Order of occurrence: (writing transaction, event id); event id alone without ids."""
    if not _on_postgresql():
        return (WebhookDelivery.event_id,)
    return (WebhookEvent.xid, WebhookDelivery.event_id)


def _deliver_side_by_side(webhook_ids: list[int], now: datetime, counts: dict) -> None:
    """Each endpoint's deliveries in order, up to ``WEBHOOK_CONCURRENCY`` endpoints at once.

    Only the requests run on the pool's threads (``_post``: no app, no database). Choosing,
    leasing and recording stay in this thread, on this session, so there is one transaction
    at a time as before, and one connection however many endpoints wait. An endpoint has at
    most one request in flight (its order holds), and a delivery is leased only when a thread
    is free to send it at once: its lease (60 s) runs from the start of a request that cannot
    outlast its deadline (10 s), so no other dispatcher can take it meanwhile."""
    config = current_app.config
    workers = max(1, int(config["WEBHOOK_CONCURRENCY"]))
    timeout = float(config["WEBHOOK_TIMEOUT_SECONDS"])
    waiting = deque(webhook_ids)  # endpoints that may have a delivery due, none in flight
    sending: dict[Future, tuple[int, int]] = {}  # request → (endpoint, delivery)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
        while waiting or sending:
            while waiting and len(sending) < workers:
                webhook_id = waiting.popleft()
                taken = _take_next(webhook_id, now)
                if taken is not None:
                    delivery_id, lease, url, secret, body = taken
                    future = pool.submit(_post, url, secret, body, timeout)
                    sending[future] = (webhook_id, delivery_id, lease)
            if not sending:
                break
            done, _ = wait(sending, return_when=FIRST_COMPLETED)
            for future in done:
                webhook_id, delivery_id, lease = sending.pop(future)
                if _record(delivery_id, lease, future.result(), counts):
                    waiting.append(webhook_id)  # its next one, after the others' turn


def _take_next(webhook_id: int, now: datetime) -> tuple[int, datetime, str, str, bytes] | None:
    """Lease the endpoint's oldest deliverable delivery → (id, lease, url, secret, body), or
    None when it has none due (or its oldest waits for a retry: later events wait too). The
    lease is its ``next_attempt_at`` as stored: ``_record`` checks the delivery still has it."""
    # The clock now, not when the pass began: after slow receivers, a lease counted from
    # the pass's start would already be over when written, and another dispatcher would
    # send the same event again meanwhile.
    moment = max(now, utcnow())
    head = db.session.scalar(
        select(WebhookDelivery).join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == PENDING,
               _finished())
        .order_by(*_in_order()).limit(1))
    if head is None or as_utc(head.next_attempt_at) > moment:
        return None
    # Lease it: a second worker (or one that died mid-request) cannot send it meanwhile.
    leased = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == head.id, WebhookDelivery.status == PENDING,
               WebhookDelivery.next_attempt_at == head.next_attempt_at)
        .values(next_attempt_at=moment + timedelta(
            seconds=current_app.config["WEBHOOK_LEASE_SECONDS"])))
    db.session.commit()
    if leased.rowcount != 1:
        return None
    delivery = db.session.get(WebhookDelivery, head.id)
    return (delivery.id, delivery.next_attempt_at, delivery.webhook.url, delivery.webhook.secret,
            payload(delivery.event))


def _record(delivery_id: int, lease: datetime, outcome: tuple[int | None, str | None, int],
            counts: dict) -> bool:
    """Write an attempt's outcome; True when the endpoint may go on to its next delivery.

    Only while the delivery still holds this pass's ``lease``: once an admin redelivered it
    during the request (or another dispatcher took it over), the attempt is logged but the
    delivery is theirs to decide. Else a late 500 from the first request undid a redelivery
    that had succeeded meanwhile (marked failed, sent a third time by "Redeliver all failed").
    The row is locked for the check, so a redelivery waits for this write, not the reverse."""
    delays = current_app.config["WEBHOOK_RETRY_SECONDS"]
    code, error, duration_ms = outcome
    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=True,
                              populate_existing=True)
    db.session.add(WebhookAttempt(delivery_id=delivery.id, status_code=code,
                                  duration_ms=duration_ms, error=error))
    if as_utc(delivery.next_attempt_at) != as_utc(lease):
        db.session.commit()
        return False  # its other sender goes on with the endpoint
    delivery.attempts += 1
    delivery.last_status_code = code
    finished = utcnow()
    if error is None:
        delivery.status, delivery.delivered_at = SUCCEEDED, finished
        counts["succeeded"] += 1
    elif delivery.attempts > len(delays):
        delivery.status = FAILED
        counts["failed"] += 1
    else:
        delay = delays[delivery.attempts - 1]
        delivery.next_attempt_at = finished + timedelta(seconds=delay)
        counts["retrying"] += 1
        db.session.commit()
        _retry_later(delay)
        return False
    db.session.commit()
    return True


def _post(url: str, secret: str, body: bytes, timeout: float) -> tuple[int | None, str | None, int]:
    """→ (status code, error or None, milliseconds). Only a 2xx counts as delivered, and only
    within ``timeout`` seconds in all (runs on a pool thread: no app context here).

    httpx's timeouts are per operation: a receiver that sends a byte every few seconds
    resets the read timeout with each one and can hold a request for as long as it likes
    (measured: 13.6 s for a 2xx trickled at 4 bytes a second against ``timeout=3``). So a
    timer shuts the connection's socket down at the deadline, which ends any read or write
    blocked on it at once. It acts on a duplicate of the socket's descriptor, taken when
    the connection opens: still the same connection after TLS wraps the socket, never
    another one that reuses a closed descriptor's number."""
    headers = {"Content-Type": "application/json", "User-Agent": "Arcadia-Webhooks/1",
               SIGNATURE_HEADER: sign(secret, int(time.time()), body)}
    expired, over = threading.Event(), threading.Event()
    sockets: list[socket.socket] = []
    lock = threading.Lock()

    def cut() -> None:
        with lock:
            if not over.is_set():
                expired.set()
                for sock in sockets:
                    _shut(sock)

    def trace(name: str, info: dict) -> None:  # httpcore's hook: the connection, once opened
        if not name.endswith("connect_tcp.complete"):
            return
        sock = info["return_value"].get_extra_info("socket").dup()
        with lock:
            sockets.append(sock)
            if expired.is_set():  # opened after the deadline (a slow resolver): no request
                _shut(sock)

    started = time.monotonic()
    timer = threading.Timer(timeout, cut)
    timer.daemon = True
    timer.start()
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, verify=_tls()) as client:
            response = client.post(url, content=body, headers=headers,
                                   extensions={"trace": trace})
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError) as exc:
        # An unusable URL (InvalidURL, a bad IDNA label), or no descriptor left to watch the
        # socket with (OSError), is a failed attempt like any other, never an exception that
        # leaves the delivery leased and its endpoint stuck.
        if expired.is_set():
            return None, f"Deadline: no answer within {timeout:g} s", _ms(started)
        return None, f"{type(exc).__name__}: {exc}"[:500], _ms(started)
    finally:
        timer.cancel()
        with lock:
            over.set()
            for sock in sockets:
                sock.close()
    if 200 <= response.status_code < 300:
        return response.status_code, None, _ms(started)
    return response.status_code, f"answered HTTP {response.status_code}", _ms(started)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context (the CA bundle, verification on) for every request: a client builds
    its own otherwise, loading the bundle again each time (measured: 20 ms of CPU of each
    POST's 23). A context is safe to share between the pool's threads."""
    return httpx.create_ssl_context()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the peer
        pass


def _retry_later(delay: int) -> None:
    """Ask the worker's scheduler to run the deliveries again when the retry is due (the
    scheduler's sweep does it too, should this be lost). Inline, the next dispatch does."""
    from ..queue import enqueue_in

    try:
        enqueue_in(delay, "portal.jobs.webhooks.deliver_due", queue_name=MESSAGES)
    except Exception:
        current_app.logger.exception("could not schedule a webhook retry")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
