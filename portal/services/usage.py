"""Metering: batch ingest of usage events, and usage as the rollup sees it."""
from collections import defaultdict
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

import psycopg
from sqlalchemy import Integer, any_, bindparam, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..billing.terms import COUNTER, RESOURCE_KINDS
from ..clock import utcnow
from ..errors import ValidationError
from ..extensions import db
from ..models import Deployment, UsageDaily, UsageEvent
from .deployments import require_deployment_ids
from .validation import MAX_ID, MAX_QUANTITY, QUANTUM, FieldError, quantity, record_id, string_problem

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
        "quantity": _quantity,
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


def _quantity(value: Any) -> Decimal:
    """``validation.quantity``, with the magnitude checked first: its decimal-places test
    rounds, and rounding a number of 22 digits or more to six places overflows Decimal's
    context (InvalidOperation, a 500) instead of refusing it."""
    if isinstance(value, Decimal) and value.is_finite() and abs(value) > MAX_QUANTITY:
        raise FieldError("must not be negative" if value < 0 else f"must be at most {MAX_QUANTITY:,}")
    return quantity(value)


def _kind(value: Any) -> str:
    if not isinstance(value, str) or value not in RESOURCE_KINDS:
        raise FieldError(f"unknown resource kind {value!r} (known: {', '.join(RESOURCE_KINDS)})")
    return value


def _plain_event(raw: Any) -> dict | None:
    """The row of an event that passes every check of ``_event``, by the shortest path (a
    batch holds up to 1,000 of them); None for anything else, which ``_event`` then explains.
    The same checks: exactly the five fields, a non-blank event_id of at most 200 characters
    and no control character (the edge checks that too, but not for a caller in process),
    a deployment id in range, a known kind, a quantity as ``quantity`` takes it, an ISO time."""
    if type(raw) is not dict or raw.keys() != EVENT_FIELDS:
        return None
    event_id, deployment_id, kind, qty, occurred_at = (
        raw["event_id"], raw["deployment_id"], raw["resource_kind"], raw["quantity"],
        raw["occurred_at"])
    if (type(event_id) is not str or not event_id or event_id.isspace()
            or string_problem(event_id, 200) is not None
            or type(deployment_id) is not int or not 1 <= deployment_id <= MAX_ID
            or type(kind) is not str or kind not in RESOURCE_KINDS
            or type(occurred_at) is not str):
        return None
    if type(qty) is int:
        if not 0 <= qty <= MAX_QUANTITY:
            return None
        qty = Decimal(qty)
    elif type(qty) is Decimal:
        # In range first (cheap even for 1E-999999999), then "at most six decimals" as one
        # rounding rather than ``quantity``'s digit tuple.
        if not (qty.is_finite() and 0 <= qty <= MAX_QUANTITY and qty == qty.quantize(QUANTUM)):
            return None
    else:
        return None
    try:
        return {"event_id": event_id, "deployment_id": deployment_id, "resource_kind": kind,
                "quantity": qty, "occurred_at": parse_timestamp(occurred_at)}
    except FieldError:
        return None


def _known_deployments(ids: set[int]) -> set[int]:
    """The ids among ``ids`` that exist. On PostgreSQL one array parameter, not an IN list of
    up to 1,000 placeholders that the driver would parse again for every batch."""
    if db.session.get_bind().dialect.name != "postgresql":
        return require_deployment_ids(ids)
    return set(db.session.scalars(
        select(Deployment.id).where(Deployment.id == any_(bindparam("ids", list(ids),
                                                                    type_=ARRAY(Integer))))))


def _refuse_unknown_deployments(rows: list[dict]) -> None:
    """The 422 naming the first event whose deployment does not exist, if one does not."""
    known = _known_deployments({r["deployment_id"] for r in rows})
    for index, row in enumerate(rows):
        if row["deployment_id"] not in known:
            field, problem = f"events[{index}].deployment_id", f"unknown deployment {row['deployment_id']}"
            raise ValidationError({field: problem}, f"event {index} is invalid ({field}: {problem}); "
                                                    "nothing in this batch was stored")


