"""API tokens: issue (the secret shown once), list, revoke, and resolve a bearer token.

Only a token's SHA-256 is stored (a fast hash is right for a high-entropy secret); its first
characters (``prefix``) are kept so that a person can tell tokens apart.
"""
import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import contains_eager

from ..clock import as_utc, utcnow
from ..errors import NotFound, ValidationError
from ..extensions import db
from ..models import ApiToken, User
from . import audit
from .validation import MAX_ID, Fields, FieldError, text

TOKEN_PREFIX = "arc_"
PREFIX_LENGTH = 12
NAME_MAX_LENGTH = 100
MAX_EXPIRY_DAYS = 3650
CLI_TOKEN_NAME = "cli"
# last_used_at is written at most this often per token: one UPDATE a minute, not one a request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def expiry_days(value) -> int | None:
    """``expires_in_days``: null (never expires) or a whole number of days, 1..3650."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or null")
    if not 1 <= value <= MAX_EXPIRY_DAYS:
        raise FieldError(f"must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or null")
    return value


def parse_new_token(data) -> tuple[str, int | None]:
    """``{name, expires_in_days}`` from a JSON body or a form → (name, days or None)."""
    fields = Fields(data, allowed={"name", "expires_in_days"})
    name = fields.get("name", lambda v: text(v, NAME_MAX_LENGTH))
    days = fields.get("expires_in_days", expiry_days, required=False)
    fields.done()
    return name, days


def issue(user: User, name: str, expires_in_days: int | None = None,
          actor: User | None = None, by_token_id: int | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user`` → (the row, the secret). The secret is never seen again.

    ``by_token_id``: the request is authenticated by that token; a token cannot outlive the
    token that made it (``within_expiry_of``)."""
    name, expires_in_days = parse_new_token({"name": name, "expires_in_days": expires_in_days})
    now = utcnow().replace(microsecond=0)  # whole seconds: read back by people and scripts
    if by_token_id is not None:
        within_expiry_of(db.session.get(ApiToken, by_token_id), expires_in_days, now)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=name, token_hash=_digest(raw), prefix=raw[:PREFIX_LENGTH],
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(actor, "token.create", "api_token", token.id, user=user.email, name=name,
                 prefix=token.prefix,
                 expires_at=token.expires_at.isoformat() if token.expires_at else None)
    db.session.commit()
    return token, raw


def within_expiry_of(parent: ApiToken, expires_in_days: int | None, now) -> None:
    """A token made with a token that expires must expire too, no later than it: otherwise
    a short-lived token (handed to a script, say) could mint one that never expires. 422 on
    ``expires_in_days`` naming the most days allowed. A token with no expiry, a signed-in
    person and the command line may make any."""
    if parent is None or parent.expires_at is None:
        return
    parent_expires = as_utc(parent.expires_at)
    most = (parent_expires - now).days  # whole days that end before the parent expires
    when = parent_expires.strftime("%Y-%m-%d %H:%M UTC")
    if most < 1:
        message = (f"the token making this request expires at {when}, in less than a day: "
                   "sign in, or use a token with a later expiry, to make a new one")
    elif expires_in_days is None or expires_in_days > most:
        message = (f"must be at most {most} (the token making this request expires at {when}; "
                   "a token cannot outlive the token that made it)")
    else:
        return
    raise ValidationError({"expires_in_days": message})


def create_token(email: str, actor: User | None = None, name: str = CLI_TOKEN_NAME,
                 expires_in_days: int | None = None) -> str:
    """The command line's ``tokens create EMAIL``: the secret of a new token for the user."""
    from .accounts import user_by_email

    user = user_by_email(email)
    if user is None:
        raise NotFound(f"no user {email}")
    return issue(user, name, expires_in_days, actor)[1]


def tokens_of(user: User):
    """The user's tokens, newest first (a query, for paging)."""
    return (select(ApiToken).where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))


