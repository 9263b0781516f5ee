"""Tenants, users, API tokens and sign-in."""
import functools
import hashlib
import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..clock import utcnow
from ..errors import Conflict, NotFound, Throttled, ValidationError
from ..extensions import db
from ..models import ApiToken, LoginAttempt, Tenant, User
from ..models.tenancy import PLATFORM_ADMIN, ROLES
from ..permissions import check
from . import audit
from .paging import Sorts, totals
from .validation import FieldError, Fields, email_address, string_problem, text

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8


def tenant_by_slug(slug: str) -> Tenant | None:
    if not isinstance(slug, str) or string_problem(slug, 63):
        return None  # no tenant has a slug the database could not even hold
    return db.session.scalar(select(Tenant).where(Tenant.slug == slug))


def list_tenants() -> list[Tenant]:
    return list(db.session.scalars(select(Tenant).order_by(Tenant.slug)))


# The tenants page: by name or slug (A to Z), the id breaking ties (keyset cursors).
TENANT_SORTS = Sorts({"name": (Tenant.name, str), "slug": (Tenant.slug, str)}, "name", Tenant.id)
MAX_TENANT_QUERY = 64


def tenants_query(actor: User | None = None, search: str | None = None):
    """Tenants for the tenants page; ``search`` keeps those whose slug starts with it or whose
    name contains it (any case)."""
    query = select(Tenant)
    if search and search.strip():
        search = search.strip()
        if len(search) > MAX_TENANT_QUERY:
            raise ValidationError({"q": f"must be at most {MAX_TENANT_QUERY} characters"})
        query = query.where(or_(Tenant.slug.startswith(search.lower(), autoescape=True),
                                Tenant.name.icontains(search, autoescape=True)))
    return query


def tenant_totals(query, keyset=None, cursor=None):
    return totals(query, {}, keyset, cursor)


def user_by_email(email: str) -> User | None:
    if not isinstance(email, str) or string_problem(email, 254):
        return None
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def create_tenant(slug: str, name: str, *, billing_name: str | None = None,
                  billing_address: str = "", abn: str | None = None,
                  billing_email: str | None = None, actor: User | None = None) -> Tenant:
    """Checked as the tenant profile page checks (the CLI and the demo call it)."""
    given_billing_name = billing_name is not None and not (
        isinstance(billing_name, str) and not billing_name.strip())
    fields = Fields({"name": name, "billing_name": billing_name if given_billing_name else None,
                     "billing_address": billing_address or None})
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        fields.add("slug", "must be lowercase letters, digits and hyphens (1-63)")
    name = fields.get("name", text)
    # Without a billing name of its own, the tenant's name is printed on its invoices.
    billing_name = fields.get("billing_name", text, required=False) if given_billing_name else name
    billing_address = fields.get("billing_address", lambda v: text(v, 1000, multiline=True),
                                 required=False, default="")
    abn, abn_error = _checked_abn(abn) if abn is None or isinstance(abn, str) else (None, "must be a string")
    if abn_error:
        fields.add("abn", abn_error)
    if billing_email is not None and (not isinstance(billing_email, str) or billing_email.strip()):
        try:
            billing_email = email_address(billing_email)
        except FieldError as exc:
            fields.add("billing_email", str(exc))
    else:
        billing_email = None
    fields.done()
    if tenant_by_slug(slug):
        raise Conflict(f"tenant {slug!r} already exists", {"slug": "already exists"})
    tenant = Tenant(
        slug=slug,
        name=name,
        billing_name=billing_name,
        billing_address=billing_address,
        abn=abn,
        billing_email=billing_email,
    )
    db.session.add(tenant)
    try:
        db.session.flush()
    except IntegrityError:  # created at the same moment by another request: the index decides
        db.session.rollback()
        raise Conflict(f"tenant {slug!r} already exists", {"slug": "already exists"}) from None
    audit.record(actor, "tenant.create", "tenant", tenant.id, slug=slug)
    db.session.commit()
    return tenant


_ABN = re.compile(r"^\d{11}$")
TENANT_PROFILE_FIELDS = {"name", "billing_name", "billing_address", "billing_email", "abn"}


def normalise_abn(value: str) -> str:
    """An ABN as printed on invoices ("51 824 753 556"), checked with the ATO's checksum."""
    digits = re.sub(r"\s", "", value)
    if not _ABN.match(digits):
        raise ValidationError({"abn": "must be 11 digits"})
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    numbers = [int(d) for d in digits]
    numbers[0] -= 1
    if sum(w * n for w, n in zip(weights, numbers)) % 89:
        raise ValidationError({"abn": "is not a valid ABN (checksum)"})
    return f"{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}"