def ingest(data: Mapping[str, Any]) -> dict[str, int]:
    """Store a batch of events in one statement. ``event_id`` is an idempotency key: an event
    seen before (or twice in the batch) counts as a duplicate. One bad event rejects the batch,
    its index named in the error, and nothing is stored.

    On PostgreSQL the deployments are checked by the events' foreign key, which the insert
    checks anyway, not by a query per batch: the insert runs under a savepoint, and only when
    the key refuses a row does a query find which event to name. Rows skipped as duplicates
    are not checked by the key, so a batch with duplicates is also checked by that query:
    an unknown deployment is refused whether or not its event_id was seen before."""
    if set(data) - {"events"}:
        raise ValidationError({k: "unknown field" for k in data if k != "events"})
    events = data.get("events")
    if not isinstance(events, list):
        raise ValidationError({"events": "must be a list of events"})
    if not 1 <= len(events) <= MAX_BATCH:
        raise ValidationError({"events": f"must hold 1 to {MAX_BATCH} events"})
    rows = []
    for index, raw in enumerate(events):
        row = _plain_event(raw)
        if row is None:  # not the common well-formed case: the full check names the problem
            row, errors = _event(index, raw)
            if errors:  # the first bad event is the one to report
                first = next(iter(errors.items()))
                raise ValidationError(errors, f"event {index} is invalid ({first[0]}: {first[1]}); "
                                              "nothing in this batch was stored")
        rows.append(row)
    if db.session.get_bind().dialect.name == "postgresql":
        accepted = _insert_events_postgres(rows, savepoint=True)
        if accepted is None:  # the key refused a row; the savepoint is rolled back
            _refuse_unknown_deployments(rows)
            # None unknown now: the deployment was created since the key looked. Once more.
            accepted = _insert_events_postgres(rows, savepoint=True)
            if accepted is None:
                _refuse_unknown_deployments(rows)
        if accepted < len(rows):  # duplicates, which the key did not check
            try:
                _refuse_unknown_deployments(rows)
            except ValidationError:
                _raw_execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                raise
    else:
        _refuse_unknown_deployments(rows)
        accepted = _insert_events_generic(rows)
    db.session.commit()
    return {"accepted": accepted, "duplicates": len(rows) - accepted}


def insert_events(rows: list[dict]) -> int:
    """Store validated events, skipping event_ids already stored (or repeated in ``rows``: the
    first one counts), and add the newly stored ones to the daily aggregate in the same
    transaction. Returns how many were new. The caller commits."""
    if not rows:
        return 0
    if db.session.get_bind().dialect.name == "postgresql":
        return _insert_events_postgres(rows)
    return _insert_events_generic(rows)


# The staging table lives as long as the database connection; ON COMMIT DELETE ROWS empties it
# at each commit, and the DELETE covers a savepoint or a second batch in one transaction.
_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS usage_staging (ord integer, event_id text, "
    "deployment_id bigint, resource_kind text, quantity numeric, occurred_at timestamptz) "
    "ON COMMIT DELETE ROWS; DELETE FROM usage_staging"
)
_SAVEPOINT = "usage_ingest"
# One statement: the events (in event_id order, so that concurrent batches take their index
# locks in the same order), then the aggregate from exactly the rows that went in: a
# duplicate is not in RETURNING, so it adds nothing. Its rows too are locked in key order.
_INSERT_FROM_STAGING = """
WITH new AS (
    INSERT INTO usage_events (event_id, deployment_id, resource_kind, quantity, occurred_at,
                              received_at)
    SELECT event_id, deployment_id, resource_kind, quantity, occurred_at, %(now)s
    FROM usage_staging ORDER BY event_id, ord
    ON CONFLICT (event_id) DO NOTHING
    RETURNING deployment_id, resource_kind, quantity, occurred_at
), daily AS (
    INSERT INTO usage_daily AS d (deployment_id, resource_kind, day, total_qty, peak_qty, events)
    SELECT deployment_id, resource_kind, (occurred_at AT TIME ZONE 'UTC')::date,
           sum(quantity), max(quantity), count(*)
    FROM new GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (deployment_id, resource_kind, day) DO UPDATE
    SET total_qty = d.total_qty + excluded.total_qty,
        peak_qty = greatest(d.peak_qty, excluded.peak_qty),
        events = d.events + excluded.events
)
SELECT count(*) FROM new
"""