def list_tokens(user: User) -> list[ApiToken]:
    return list(db.session.scalars(tokens_of(user)))


def all_tokens(email: str | None = None, live_only: bool = False):
    """Every user's tokens, newest first, with their owners (for platform admins' page)."""
    query = (select(ApiToken).join(User, User.id == ApiToken.user_id)
             .options(contains_eager(ApiToken.user))
             .order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))
    if email:
        query = query.where(User.email == email.strip().lower())
    if live_only:
        query = query.where(ApiToken.revoked_at.is_(None),
                            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()))
    return query


def own_token(user: User, token_id: int) -> ApiToken:
    """One of the user's own tokens; anyone else's is 404, as if it did not exist."""
    token = db.session.get(ApiToken, token_id) if 1 <= token_id <= MAX_ID else None
    if token is None or token.user_id != user.id:
        raise NotFound(f"no token {token_id}")
    return token


def revoke(actor: User, token_id: int, any_users: bool = False) -> ApiToken:
    """Revoke one of the actor's own tokens (``any_users``: anyone's, for a platform admin's
    page; the caller checks the permission). Revoking a revoked token changes nothing and
    answers it as it stands (idempotent, like a repeated DELETE)."""
    if any_users:
        token = db.session.get(ApiToken, token_id) if 1 <= token_id <= MAX_ID else None
        if token is None:
            raise NotFound(f"no token {token_id}")
    else:
        token = own_token(actor, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(actor, "token.revoke", "api_token", token.id, user=token.user.email,
                     name=token.name, prefix=token.prefix)
        db.session.commit()
    return token


def revoke_tokens(email: str, actor: User | None = None) -> int:
    """The command line's ``tokens revoke EMAIL``: revoke every live token of the user."""
    from .accounts import user_by_email

    user = user_by_email(email)
    if user is None:
        raise NotFound(f"no user {email}")
    result = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    audit.record(actor, "token.revoke", "user", user.id, user=user.email, count=result.rowcount)
    db.session.commit()
    return result.rowcount


def is_expired(token: ApiToken) -> bool:
    return token.expires_at is not None and as_utc(token.expires_at) <= utcnow()


def user_for_token(raw: str) -> User | None:
    """The active user behind a live bearer token, or None."""
    found = authenticate_token(raw)
    return found[1] if found else None


def authenticate_token(raw: str) -> tuple[int, User] | None:
    """(token id, active user) for a live bearer token, or None (unknown, revoked, expired,
    deactivated). One query finds the token and its user; ``last_used_at`` is then written
    at most once a minute, by an UPDATE that only matches when it is older than that.

    The stamp never waits and never outlives this call: it skips a token row another
    transaction has locked (a concurrent request stamping it), and its transaction ends here
    whether or not it wrote. In READ COMMITTED an UPDATE that meets a row changed since its
    snapshot locks the newest version before it re-checks the WHERE, and keeps that lock when
    the re-check fails: left open, the request would hold the token's row for its whole run,
    and every other request with that token whose stamp is due would wait behind it (a retry
    of a running Idempotency-Key request then hung instead of getting its 409)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    row = db.session.execute(
        select(ApiToken.id, ApiToken.last_used_at, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _digest(raw), ApiToken.revoked_at.is_(None),
               or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))
    ).first()
    if row is None or not row.User.is_active:
        return None
    stale = now - LAST_USED_RESOLUTION
    if row.last_used_at is None or as_utc(row.last_used_at) < stale:
        due = (select(ApiToken.id)
               .where(ApiToken.id == row.id,
                      or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < stale))
               .with_for_update(key_share=True, skip_locked=True))  # FOR NO KEY UPDATE
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.id.in_(due.scalar_subquery()))
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        # The request has written nothing yet: this commits only the stamp, and ends the
        # transaction that may hold the token's row even when the stamp matched nothing.
        db.session.commit()
    return row.id, row.User