def _checked_abn(value: str | None) -> tuple[str | None, str | None]:
    """(the ABN formatted, None), (None, None) when blank, or (None, why it is invalid):
    every path that stores an ABN checks it as the profile page does."""
    if not (value or "").strip():
        return None, None
    try:
        return normalise_abn(value), None
    except ValidationError as exc:
        return None, exc.fields["abn"]


def update_tenant_profile(actor: User | None, tenant_id: int, data, partial: bool = False) -> Tenant:
    """Admins edit a tenant's name and billing profile (printed on its future invoices).

    The page sends every field; the API's PATCH (``partial``) changes only the fields sent.
    """
    tenant = db.session.get(Tenant, tenant_id) if 0 < tenant_id <= 2**31 - 1 else None
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id}")
    before = {"name": tenant.name, "billing_name": tenant.billing_name,
              "billing_address": tenant.billing_address, "billing_email": tenant.billing_email,
              "abn": tenant.abn}
    fields = Fields(data, allowed=TENANT_PROFILE_FIELDS)
    sent = (lambda f: f in data) if partial else (lambda f: True)
    after = dict(before)
    if sent("name"):
        after["name"] = fields.get("name", text)
    if sent("billing_name"):
        after["billing_name"] = fields.get("billing_name", text)
    if sent("billing_address"):
        after["billing_address"] = fields.get("billing_address", lambda v: text(v, 1000, multiline=True))
    if sent("billing_email"):
        billing_email = data.get("billing_email")
        if billing_email is None or (isinstance(billing_email, str) and not billing_email.strip()):
            after["billing_email"] = None  # optional: without one, its mail is recorded as not sent
        else:
            after["billing_email"] = fields.get("billing_email", email_address)
    if sent("abn"):
        raw_abn = data.get("abn")
        abn, abn_error = (_checked_abn(raw_abn) if raw_abn is None or isinstance(raw_abn, str)
                          else (None, "must be a string"))
        if abn_error:
            fields.add("abn", abn_error)
        after["abn"] = abn
    fields.done()
    for key, value in after.items():
        setattr(tenant, key, value)
    audit.record(actor, "tenant.update", "tenant", tenant.id,
                 changed={k: [before[k], after[k]] for k in after if before[k] != after[k]})
    db.session.commit()
    return tenant


def create_user(email: str, role: str, password: str, tenant_slug: str | None = None,
                actor: User | None = None) -> User:
    email = (email or "").strip().lower()
    errors = {}
    if not _EMAIL.match(email) or string_problem(email, 254, multiline=False):
        errors["email"] = "is not an email address"
    if role not in ROLES:
        errors["role"] = f"must be one of {', '.join(ROLES)}"
    if len(password or "") < MIN_PASSWORD_LENGTH:
        errors["password"] = f"must be at least {MIN_PASSWORD_LENGTH} characters"
    elif problem := string_problem(password, 1000):
        errors["password"] = problem
    tenant = None
    if role == PLATFORM_ADMIN and tenant_slug:
        errors["tenant"] = "a platform admin belongs to no tenant"
    elif role in ROLES and role != PLATFORM_ADMIN:
        if not tenant_slug:
            errors["tenant"] = f"is required for {role}"
        elif string_problem(tenant_slug, 63, multiline=False):
            errors["tenant"] = f"unknown tenant {tenant_slug!r}"
        else:
            tenant = tenant_by_slug(tenant_slug)
            if tenant is None:
                errors["tenant"] = f"unknown tenant {tenant_slug!r}"
    if errors:
        raise ValidationError(errors)
    if user_by_email(email):
        raise Conflict(f"user {email} already exists", {"email": "already exists"})
    user = User(email=email, role=role, tenant=tenant, password_hash=hash_password(password))
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # created at the same moment by another request
        db.session.rollback()
        raise Conflict(f"user {email} already exists", {"email": "already exists"}) from None
    audit.record(actor, "user.create", "user", user.id, email=email, role=role)
    db.session.commit()
    return user


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


# --- API tokens: they live in services/tokens.py; these names stay for the CLI and callers.

from .tokens import TOKEN_PREFIX, create_token, revoke_tokens, user_for_token  # noqa: E402,F401


def _revoke_all_tokens(user: User) -> int:
    result = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount


# --- sessions and deactivation ---------------------------------------------------------


