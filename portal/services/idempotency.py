"""The JSON API's ``Idempotency-Key``: claim a key for a request, replay its first answer, or
refuse (422 for another request under the same key, 409 while the first one still runs).

Claims and stored answers are written in their own short transactions on a session of their
own: a claim must be visible to concurrent requests before the request's work commits, and the
work keeps its one commit of its own. A request that ends in a 5xx (or an exception) gives its
claim back, so a retry runs it afresh; 2xx and 4xx answers are the first response, kept 24 h.

A stored answer may hold a secret shown once (a new API token, a webhook's secret), so it is
sealed (AES-256-GCM) with a key derived from the caller's bearer token, which the database
never holds: only the token that got the answer can read it again.
"""
import hashlib
import hmac
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..errors import Conflict, ValidationError
from ..extensions import db
from ..models.idempotency import DONE, RUNNING, IdempotencyKey

HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 255
TTL = timedelta(hours=24)
# Expired keys removed by each claim: bounded work, and enough to outpace the rate of new keys.
PURGE_BATCH = 100
_KEY = re.compile(r"^[\x20-\x7e]{1,%d}$" % KEY_MAX_LENGTH)  # printable ASCII

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """A key this request holds while it runs."""

    id: int
    token_id: int
    key: str
    request_hash: str
    bearer: str  # the caller's token: seals the answer; never stored


def _seal(bearer: str, row: tuple, body: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_sealing_key(bearer)).encrypt(nonce, body, _row_binding(*row))


def _unseal(bearer: str, row: tuple, sealed: bytes) -> bytes:
    return AESGCM(_sealing_key(bearer)).decrypt(sealed[:12], sealed[12:], _row_binding(*row))


def _sealing_key(bearer: str) -> bytes:
    # HMAC keyed by the token, not its plain SHA-256 (that one is stored in api_tokens).
    return hmac.new(bearer.encode(), b"arcadia idempotency response", hashlib.sha256).digest()


def _row_binding(token_id: int, key: str, request_hash: str) -> bytes:
    """Authenticated with the answer: a sealed answer is good for its own row only."""
    return f"{token_id}\0{key}\0{request_hash}".encode()


@dataclass(frozen=True)
class Replay:
    """The first response given under a key: answered again, byte for byte."""

    status: int
    body: bytes
    content_type: str | None


def validate_key(raw: str) -> str:
    if not _KEY.match(raw):
        raise ValidationError(
            {HEADER: f"must be 1 to {KEY_MAX_LENGTH} printable ASCII characters"})
    return raw


def fingerprint(method: str, path: str, query_string: bytes, body: bytes) -> str:
    """What makes two requests "the same": method, path with query and the raw body bytes."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query_string, body):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguous joins
        digest.update(part)
    return digest.hexdigest()


@contextmanager
def _own_transaction():
    """A short transaction beside the request's. On the request session's bind: an engine in
    production (its own connection), the test's connection in tests (a savepoint on it)."""
    bind = db.session.get_bind(mapper=IdempotencyKey.__mapper__)
    with Session(bind=bind, join_transaction_mode="create_savepoint") as session:
        with session.begin():
            yield session


def claim(token_id: int, key: str, request_hash: str, bearer: str) -> Claim | Replay:
    """The claim when this request is to run; the stored answer when it already ran.

    Raises ValidationError when the key was used for another request, Conflict while the
    request that claimed it is still running.
    """
    table = IdempotencyKey.__table__
    for _ in range(3):  # a claim given back between our insert and our read: try again
        now = utcnow()
        with _own_transaction() as session:
            # This key's expired claim first (the only statement that may wait on a lock),
            # then a bounded purge of others that skips rows another claim holds.
            session.execute(delete(table).where(
                table.c.token_id == token_id, table.c.key == key,
                table.c.created_at <= now - TTL))
            _purge_expired(session, now - TTL)
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            claimed = session.scalar(
                insert(table)
                .values(token_id=token_id, key=key, request_hash=request_hash, status=RUNNING,
                        created_at=now)
                .on_conflict_do_nothing(index_elements=["token_id", "key"])
                .returning(table.c.id))
            if claimed is not None:
                return Claim(claimed, token_id, key, request_hash, bearer)
            existing = session.execute(
                select(table.c.request_hash, table.c.status, table.c.response_status,
                       table.c.response_body, table.c.response_content_type)
                .where(table.c.token_id == token_id, table.c.key == key)).first()
        if existing is None:
            continue
        if existing.request_hash != request_hash:
            raise ValidationError(
                {HEADER: "was already used for a different request; send a new key"},
                f"This {HEADER} was already used with a different request.")
        if existing.status == RUNNING:
            raise Conflict(f"The request with this {HEADER} is still running; retry shortly.")
        body = _unseal(bearer, (token_id, key, request_hash), bytes(existing.response_body))
        return Replay(existing.response_status, body, existing.response_content_type)
    raise Conflict(f"The request with this {HEADER} is still running; retry shortly.")


def _purge_expired(session: Session, cutoff) -> None:
    table = IdempotencyKey.__table__
    expired = (select(table.c.id).where(table.c.created_at <= cutoff)
               .order_by(table.c.created_at).limit(PURGE_BATCH)
               .with_for_update(skip_locked=True))
    session.execute(delete(table).where(table.c.id.in_(expired.scalar_subquery())))


def finish(claim: Claim, status: int, body: bytes, content_type: str | None) -> None:
    """Keep the answer a claimed request gave, sealed, for its retries."""
    table = IdempotencyKey.__table__
    sealed = _seal(claim.bearer, (claim.token_id, claim.key, claim.request_hash), body)
    try:
        with _own_transaction() as session:
            session.execute(
                update(table).where(table.c.id == claim.id, table.c.status == RUNNING)
                .values(status=DONE, response_status=status, response_body=sealed,
                        response_content_type=content_type))
    except SQLAlchemyError:
        # The work is done and answered; its retries will meet 409 until the key expires.
        log.exception("could not store the response of idempotency claim %s", claim.id)


def release(claim: Claim) -> None:
    """Give a claim back (the request failed on our side), so a retry runs it afresh."""
    table = IdempotencyKey.__table__
    try:
        with _own_transaction() as session:
            session.execute(
                delete(table).where(table.c.id == claim.id, table.c.status == RUNNING))
    except SQLAlchemyError:
        log.exception("could not release idempotency claim %s", claim.id)
