"""Tenants, users, API tokens and sign-in."""
import hashlib
import re
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from ..clock import utcnow
from ..errors import Conflict, NotFound, Throttled, ValidationError
from ..extensions import db
from ..models import ApiToken, LoginAttempt, Tenant, User
from ..models.tenancy import PLATFORM_ADMIN, ROLES
from . import audit
from .validation import Fields, string_problem, text

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "arc_"
MIN_PASSWORD_LENGTH = 8


def tenant_by_slug(slug: str) -> Tenant | None:
    if not isinstance(slug, str) or string_problem(slug, 63):
        return None  # no tenant has a slug the database could not even hold
    return db.session.scalar(select(Tenant).where(Tenant.slug == slug))


def list_tenants() -> list[Tenant]:
    return list(db.session.scalars(select(Tenant).order_by(Tenant.slug)))


def user_by_email(email: str) -> User | None:
    if not isinstance(email, str) or string_problem(email, 254):
        return None
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def create_tenant(slug: str, name: str, *, billing_name: str | None = None,
                  billing_address: str = "", abn: str | None = None,
                  actor: User | None = None) -> Tenant:
    """Checked as the tenant profile page checks (the CLI and the demo call it)."""
    fields = Fields({"name": name, "billing_name": billing_name or name,
                     "billing_address": billing_address or None, "abn": abn or None})
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        fields.add("slug", "must be lowercase letters, digits and hyphens (1-63)")
    name = fields.get("name", text)
    billing_name = fields.get("billing_name", text)
    billing_address = fields.get("billing_address", lambda v: text(v, 1000, multiline=True),
                                 required=False, default="")
    if abn:
        try:
            abn = normalise_abn(abn)
        except ValidationError as exc:
            fields.add("abn", exc.fields["abn"])
    fields.done()
    if tenant_by_slug(slug):
        raise Conflict(f"tenant {slug!r} already exists", {"slug": "already exists"})
    tenant = Tenant(
        slug=slug,
        name=name,
        billing_name=billing_name,
        billing_address=billing_address,
        abn=abn,
    )
    db.session.add(tenant)
    db.session.flush()
    audit.record(actor, "tenant.create", "tenant", tenant.id, slug=slug)
    db.session.commit()
    return tenant


_ABN = re.compile(r"^\d{11}$")
TENANT_PROFILE_FIELDS = {"name", "billing_name", "billing_address", "abn"}


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


def update_tenant_profile(actor: User | None, tenant_id: int, data) -> Tenant:
    """Admins edit a tenant's name and billing profile (printed on its future invoices)."""
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id}")
    fields = Fields(data, allowed=TENANT_PROFILE_FIELDS)
    name = fields.get("name", text)
    billing_name = fields.get("billing_name", text)
    address = fields.get("billing_address", lambda v: text(v, 1000, multiline=True))
    abn = None
    if (data.get("abn") or "").strip():
        try:
            abn = normalise_abn(data["abn"])
        except ValidationError as exc:
            fields.add("abn", exc.fields["abn"])
    fields.done()
    before = {"name": tenant.name, "billing_name": tenant.billing_name,
              "billing_address": tenant.billing_address, "abn": tenant.abn}
    tenant.name, tenant.billing_name, tenant.billing_address, tenant.abn = name, billing_name, address, abn
    after = {"name": name, "billing_name": billing_name, "billing_address": address, "abn": abn}
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
    db.session.flush()
    audit.record(actor, "user.create", "user", user.id, email=email, role=role)
    db.session.commit()
    return user


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


# --- API tokens -------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(email: str, actor: User | None = None) -> str:
    """A new bearer token for the user; only its hash is kept, so this is the one sight of it."""
    user = user_by_email(email)
    if user is None:
        raise NotFound(f"no user {email}")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, token_hash=_digest(raw), prefix=raw[:12])
    db.session.add(token)
    db.session.flush()
    audit.record(actor, "token.create", "user", user.id, prefix=token.prefix)
    db.session.commit()
    return raw


def revoke_tokens(email: str, actor: User | None = None) -> int:
    """Revoke every live token of the user; returns how many."""
    user = user_by_email(email)
    if user is None:
        raise NotFound(f"no user {email}")
    result = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    audit.record(actor, "token.revoke", "user", user.id, count=result.rowcount)
    db.session.commit()
    return result.rowcount


def user_for_token(raw: str) -> User | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(raw), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.user.is_active:
        return None
    return token.user


# --- sign-in ----------------------------------------------------------------------------

# Checked against when the email is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="pbkdf2:sha256:1000")


def authenticate(email: str, password: str, ip: str) -> User | None:
    """The user for these credentials, or None. Raises Throttled after repeated failures.

    Failures are counted per email and per address over a sliding window; a success clears
    the email's count.
    """
    email = (email or "").strip().lower()
    if string_problem(email, 254) or string_problem(password or "", 1000):
        email, password = "", ""  # matches no account; still costs a hash check below
    cfg = current_app.config
    window = timedelta(seconds=cfg["LOGIN_WINDOW_SECONDS"])
    since = utcnow() - window
    by_email = _failures_since(LoginAttempt.email == email, since)
    by_ip = _failures_since(LoginAttempt.ip == ip, since)
    if by_email >= cfg["LOGIN_MAX_FAILURES"] or by_ip >= 4 * cfg["LOGIN_MAX_FAILURES"]:
        minutes = max(1, cfg["LOGIN_WINDOW_SECONDS"] // 60)
        raise Throttled(
            f"Too many failed sign-ins. Try again in {minutes} minutes.",
            retry_after=cfg["LOGIN_WINDOW_SECONDS"],
        )
    user = user_by_email(email) if email else None
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    if user is not None and ok and user.is_active:
        db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
        db.session.commit()
        return user
    db.session.add(LoginAttempt(email=email[:254], ip=ip[:45]))
    db.session.commit()
    return None


def _failures_since(condition, since) -> int:
    return db.session.scalar(
        select(func.count()).select_from(LoginAttempt).where(condition, LoginAttempt.at >= since)
    )