def end_sessions(user: User) -> None:
    """End every session of the user at once (every browser, every copied cookie).

    Called by signing out, a password change or reset, and deactivation; it flushes and
    leaves the commit to the caller's write, so the two land together.
    """
    user.session_generation = User.session_generation + 1  # atomic in SQL
    db.session.flush()


def sign_out(user: User) -> None:
    """Signing out ends the user's other sessions too (the contract)."""
    end_sessions(user)
    db.session.commit()


def deactivate_user(actor: User | None, user: User) -> User:
    """The user can no longer sign in; its sessions end and its tokens are revoked at once.

    ``actor`` None is the command line. A tenant admin deactivates only its own tenant's
    users (anyone else is "not found", as everywhere); nobody deactivates themselves.
    """
    if actor is not None:
        check(actor, "users.manage")
        if not actor.is_platform_admin and user.tenant_id != actor.tenant_id:
            raise NotFound(f"no user {user.id}")
        if actor.id == user.id:
            raise Conflict("You cannot deactivate yourself.")
    if not user.active:
        return user
    user.active = False
    end_sessions(user)
    revoked = _revoke_all_tokens(user)
    audit.record(actor, "user.deactivate", "user", user.id, email=user.email,
                 tokens_revoked=revoked)
    db.session.commit()
    return user


# --- sign-in ----------------------------------------------------------------------------

@functools.cache
def _dummy_hash_for(method: str) -> str:
    return generate_password_hash("not-a-real-password", method=method)


def _dummy_hash() -> str:
    """Checked against when the email is unknown, so a miss costs as long as a wrong
    password: the configured method and parameters, as every real user's hash has."""
    return _dummy_hash_for(current_app.config["PASSWORD_HASH_METHOD"])


def authenticate(email: str, password: str, ip: str) -> User | None:
    """The user for these credentials, or None. Raises Throttled after repeated failures.

    Failures are counted per email and per address over a sliding window; a success clears
    the email's count. Count, check and record run under a lock on the email and on the
    address, so attempts made at once are counted one after another: a burst gets no more
    tries than the limit.
    """
    email = (email or "").strip().lower()
    if string_problem(email, 254) or string_problem(password or "", 1000):
        email, password = "", ""  # matches no account; still costs a hash check below
    email, ip = email[:254], ip[:45]
    check_throttle(email, ip)
    user = user_by_email(email) if email else None
    ok = check_password_hash(user.password_hash if user else _dummy_hash(), password or "")
    if user is not None and ok and user.is_active:
        db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
        db.session.commit()
        return user
    db.session.add(LoginAttempt(email=email, ip=ip))
    db.session.commit()
    return None


def check_throttle(email: str, ip: str, what: str = "failed sign-ins") -> None:
    """Take the throttle's locks for ``email`` and ``ip`` (held until the caller's
    transaction ends) and raise Throttled if either has too many recent failures. Sign-in,
    "forgot password" and a password change all pass through it."""
    email, ip = (email or "").strip().lower()[:254], (ip or "unknown")[:45]
    cfg = current_app.config
    _lock_throttle(email, ip)
    since = utcnow() - timedelta(seconds=cfg["LOGIN_WINDOW_SECONDS"])
    by_email = _failures_since(LoginAttempt.email == email, since)
    by_ip = _failures_since(LoginAttempt.ip == ip, since)
    if by_email >= cfg["LOGIN_MAX_FAILURES"] or by_ip >= 4 * cfg["LOGIN_MAX_FAILURES"]:
        db.session.rollback()  # releases the lock
        minutes = max(1, cfg["LOGIN_WINDOW_SECONDS"] // 60)
        raise Throttled(
            f"Too many {what}. Try again in {minutes} minutes.",
            retry_after=cfg["LOGIN_WINDOW_SECONDS"],
        )


def _lock_throttle(*keys: str) -> None:
    """Serialise sign-in attempts per email and per address until the transaction ends.

    PostgreSQL: transaction-level advisory locks, taken in a fixed order (no deadlock).
    SQLite (the one-person demo) writes one transaction at a time and needs none.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted({int.from_bytes(hashlib.sha256(f"login:{i}:{k}".encode()).digest()[:8],
                                 "big", signed=True) for i, k in enumerate(keys)})
    for lock_id in ids:
        db.session.execute(sql("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


def _failures_since(condition, since) -> int:
    return db.session.scalar(
        select(func.count()).select_from(LoginAttempt).where(condition, LoginAttempt.at >= since)
    )
