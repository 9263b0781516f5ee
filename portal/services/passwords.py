"""Passwords: single-use links (invitations and resets), "forgot password", changing one.

A link's token is 32 random bytes; only its SHA-256 is stored (``user_links``), the token
itself is only in the email, as API tokens are. A link is used at most once: using it locks
its row, and setting the password closes every other open link of the user. Setting a
password (any way) ends the user's other sessions (``accounts.end_sessions``).
"""
import hashlib
import secrets
from datetime import timedelta

from flask import current_app, render_template, url_for
from sqlalchemy import delete, select, update
from werkzeug.security import check_password_hash

from ..clock import utcnow
from ..errors import DomainError, NotFound, ValidationError
from ..extensions import db
from ..models import LoginAttempt, User, UserLink
from ..models.mail import INVITATION, PASSWORD_RESET
from ..models.tenancy import LINK_INVITE, LINK_RESET
from . import accounts, audit, mail

LINK_LIFETIMES = {LINK_INVITE: timedelta(hours=72), LINK_RESET: timedelta(hours=1)}
MAIL_KINDS = {LINK_INVITE: INVITATION, LINK_RESET: PASSWORD_RESET}
MAX_PASSWORD_LENGTH = 1000  # scrypt of a megabyte is a denial of service, not a password


class LinkGone(DomainError):
    """A link that was used already or has expired: a clear page, never a 500."""

    status, code = 410, "gone"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_new_password(password, confirm=None, field: str = "password") -> str:
    errors = {}
    if not isinstance(password, str) or len(password) < accounts.MIN_PASSWORD_LENGTH:
        errors[field] = f"must be at least {accounts.MIN_PASSWORD_LENGTH} characters"
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors[field] = f"must be at most {MAX_PASSWORD_LENGTH} characters"
    elif confirm is not None and confirm != password:
        errors["confirm"] = "does not match the new password"
    if errors:
        raise ValidationError(errors)
    return password


# --- links --------------------------------------------------------------------------------


def issue_link(user: User, purpose: str) -> str:
    """A new single-use link of ``purpose`` for ``user`` → its raw token (for the email only).
    Earlier open links of the same purpose are closed: only the newest one works."""
    now = utcnow()
    _close_links(user, purpose, now)
    token = secrets.token_urlsafe(32)
    db.session.add(UserLink(user_id=user.id, purpose=purpose, token_hash=_digest(token),
                            created_at=now, expires_at=now + LINK_LIFETIMES[purpose]))
    db.session.flush()
    return token


def _close_links(user: User, purpose: str | None, now) -> None:
    query = update(UserLink).where(UserLink.user_id == user.id, UserLink.used_at.is_(None))
    if purpose is not None:
        query = query.where(UserLink.purpose == purpose)
    db.session.execute(query.values(used_at=now))


def link_url(token: str) -> str:
    """The link's address. With ``PORTAL_URL`` set it never depends on the request's Host
    header, so a forged Host cannot send a user someone else's link (reset poisoning)."""
    base = current_app.config.get("PORTAL_URL")
    if base:
        return base + url_for("passwords.use_link", token=token)
    return url_for("passwords.use_link", token=token, _external=True)


def queue_link_email(user: User, purpose: str, token: str, inviter: User | None = None):
    """The email carrying the link (the only place the raw token ever goes)."""
    seller = current_app.config["SELLER_NAME"]
    subject = (f"You are invited to the {seller} portal" if purpose == LINK_INVITE
               else f"Reset your {seller} portal password")
    body = render_template(f"mail/{MAIL_KINDS[purpose]}.txt", user=user, url=link_url(token),
                           inviter=inviter, seller=seller,
                           hours=int(LINK_LIFETIMES[purpose].total_seconds() // 3600))
    return mail.queue_message(user.email, subject, body, MAIL_KINDS[purpose],
                              tenant_id=user.tenant_id)


def link_for(token: str, lock: bool = False) -> UserLink:
    """The open link of ``token``: NotFound if there is no such link, LinkGone if it was
    used or has expired, or its user was deactivated."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise NotFound("This link is not valid. Check that it was copied whole.")
    query = select(UserLink).where(UserLink.token_hash == _digest(token))
    if lock:
        query = query.with_for_update()
    link = db.session.scalar(query)
    if link is None:
        raise NotFound("This link is not valid. Check that it was copied whole.")
    if link.used_at is not None:
        raise LinkGone("This link has been used already: each link works once.")
    if link.expires_at <= utcnow():
        raise LinkGone("This link has expired.")
    if not link.user.active:
        raise LinkGone("This account has been deactivated.")
    return link


def use_link(token: str, password, confirm=None) -> User:
    """Set the password through a link; the link is spent, the user's sessions end (the
    caller signs this browser in again). Accepting an invitation marks the user accepted."""
    link = link_for(token, lock=True)
    password = check_new_password(password, confirm)
    user = link.user
    now = utcnow()
    _set_password(user, password, now)
    action = "user.accept_invitation" if link.purpose == LINK_INVITE else "user.password_reset"
    audit.record(user, action, "user", user.id, email=user.email)
    db.session.commit()
    return user


def _set_password(user: User, password: str, now) -> None:
    user.password_hash = accounts.hash_password(password)
    if user.invited_at is not None and user.accepted_at is None:
        user.accepted_at = now  # a reset link proves the mailbox as well as an invitation
    _close_links(user, None, now)
    accounts.end_sessions(user)
    # Proving the password (or the mailbox) lifts a sign-in lock, as a successful sign-in does.
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == user.email))


# --- forgot and change --------------------------------------------------------------------


def request_reset(email: str, ip: str) -> None:
    """"Forgot password": email a reset link if the address has an active account. The
    caller answers the same either way. Each request counts in the sign-in throttle (per
    email and per address), so it cannot be used to spray mail or probe addresses."""
    email = (email or "").strip().lower()[:254]
    accounts.check_throttle(email, ip, "password reset requests")
    db.session.add(LoginAttempt(email=email, ip=ip[:45]))
    user = accounts.user_by_email(email) if email else None
    if user is not None and user.active:
        token = issue_link(user, LINK_RESET)
        queue_link_email(user, LINK_RESET, token)  # the reset itself is audited when used
    db.session.commit()
    mail.dispatch()


def change_password(user: User, current, new, confirm=None, ip: str = "unknown") -> User:
    """The signed-in user changes its password, proving the current one. A wrong one counts
    as a failed sign-in (the throttle applies). Every session of the user ends; the caller
    signs the browser that changed it in again."""
    accounts.check_throttle(user.email, ip)
    if not check_password_hash(user.password_hash, current if isinstance(current, str) else ""):
        db.session.add(LoginAttempt(email=user.email, ip=ip[:45]))
        db.session.commit()
        raise ValidationError({"current": "is not your current password"})
    db.session.rollback()  # release the throttle's lock before the slow hash below
    new = check_new_password(new, confirm, field="new")
    _set_password(user, new, utcnow())
    audit.record(user, "user.password_change", "user", user.id, email=user.email)
    db.session.commit()
    return user