def _raw_execute(statement: str) -> None:
    with db.session.connection().connection.driver_connection.cursor() as cursor:
        cursor.execute(statement)


def _insert_events_postgres(rows: list[dict], savepoint: bool = False) -> int | None:
    """COPY into a temporary staging table, then one INSERT … SELECT … ON CONFLICT: psycopg
    re-parses a long multi-row INSERT every time, COPY streams the rows without a statement
    per batch. On the session's own connection, so it is the session's transaction.

    With ``savepoint``, the insert runs under one (set in the staging statement's round trip),
    and a row whose deployment does not exist rolls it back and returns None instead of
    raising: the caller names the event. Without, the foreign key's error propagates."""
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(f"{_STAGING}; SAVEPOINT {_SAVEPOINT}" if savepoint else _STAGING)
        with cursor.copy("COPY usage_staging (ord, event_id, deployment_id, resource_kind, "
                         "quantity, occurred_at) FROM STDIN") as copy:
            write = copy.write_row
            for ord_, row in enumerate(rows):
                write((ord_, row["event_id"], row["deployment_id"], row["resource_kind"],
                       row["quantity"], row["occurred_at"]))
        try:
            cursor.execute(_INSERT_FROM_STAGING, {"now": utcnow()})
        except psycopg.errors.ForeignKeyViolation:
            if not savepoint:
                raise
            cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            return None
        return cursor.fetchone()[0]


