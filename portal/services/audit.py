"""The audit log: every admin write records who did what, in the same transaction; platform
admins read it back, filtered and newest first."""
import contextlib
import contextvars
import re
from datetime import date, datetime, time, timezone

from sqlalchemy import Select, select

from ..errors import ValidationError
from ..extensions import db
from ..models import AuditEntry, User
from .paging import Sorts, totals

CLI = "cli"
SCHEDULER = "scheduler"
SYSTEM_ACTORS = (CLI, SCHEDULER)

# Who acts when no user does: the command line unless a job says otherwise.
_system_actor: contextvars.ContextVar[str] = contextvars.ContextVar("audit_actor", default=CLI)


@contextlib.contextmanager
def acting_as(name: str):
    """Writes without a user inside this block are recorded as ``name`` (e.g. the scheduler)."""
    if name not in SYSTEM_ACTORS:
        raise ValueError(name)
    reset = _system_actor.set(name)
    try:
        yield
    finally:
        _system_actor.reset(reset)


def record(actor: User | None, action: str, target_type: str, target_id: int | None, **details):
    db.session.add(
        AuditEntry(
            actor_user_id=actor.id if actor else None,
            actor=actor.email if actor else _system_actor.get(),
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )
    )


# --- reading it -------------------------------------------------------------------------

FILTERS = ("actor", "object_type", "object_id", "since")
PER_PAGE = 50
MAX_PER_PAGE = 500
_MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"^[0-9]{1,10}$")


def parse_since(value: str) -> datetime:
    """An ISO date (that day's start, UTC) or date-time (UTC when it has no offset)."""
    value = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=timezone.utc)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError({"since": "must be an ISO date (YYYY-MM-DD) or date-time"}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _positive_int(args, name: str, errors: dict, high: int = _MAX_ID) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if not _DIGITS.match(raw) or not 1 <= int(raw) <= high:
        errors[name] = f"must be a whole number from 1 to {high}"
        return None
    return int(raw)


def parse_filters(args) -> dict:
    """The log's filters from query arguments (page or API); every bad one is named at once.

    ``actor`` is the user's email or ``cli`` / ``scheduler``; ``object_type`` and
    ``object_id`` are the contract's names for what the model calls the target."""
    errors: dict[str, str] = {}
    filters: dict = {}
    actor = (args.get("actor") or "").strip().lower()
    if len(actor) > 254:
        errors["actor"] = "must be at most 254 characters"
    elif actor:
        filters["actor"] = actor
    object_type = (args.get("object_type") or "").strip()
    if len(object_type) > 32:
        errors["object_type"] = "must be at most 32 characters"
    elif object_type:
        filters["object_type"] = object_type
    object_id = _positive_int(args, "object_id", errors)
    if object_id is not None:
        filters["object_id"] = object_id
    if (args.get("since") or "").strip():
        try:
            filters["since"] = parse_since(args["since"])
        except ValidationError as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationError(errors)
    return filters


def parse_keyset(args) -> tuple[int | None, int]:
    """``?before=<id>`` (the page starts below that entry) and ``?per_page=`` (1..500)."""
    errors: dict[str, str] = {}
    before = _positive_int(args, "before", errors)
    per_page = _positive_int(args, "per_page", errors, MAX_PER_PAGE) or PER_PAGE
    if errors:
        raise ValidationError(errors)
    return before, per_page


def entries_query(actor: str | None = None, object_type: str | None = None,
                  object_id: int | None = None, since: datetime | None = None) -> Select:
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if object_type:
        query = query.where(AuditEntry.target_type == object_type)
    if object_id is not None:
        query = query.where(AuditEntry.target_id == object_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return query


def page_of_entries(filters: dict, before: int | None = None,
                    per_page: int = PER_PAGE) -> tuple[list[AuditEntry], int | None]:
    """Newest first, keyset-paged on id (stable while entries are added): the page's entries
    and the ``before`` of the next page, or None when this is the last."""
    query = entries_query(**filters)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = list(db.session.scalars(query.limit(per_page + 1)))
    page = rows[:per_page]
    return page, (page[-1].id if len(rows) > per_page else None)


# The audit page: by when (the id's order: entries are appended), newest first or oldest first.
AUDIT_SORTS = Sorts({"when": (AuditEntry.id, int)}, "-when", AuditEntry.id)


def page_query(user=None, **filters) -> Select:
    """The audit page's rows (platform admins only reach it)."""
    return entries_query(**filters)


def list_totals(query, keyset=None, cursor=None):
    return totals(query, {}, keyset, cursor)


def object_types() -> list[str]:
    """The object types recorded so far (for the page's filter)."""
    return list(db.session.scalars(
        select(AuditEntry.target_type).distinct().order_by(AuditEntry.target_type)))
