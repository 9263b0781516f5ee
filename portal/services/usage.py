"""Metering: batch ingest of usage events, and usage as the rollup sees it."""
from collections import defaultdict
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..billing.terms import COUNTER, RESOURCE_KINDS
from ..clock import utcnow
from ..errors import ValidationError
from ..extensions import db
from ..models import UsageEvent
from .deployments import require_deployment_ids
from .validation import FieldError, quantity, record_id, string_problem

MAX_BATCH = 1000
EVENT_FIELDS = {"event_id", "deployment_id", "resource_kind", "quantity", "occurred_at"}


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601; without an offset it is taken as UTC (periods are UTC months)."""
    if not isinstance(value, str):
        raise FieldError("must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except ValueError:
        raise FieldError("must be an ISO 8601 date-time, e.g. 2026-04-01T13:00:00Z") from None
    except OverflowError:  # an offset that moves it past year 1 or 9999
        raise FieldError("is out of range") from None


def _event(index: int, raw: Any) -> tuple[dict | None, dict[str, str]]:
    prefix = f"events[{index}]"
    if not isinstance(raw, dict):
        return None, {prefix: "must be an object"}
    errors = {f"{prefix}.{k}": "unknown field" for k in raw if k not in EVENT_FIELDS}
    row = {}
    checks = {
        "event_id": _event_id,
        "deployment_id": record_id,
        "resource_kind": _kind,
        "quantity": quantity,
        "occurred_at": parse_timestamp,
    }
    for name, check in checks.items():
        if raw.get(name) is None:
            errors[f"{prefix}.{name}"] = "is required"
            continue
        try:
            row[name] = check(raw[name])
        except FieldError as exc:
            errors[f"{prefix}.{name}"] = str(exc)
    return (row if not errors else None), errors


def _event_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError("must be a non-empty string")
    problem = string_problem(value, 200)
    if problem:
        raise FieldError(problem)
    return value


def _kind(value: Any) -> str:
    if not isinstance(value, str) or value not in RESOURCE_KINDS:
        raise FieldError(f"unknown resource kind {value!r} (known: {', '.join(RESOURCE_KINDS)})")
    return value


def ingest(data: Mapping[str, Any]) -> dict[str, int]:
    """Store a batch of events in one statement. ``event_id`` is an idempotency key: an event
    seen before (or twice in the batch) counts as a duplicate. One bad event rejects the batch,
    its index named in the error, and nothing is stored."""
    if set(data) - {"events"}:
        raise ValidationError({k: "unknown field" for k in data if k != "events"})
    events = data.get("events")
    if not isinstance(events, list):
        raise ValidationError({"events": "must be a list of events"})
    if not 1 <= len(events) <= MAX_BATCH:
        raise ValidationError({"events": f"must hold 1 to {MAX_BATCH} events"})
    rows, errors = [], {}
    for index, raw in enumerate(events):
        row, problems = _event(index, raw)
        if problems and not errors:
            errors = problems  # the first bad event is the one to report
            bad_index = index
        if row:
            rows.append(row)
    if not errors:
        known = require_deployment_ids(r["deployment_id"] for r in rows)
        for index, row in enumerate(rows):
            if row["deployment_id"] not in known:
                errors = {f"events[{index}].deployment_id": f"unknown deployment {row['deployment_id']}"}
                bad_index = index
                break
    if errors:
        first = next(iter(errors.items()))
        raise ValidationError(errors, f"event {bad_index} is invalid ({first[0]}: {first[1]}); "
                                      "nothing in this batch was stored")
    accepted = insert_events(rows)
    db.session.commit()
    return {"accepted": accepted, "duplicates": len(rows) - accepted}


def insert_events(rows: list[dict]) -> int:
    """Insert validated events in one statement, skipping event_ids already stored; returns
    how many were new. The caller commits."""
    if not rows:
        return 0
    dialect = db.session.get_bind().dialect.name
    # One cached Core statement executed with many parameter sets: SQLAlchemy batches it
    # into multi-row INSERTs ("insertmanyvalues") without recompiling a statement per batch.
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = UsageEvent.__table__
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(table.c.id)
    )
    now = utcnow()
    return len(db.session.execute(statement, [{**row, "received_at": now} for row in rows]).all())


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def usage_by_deployment(deployment_ids: Iterable[int], start: date, end: date
                        ) -> dict[int, dict[str, Decimal]]:
    """Usage in [start, end) (UTC days) for many deployments in one query: counters summed,
    gauges at their peak."""
    ids = list(set(deployment_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(UsageEvent.deployment_id, UsageEvent.resource_kind,
               func.sum(UsageEvent.quantity), func.max(UsageEvent.quantity))
        .where(UsageEvent.deployment_id.in_(ids),
               UsageEvent.occurred_at >= _utc_midnight(start),
               UsageEvent.occurred_at < _utc_midnight(end))
        .group_by(UsageEvent.deployment_id, UsageEvent.resource_kind)
    )
    usage: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for deployment_id, kind, total, peak in rows:
        value = total if RESOURCE_KINDS[kind] == COUNTER else peak
        usage[deployment_id][kind] = Decimal(value).normalize() if value is not None else Decimal(0)
    return dict(usage)


def usage_for_period(deployment_id: int, start: date, end: date) -> dict[str, Decimal]:
    """Every resource kind's usage in [start, end), zero where nothing was metered."""
    found = usage_by_deployment([deployment_id], start, end).get(deployment_id, {})
    return {kind: found.get(kind, Decimal(0)) for kind in RESOURCE_KINDS}