def _insert_events_generic(rows: list[dict]) -> int:
    """SQLite (the one-person demo): one multi-row INSERT, the aggregate summed in Python from
    the rows it returned."""
    table = UsageEvent.__table__
    statement = (
        sqlite_insert(table)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(table.c.deployment_id, table.c.resource_kind, table.c.quantity,
                   table.c.occurred_at)
    )
    now = utcnow()
    new = db.session.execute(statement, [{**row, "received_at": now} for row in rows]).all()
    daily: dict[tuple, list] = {}
    for deployment_id, kind, qty, occurred_at in new:
        qty = Decimal(qty)
        if occurred_at.tzinfo is not None:
            occurred_at = occurred_at.astimezone(timezone.utc)
        key = (deployment_id, kind, occurred_at.date())
        if key in daily:
            entry = daily[key]
            entry[0] += qty
            entry[1] = max(entry[1], qty)
            entry[2] += 1
        else:
            daily[key] = [qty, qty, 1]
    if daily:
        t = UsageDaily.__table__
        upsert = sqlite_insert(t)
        upsert = upsert.on_conflict_do_update(
            index_elements=["deployment_id", "resource_kind", "day"],
            set_={"total_qty": t.c.total_qty + upsert.excluded.total_qty,
                  "peak_qty": func.max(t.c.peak_qty, upsert.excluded.peak_qty),
                  "events": t.c.events + upsert.excluded.events},
        )
        db.session.execute(upsert, [
            {"deployment_id": d, "resource_kind": k, "day": day, "total_qty": total,
             "peak_qty": peak, "events": n}
            for (d, k, day), (total, peak, n) in sorted(daily.items())
        ])
    return len(new)


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def usage_by_deployment(deployment_ids: Iterable[int], start: date, end: date
                        ) -> dict[int, dict[str, Decimal]]:
    """Usage in [start, end) (whole UTC days) for many deployments in one query, from the
    daily aggregate: counters summed, gauges at their peak."""
    ids = list(set(deployment_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(UsageDaily.deployment_id, UsageDaily.resource_kind,
               func.sum(UsageDaily.total_qty), func.max(UsageDaily.peak_qty))
        .where(UsageDaily.deployment_id.in_(ids), UsageDaily.day >= start, UsageDaily.day < end)
        .group_by(UsageDaily.deployment_id, UsageDaily.resource_kind)
    )
    return _usage_from(rows)


def raw_usage_by_deployment(deployment_ids: Iterable[int], start: date, end: date
                            ) -> dict[int, dict[str, Decimal]]:
    """The same figures as ``usage_by_deployment``, computed from the raw events (the source
    of truth): for checking the aggregate, and for rebuilding it."""
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
    return _usage_from(rows)


def _usage_from(rows) -> dict[int, dict[str, Decimal]]:
    usage: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for deployment_id, kind, total, peak in rows:
        value = total if RESOURCE_KINDS[kind] == COUNTER else peak
        usage[deployment_id][kind] = Decimal(value).normalize() if value is not None else Decimal(0)
    return dict(usage)


def rebuild_aggregates(start: date | None = None, end: date | None = None) -> int:
    """Recompute the daily aggregate from the raw events, for the days in [start, end) or for
    all of them; returns how many aggregate rows it wrote. The caller commits. On PostgreSQL
    the aggregate is locked against writers first, so an ingest still in flight either
    commits before the recomputation reads the events or waits until it has committed."""
    daily = UsageDaily.__table__
    events = UsageEvent.__table__
    in_window = []
    if start is not None:
        in_window.append(events.c.occurred_at >= _utc_midnight(start))
    if end is not None:
        in_window.append(events.c.occurred_at < _utc_midnight(end))
    clear = delete(daily)
    if start is not None:
        clear = clear.where(daily.c.day >= start)
    if end is not None:
        clear = clear.where(daily.c.day < end)
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE usage_daily IN EXCLUSIVE MODE"))
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))
        db.session.execute(clear)
        day = func.date(func.timezone("UTC", events.c.occurred_at))
        source = (
            select(events.c.deployment_id, events.c.resource_kind, day,
                   func.sum(events.c.quantity), func.max(events.c.quantity), func.count())
            .where(*in_window)
            .group_by(events.c.deployment_id, events.c.resource_kind, day)
        )
        rebuilt = (
            insert(daily).from_select(
                ["deployment_id", "resource_kind", "day", "total_qty", "peak_qty", "events"],
                source)
            .returning(daily.c.events).cte("rebuilt")
        )
        return db.session.scalar(select(func.count()).select_from(rebuilt))
    db.session.execute(clear)
    sums: dict[tuple, list] = {}
    for deployment_id, kind, qty, occurred_at in db.session.execute(
            select(events.c.deployment_id, events.c.resource_kind, events.c.quantity,
                   events.c.occurred_at).where(*in_window)):
        qty = Decimal(qty)
        if occurred_at.tzinfo is not None:
            occurred_at = occurred_at.astimezone(timezone.utc)
        entry = sums.setdefault((deployment_id, kind, occurred_at.date()), [Decimal(0), qty, 0])
        entry[0] += qty
        entry[1] = max(entry[1], qty)
        entry[2] += 1
    if sums:
        db.session.execute(insert(daily), [
            {"deployment_id": d, "resource_kind": k, "day": day, "total_qty": total,
             "peak_qty": peak, "events": n}
            for (d, k, day), (total, peak, n) in sums.items()
        ])
    return len(sums)


def usage_for_period(deployment_id: int, start: date, end: date) -> dict[str, Decimal]:
    """Every resource kind's usage in [start, end), zero where nothing was metered."""
    found = usage_by_deployment([deployment_id], start, end).get(deployment_id, {})
    return {kind: found.get(kind, Decimal(0)) for kind in RESOURCE_KINDS}
