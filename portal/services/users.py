"""Users in the browser and the API: invite (by email, with a single-use link), list, and
deactivate (``accounts.deactivate_user``).

Platform admins invite anyone into any tenant, platform admins included. A tenant admin
invites only into its own tenant and only tenant roles: naming another tenant is "not found"
(as everywhere), asking for a platform admin is 403.
"""
import secrets

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from ..clock import utcnow
from ..errors import Conflict, Forbidden, NotFound, ValidationError
from ..extensions import db
from ..models import Tenant, User
from ..models.tenancy import LINK_INVITE, PLATFORM_ADMIN, ROLES
from ..permissions import check
from . import accounts, audit, mail, passwords
from .paging import Sorts, totals
from .validation import MAX_ID, Fields, FieldError, email_address

UNUSABLE_PASSWORD = "!invited"  # no "$": werkzeug's check is False for it, whatever is typed


def _role(value) -> str:
    if value not in ROLES:
        raise FieldError(f"must be one of {', '.join(ROLES)}")
    return value


def _slug(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError("must be a tenant's slug")
    return value.strip()


def _email(value) -> str:
    return email_address(value).lower()


def visible_tenant(actor: User, slug: str) -> Tenant:
    """The tenant ``slug`` if ``actor`` may see it; another tenant is NotFound like a missing one."""
    tenant = accounts.tenant_by_slug(slug)
    if tenant is None or not (actor.is_platform_admin or tenant.id == actor.tenant_id):
        raise NotFound(f"no tenant {slug!r}")
    return tenant


def invite(actor: User, data) -> User:
    """``{email, role, tenant}`` → a new user without a password, and its invitation emailed
    (after the commit) with a link valid 72 hours."""
    check(actor, "users.manage")
    fields = Fields(data, allowed={"email", "role", "tenant"})
    email = fields.get("email", _email)
    role = fields.get("role", _role)
    slug = fields.get("tenant", _slug, required=False)
    if not actor.is_platform_admin:
        if role == PLATFORM_ADMIN:
            raise Forbidden("A tenant admin may invite tenant users only.")
        slug = slug or actor.tenant.slug  # its own tenant by default
    tenant = None
    if role == PLATFORM_ADMIN:
        if slug:
            fields.add("tenant", "a platform admin belongs to no tenant")
    elif role is not None:
        if not slug:
            fields.add("tenant", f"is required for {role}")
        elif actor.is_platform_admin:
            tenant = accounts.tenant_by_slug(slug)
            if tenant is None:
                fields.add("tenant", f"unknown tenant {slug!r}")
        else:
            tenant = visible_tenant(actor, slug)  # another tenant: 404
    fields.done()
    if accounts.user_by_email(email):
        raise Conflict(f"user {email} already exists", {"email": "already exists"})
    user = User(email=email, role=role, tenant=tenant, invited_at=utcnow(),
                password_hash=UNUSABLE_PASSWORD + secrets.token_hex(8))
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # invited at the same moment by another request
        db.session.rollback()
        raise Conflict(f"user {email} already exists", {"email": "already exists"}) from None
    token = passwords.issue_link(user, LINK_INVITE)
    passwords.queue_link_email(user, LINK_INVITE, token, inviter=actor)
    audit.record(actor, "user.invite", "user", user.id, email=email, role=role,
                 tenant=tenant.slug if tenant else None)
    db.session.commit()
    mail.dispatch()
    return user


def resend_invitation(actor: User, user_id) -> User:
    """A fresh invitation link (the old one stops working), for one not accepted yet."""
    user = managed_user(actor, user_id)
    if not user.invitation_pending or not user.active:
        raise Conflict(f"{user.email} has no pending invitation.")
    token = passwords.issue_link(user, LINK_INVITE)
    passwords.queue_link_email(user, LINK_INVITE, token, inviter=actor)
    audit.record(actor, "user.invite_resend", "user", user.id, email=user.email)
    db.session.commit()
    mail.dispatch()
    return user


def managed_user(actor: User, user_id) -> User:
    """A user ``actor`` may manage: a tenant admin its own tenant's, else NotFound."""
    check(actor, "users.manage")
    user = db.session.get(User, user_id) if isinstance(user_id, int) and 0 < user_id <= MAX_ID else None
    if user is None or not (actor.is_platform_admin or user.tenant_id == actor.tenant_id):
        raise NotFound(f"no user {user_id}")
    return user


def deactivate(actor: User, user_id) -> User:
    return accounts.deactivate_user(actor, managed_user(actor, user_id))


# The users list: by email (A to Z) or role, the id breaking ties (keyset cursors).
USER_SORTS = Sorts({"email": (User.email, str), "role": (User.role, str)}, "email", User.id)
MAX_EMAIL_SEARCH = 254


def users_query(actor: User, tenant_slug: str | None = None, email: str | None = None) -> Select:
    """The users ``actor`` may see, by email; admins may narrow to one tenant (slug); ``email``
    keeps those whose address contains it (any case)."""
    check(actor, "users.manage")
    query = select(User).order_by(User.email)
    if email and email.strip():
        if len(email) > MAX_EMAIL_SEARCH:
            raise ValidationError({"email": f"must be at most {MAX_EMAIL_SEARCH} characters"})
        query = query.where(User.email.icontains(email.strip(), autoescape=True))
    if tenant_slug:
        query = query.where(User.tenant_id == visible_tenant(actor, tenant_slug).id)
    if not actor.is_platform_admin:
        query = query.where(User.tenant_id == actor.tenant_id)
    return query


def list_totals(query, keyset=None, cursor=None):
    return totals(query, {}, keyset, cursor)
