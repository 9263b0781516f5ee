"""The month-end rollup: one invoice per tenant and period.

Every invoice is planned in Python by the pure engine (``billing.rollup.plan_invoice``), then
written a chunk of tenants at a time (``ROLLUP_CHUNK_TENANTS``) with set-based statements, one
transaction per chunk: a crash midway leaves whole chunks committed and no half-built invoice,
and a re-run finishes the rest. The terms are read in a fixed number of queries, whatever the
number of tenants, and the usage in one query a chunk. On PostgreSQL the three stages overlap
(chunk k+1's usage is read and chunk k-1 written while chunk k is planned), each stage on a
connection of its own. Two rollups of one period at once are safe: the partial unique index on
(tenant, period) among live invoices lets one insert win (``ON CONFLICT DO NOTHING``), and the
other counts that tenant as skipped. A forced run locks the period's live invoices of its chunk
and rebuilds drafts only.
"""
import json
import time as clock_time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, Sequence

from flask import current_app
from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, selectinload

from ..billing.proration import bills_in_period, month_start, next_month_start
from ..billing.terms import COUNTER, RESOURCE_KINDS, AddonTerms
from ..billing.rollup import (BilledSubscription, BillingError, InvoicePlan, plan_invoice,
                              usage_window)
from ..clock import as_utc, today, utcnow
from ..errors import ValidationError
from ..extensions import db
from ..queue import enqueue
from ..models import (
    Addon,
    Deployment,
    Invoice,
    InvoiceLine,
    PlanVersion,
    RollupRun,
    Subscription,
    SubscriptionAddon,
    Tenant,
    User,
)
from ..models.invoices import DRAFT, ISSUED, VOID
from . import audit, mail, webhooks
from .invoices import issue, parse_period, tax_rule
from .usage import usage_by_deployment, usage_for_period

Progress = Callable[[int, int], None]

ROLLUP_HOUR_UTC = 3  # the month's rollup is due at 03:00 UTC on the 1st of the next month
ROLLUP_TIMEOUT_SECONDS = 6 * 3600  # a rollup job's timeout; an inline run older is abandoned
CHUNK_TENANTS = 500  # tenants written per transaction (config ROLLUP_CHUNK_TENANTS)


@dataclass
class RollupResult:
    period_start: date
    created: int = 0
    skipped: int = 0
    rebuilt: int = 0
    messages: list[str] = field(default_factory=list)
    invoice_ids: list[int] = field(default_factory=list)  # created or rebuilt drafts

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period_start.strftime("%Y-%m"), "created": self.created,
                "skipped": self.skipped, "rebuilt": self.rebuilt, "messages": self.messages}

    def add(self, outcome: str, invoice_id: int | None, message: str | None) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if invoice_id is not None and outcome in ("created", "rebuilt"):
            self.invoice_ids.append(invoice_id)
        if message:
            self.messages.append(message)


# --- reading: terms and usage for every tenant in a fixed number of queries --------------------


def billing_inputs(period_start: date, period_end: date, tenant_id: int | None = None):
    """Plain terms per tenant and usage per subscription, on the session's connection, in a
    fixed number of queries whatever the number of tenants (see ``billing_terms``; the usage
    is one more query per distinct billing window: almost always one)."""
    terms = billing_terms(period_start, period_end, tenant_id)
    subs = [sub for tenant_terms in terms.values() for sub in tenant_terms]
    return terms, _usage_by_subscription(subs, period_start, period_end)


def billing_terms(period_start: date, period_end: date, tenant_id: int | None = None
                  ) -> dict[int, list[BilledSubscription]]:
    """The subscriptions billing any day of the period, as plain terms, per tenant: the
    subscriptions with their tenant (one query), their addons as sold (one), the plan versions
    they use (three, a handful of rows)."""
    bills = (Subscription.starts_on < period_end) & (
        Subscription.ends_on.is_(None) | (Subscription.ends_on >= period_start))
    subs_query = (
        select(Subscription.id, Subscription.deployment_id, Deployment.tenant_id,
               Subscription.plan_version_id, Subscription.starts_on, Subscription.ends_on)
        .join(Deployment, Subscription.deployment_id == Deployment.id)
        .where(bills).order_by(Subscription.id))
    addons_query = (
        select(SubscriptionAddon.subscription_id, Addon.code, SubscriptionAddon.name,
               SubscriptionAddon.price_cents, SubscriptionAddon.resource_kind,
               SubscriptionAddon.qty)
        .join(Addon, SubscriptionAddon.addon_id == Addon.id)
        .join(Subscription, SubscriptionAddon.subscription_id == Subscription.id)
        .join(Deployment, Subscription.deployment_id == Deployment.id)
        .where(bills).order_by(SubscriptionAddon.id))
    if tenant_id is not None:
        subs_query = subs_query.where(Deployment.tenant_id == tenant_id)
        addons_query = addons_query.where(Deployment.tenant_id == tenant_id)
    subs = db.session.execute(subs_query).all()
    addons: dict[int, list[AddonTerms]] = defaultdict(list)
    for sub_id, code, name, price_cents, kind, qty in db.session.execute(addons_query):
        addons[sub_id].append(AddonTerms(code=code, name=name, price_cents=price_cents,
                                         resource_kind=kind, qty=qty))
    plans = _plan_terms({sub.plan_version_id for sub in subs})
    terms: dict[int, list[BilledSubscription]] = defaultdict(list)
    for sub in subs:
        terms[sub.tenant_id].append(BilledSubscription(
            subscription_id=sub.id, deployment_id=sub.deployment_id,
            plan=plans[sub.plan_version_id], addons=tuple(addons.get(sub.id, ())),
            starts_on=sub.starts_on, last_day=sub.ends_on))
    return terms


def _plan_terms(version_ids: set[int]) -> dict:
    """The plan versions in use (a handful), read in a short-lived session on the same
    connection so no catalog object enters the caller's session."""
    if not version_ids:
        return {}
    with Session(bind=db.session.connection()) as reader:
        versions = reader.scalars(
            select(PlanVersion).where(PlanVersion.id.in_(sorted(version_ids)))
            .options(selectinload(PlanVersion.items), selectinload(PlanVersion.plan)))
        return {version.id: version.terms() for version in versions}


def _usage_by_subscription(subs: Sequence[BilledSubscription], period_start: date,
                           period_end: date) -> dict[int, dict]:
    """Each subscription's usage within its own billed days: one query per distinct window
    (almost always one: the whole month)."""
    windows = defaultdict(list)
    for sub in subs:
        windows[usage_window(period_start, period_end, sub.starts_on, sub.last_day)].append(sub)
    usage = {}
    for (start, end), group in windows.items():
        by_deployment = usage_by_deployment([s.deployment_id for s in group], start, end)
        for sub in group:
            usage[sub.subscription_id] = by_deployment.get(sub.deployment_id, {})
    return usage


def _check_rollup_period(period_start: date, period_end: date) -> None:
    if period_start.day != 1 or period_end != next_month_start(period_start):
        raise ValidationError({"period": "must be one calendar month"})
    if period_end > today():
        # A month's usage is not all in before it ends: an invoice now would under-bill it.
        raise ValidationError({"period": f"{period_start:%Y-%m} has not ended yet (UTC)"})


def request_rollup(period: Any, force: Any = False, actor: User | None = None):
    """Check a rollup request in full, then run it as a job (inline without Redis): the page,
    the API and the CLI all start one here, so a bad period is a 422 before anything queues."""
    _check_rollup_period(*parse_period(period))
    if not isinstance(force, bool):
        raise ValidationError({"force": "must be true or false"})
    return enqueue("portal.jobs.invoicing.rollup", period, force, actor.id if actor else None)


# --- the run ---------------------------------------------------------------------------------


def roll_up_period(period_start: date, period_end: date, force: bool = False,
                   actor: User | None = None, progress: Progress | None = None,
                   job_id: str | None = None) -> RollupResult:
    """One invoice per tenant with a subscription billing any day of the period.

    Without ``force`` a tenant that already has a live invoice for the period is skipped;
    with it a draft is rebuilt in place. Issued and paid invoices are never touched.
    The run is recorded first (with the job running it), finished last: a run that never
    finishes is found by ``missed_periods`` once its job is gone, and run again.
    ``progress(done, total)`` is called for each tenant once its chunk is committed.
    """
    _check_rollup_period(period_start, period_end)
    result = RollupResult(period_start)
    run = RollupRun(period_start=period_start, force=force, job_id=job_id,
                    actor=actor.email if actor else "scheduler")
    db.session.add(run)
    db.session.commit()
    run_id = run.id

    terms = billing_terms(period_start, period_end)
    tenant_ids = sorted(terms)
    slugs = dict(db.session.execute(select(Tenant.id, Tenant.slug)).all())
    # Without force, a tenant already invoiced needs no writing at all (one query for all);
    # a concurrent run that invoices one meanwhile loses to it at the unique index.
    invoiced = set() if force else set(db.session.scalars(
        select(Invoice.tenant_id).where(Invoice.period_start == period_start, Invoice.status != VOID)))
    db.session.rollback()  # end the read's transaction: each chunk is a transaction of its own
    if force:
        _void_unbilled_drafts(period_start, set(tenant_ids), slugs, result)

    rule = tax_rule()
    auto_issue = current_app.config["ROLLUP_AUTO_ISSUE"]
    chunk_size = max(1, int(current_app.config.get("ROLLUP_CHUNK_TENANTS") or CHUNK_TENANTS))
    delay = current_app.config.get("ROLLUP_TENANT_DELAY_SECONDS") or 0
    total = len(tenant_ids)
    chunks = [tenant_ids[first:first + chunk_size] for first in range(0, total, chunk_size)]
    emitted = False  # whether a chunk's writer emitted webhook events (auto-issue)

    def read(chunk: list[int]) -> dict:
        """The chunk's usage (one query), in a transaction that ends before its chunk is written."""
        try:
            return _usage_by_subscription([s for t in chunk if t not in invoiced for s in terms[t]],
                                          period_start, period_end)
        finally:
            db.session.rollback()

    def write(plans: dict[int, InvoicePlan]) -> tuple[dict, bool]:
        outcomes = _write_chunk(period_start, period_end, plans, slugs, force, auto_issue)
        return outcomes, bool(db.session.info.pop(webhooks.EMITTED, False))

    def finish(first: int, chunk: list[int], outcomes: dict, written: Future | None) -> None:
        nonlocal emitted
        if written is not None:
            more, chunk_emitted = written.result()
            outcomes.update(more)
            emitted = emitted or chunk_emitted
        for tenant_id in chunk:
            result.add(*outcomes[tenant_id])
        if progress:  # once committed; the reporter itself keeps Redis writes to ~100 a run
            for done in range(first + 1, first + len(chunk) + 1):
                progress(done, total)

    # A pipeline: while chunk k is planned in Python, chunk k+1's usage is read and chunk k-1
    # written, each on a connection of its own, so the engine and the database's work overlap
    # on the machine's cores. Chunks still commit one at a time and in order (one writer, and
    # each chunk's write waits for the one before it is finished and reported).
    with _Stage(_overlapping()) as reader, _Stage(_overlapping()) as writer:
        reads = reader.submit(read, chunks[0]) if chunks else None
        pending = None
        for index, chunk in enumerate(chunks):
            usage = reads.result()
            if index + 1 < len(chunks):
                reads = reader.submit(read, chunks[index + 1])
            outcomes: dict[int, tuple[str, int | None, str | None]] = {}
            plans: dict[int, InvoicePlan] = {}
            for tenant_id in chunk:
                if delay:  # a test hook: slow enough to kill its worker midway
                    clock_time.sleep(delay)
                if tenant_id in invoiced:
                    outcomes[tenant_id] = ("skipped", None, None)
                    continue
                try:
                    plans[tenant_id] = plan_invoice(period_start, period_end, terms[tenant_id],
                                                    usage, rule)
                except BillingError as exc:
                    outcomes[tenant_id] = ("skipped", None, f"{slugs[tenant_id]}: {exc.message}")
            if pending:
                finish(*pending)
            pending = (index * chunk_size, chunk, outcomes, writer.submit(write, plans) if plans else None)
        if pending:
            finish(*pending)

    run = db.session.get(RollupRun, run_id)
    run.created, run.skipped, run.rebuilt = result.created, result.skipped, result.rebuilt
    run.messages = result.messages
    run.finished_at = utcnow()
    audit.record(actor, "invoices.rollup", "period", None, **result.as_dict(), force=force)
    webhooks.emit("rollup.finished", {**result.as_dict(), "force": force})
    db.session.commit()
    webhooks.dispatch(force=emitted)
    return result


def _overlapping() -> bool:
    """Whether the rollup's stages may run on threads of their own, each with its own
    session and connection: on PostgreSQL through an engine. A session bound to one given
    connection (a caller's transaction) keeps every stage on it, one after another."""
    return _postgresql() and not isinstance(db.session.get_bind(), Connection)


class _Stage:
    """Calls run on a thread of its own, in an app context (so a session and connection) of
    its own, one at a time and in order; or, not ``threaded``, at once on the caller's."""

    def __init__(self, threaded: bool):
        self.pool = ThreadPoolExecutor(max_workers=1) if threaded else None
        self.app = current_app._get_current_object()

    def __enter__(self) -> "_Stage":
        return self

    def __exit__(self, *exc) -> None:
        if self.pool:
            self.pool.shutdown(wait=True)

    def submit(self, fn: Callable, *args) -> Future:
        if self.pool:
            return self.pool.submit(self._in_context, fn, *args)
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # handed to whoever waits on it, as a thread would
            done.set_exception(exc)
        return done

    def _in_context(self, fn: Callable, *args):
        with self.app.app_context():
            try:
                return fn(*args)
            finally:
                db.session.remove()


def _write_chunk(period_start: date, period_end: date, plans: dict[int, InvoicePlan],
                 slugs: dict[int, str], force: bool, auto_issue: bool
                 ) -> dict[int, tuple[str, int | None, str | None]]:
    """Write one chunk's planned invoices in one transaction → tenant → (outcome, id, message).

    Forced, the chunk's live invoices of the period are locked first: drafts are rebuilt in
    place (lines deleted and written again, totals updated), anything else is left as it is
    with a message. Every tenant still without a live invoice gets one by a single
    ``INSERT … ON CONFLICT DO NOTHING RETURNING``: a tenant a concurrent run invoiced first
    returns no row and counts as skipped. The lines of every written invoice go in one
    statement."""
    outcomes: dict[int, tuple[str, int | None, str | None]] = {}
    now = utcnow()
    rebuilt: dict[int, int] = {}  # tenant → draft id
    if force:
        live = db.session.execute(
            select(Invoice.id, Invoice.tenant_id, Invoice.status, Invoice.number,
                   Invoice.amount_paid_cents, Invoice.amount_credited_cents,
                   Invoice.credit_applied_cents)
            .where(Invoice.tenant_id.in_(sorted(plans)), Invoice.period_start == period_start,
                   Invoice.status != VOID)
            .order_by(Invoice.tenant_id).with_for_update()).all()
        for row in live:
            if row.status == DRAFT:
                rebuilt[row.tenant_id] = row.id
            else:
                outcomes[row.tenant_id] = ("skipped", row.id, _not_rebuilt(slugs[row.tenant_id], row))
        if rebuilt:
            db.session.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id.in_(rebuilt.values())))
            _update_totals([(invoice_id, plans[tenant_id]) for tenant_id, invoice_id in rebuilt.items()], now)
            for tenant_id, invoice_id in rebuilt.items():
                outcomes[tenant_id] = ("rebuilt", invoice_id, None)
    new = [tenant_id for tenant_id in sorted(plans) if tenant_id not in outcomes]
    created = _insert_invoices(period_start, period_end, [(t, plans[t]) for t in new], now)
    for tenant_id in new:
        invoice_id = created.get(tenant_id)
        outcomes[tenant_id] = ("created", invoice_id, None) if invoice_id else ("skipped", None, None)
    written = {**rebuilt, **created}
    _insert_lines([(invoice_id, plans[tenant_id]) for tenant_id, invoice_id in sorted(written.items())])
    if auto_issue:
        for tenant_id, invoice_id in sorted(written.items()):
            issue(db.session.get(Invoice, invoice_id))
    db.session.commit()
    if auto_issue:
        mail.dispatch()  # the auto-issued invoices' email
    return outcomes


def _void_unbilled_drafts(period_start: date, billed: set[int], slugs: dict[int, str],
                          result: RollupResult) -> None:
    """Forced: a draft of the period whose tenant no subscription bills any more (its only one
    ended, backdated, before the month) would rebuild to nothing, and issuing it is refused
    as out of date: it is voided, in a transaction of its own, each with a message (counted
    as skipped). Locked first: one issued or voided meanwhile is left as it now stands."""
    candidates = [invoice_id for invoice_id, tenant_id in db.session.execute(
        select(Invoice.id, Invoice.tenant_id)
        .where(Invoice.period_start == period_start, Invoice.status == DRAFT))
        if tenant_id not in billed]
    if not candidates:
        db.session.rollback()
        return
    from .invoices import emit_invoice_event  # (beside issue: one place says what a void sends)

    drafts = db.session.scalars(
        select(Invoice).where(Invoice.id.in_(candidates), Invoice.status == DRAFT)
        .order_by(Invoice.id).with_for_update().execution_options(populate_existing=True)).all()
    for invoice in drafts:
        invoice.status, invoice.voided_on = VOID, today()
        emit_invoice_event("invoice.voided", invoice)
        result.add("skipped", invoice.id, f"{slugs[invoice.tenant_id]}: draft invoice {invoice.id} "
                   f"voided: no subscription bills {period_start:%Y-%m} any more")
    db.session.commit()


def _not_rebuilt(slug: str, invoice) -> str:
    label = invoice.number or invoice.id
    # Only an issued invoice with no money against it can be voided; anything else is
    # corrected with a credit note (the contract's two ways back).
    voidable = invoice.status == ISSUED and not (
        invoice.amount_paid_cents or invoice.amount_credited_cents or invoice.credit_applied_cents)
    return (f"{slug}: invoice {label} is {invoice.status}; issued and paid invoices are never "
            "rebuilt (" + ("void it first to bill the period again" if voidable
                           else "correct it with a credit note") + ")")


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _insert_invoices(period_start: date, period_end: date, plans: list[tuple[int, InvoicePlan]],
                     now: datetime) -> dict[int, int]:
    """New drafts in one statement; the tenants whose row went in → their invoice ids."""
    if not plans:
        return {}
    columns = {"tenant_id": [t for t, _ in plans],
               "currency": [p.currency for _, p in plans],
               "subtotal_cents": [p.subtotal_cents for _, p in plans],
               "tax_cents": [p.tax_cents for _, p in plans],
               "total_cents": [p.total_cents for _, p in plans]}
    if _postgresql():
        rows = db.session.execute(text(
            "INSERT INTO invoices (tenant_id, period_start, period_end, currency, subtotal_cents,"
            " tax_cents, total_cents, status, created_at, built_at, amount_paid_cents,"
            " amount_credited_cents, credit_applied_cents)"
            " SELECT t, :period_start, :period_end, c, s, x, g, 'draft', :now, :now, 0, 0, 0"
            " FROM unnest(CAST(:tenant_id AS bigint[]), CAST(:currency AS text[]),"
            " CAST(:subtotal_cents AS bigint[]), CAST(:tax_cents AS bigint[]),"
            " CAST(:total_cents AS bigint[])) AS v(t, c, s, x, g)"
            " ORDER BY t ON CONFLICT DO NOTHING RETURNING tenant_id, id"),
            {**columns, "period_start": period_start, "period_end": period_end, "now": now})
        return dict(rows.all())
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    table = Invoice.__table__
    values = [{"tenant_id": t, "period_start": period_start, "period_end": period_end,
               "currency": p.currency, "subtotal_cents": p.subtotal_cents,
               "tax_cents": p.tax_cents, "total_cents": p.total_cents, "status": DRAFT,
               "created_at": now, "built_at": now, "amount_paid_cents": 0,
               "amount_credited_cents": 0, "credit_applied_cents": 0} for t, p in plans]
    created = {}
    for row in values:  # SQLite (the one-person demo): no concurrent run to race
        got = db.session.execute(sqlite_insert(table).values(row).on_conflict_do_nothing()
                                 .returning(table.c.tenant_id, table.c.id)).first()
        if got:
            created[got[0]] = got[1]
    return created


def _update_totals(drafts: list[tuple[int, InvoicePlan]], now: datetime) -> None:
    """Rebuilt drafts' totals in one statement."""
    if _postgresql():
        db.session.execute(text(
            "UPDATE invoices SET currency = v.c, subtotal_cents = v.s, tax_cents = v.x,"
            " total_cents = v.g, built_at = :now"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:currency AS text[]),"
            " CAST(:subtotal AS bigint[]), CAST(:tax AS bigint[]), CAST(:total AS bigint[]))"
            " AS v(id, c, s, x, g) WHERE invoices.id = v.id"),
            {"ids": [i for i, _ in drafts], "currency": [p.currency for _, p in drafts],
             "subtotal": [p.subtotal_cents for _, p in drafts],
             "tax": [p.tax_cents for _, p in drafts],
             "total": [p.total_cents for _, p in drafts], "now": now})
        return
    table = Invoice.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("draft_id"))
        .values(currency=bindparam("c"), subtotal_cents=bindparam("s"), tax_cents=bindparam("x"),
                total_cents=bindparam("g"), built_at=now),
        [{"draft_id": i, "c": p.currency, "s": p.subtotal_cents, "x": p.tax_cents,
          "g": p.total_cents} for i, p in drafts])


LINE_COLUMNS = ("invoice_id", "position", "kind", "deployment_id", "resource_kind",
                "description", "qty", "unit", "unit_price_cents", "amount_cents")
# The lines travel as one JSON array of rows (json.dumps is C; psycopg would dump ten Python
# lists element by element), typed back by json_to_recordset; qty as text, exact.
LINES_FROM_JSON = text(
    f"INSERT INTO invoice_lines ({', '.join(LINE_COLUMNS)})"
    f" SELECT {', '.join(LINE_COLUMNS)} FROM json_to_recordset(CAST(:rows AS json)) AS r("
    "invoice_id bigint, position integer, kind text, deployment_id bigint, resource_kind text,"
    " description text, qty numeric, unit text, unit_price_cents bigint, amount_cents bigint)")


def _insert_lines(invoices: list[tuple[int, InvoicePlan]]) -> None:
    """Every line of the given invoices in one statement."""
    rows = [dict(zip(LINE_COLUMNS, (
                invoice_id, position, line.kind, line.deployment_id, line.resource_kind,
                line.description, str(line.qty), line.unit, line.unit_price_cents,
                line.amount_cents)))
            for invoice_id, plan in invoices
            for position, line in enumerate(plan.lines, start=1)]
    if not rows:
        return
    if _postgresql():
        db.session.execute(LINES_FROM_JSON, {"rows": json.dumps(rows)})
        return
    for row in rows:
        row["qty"] = Decimal(row["qty"])
    db.session.execute(insert(InvoiceLine.__table__), rows)


def _line_key(line) -> tuple:
    return (line.kind, line.deployment_id, line.resource_kind, line.description,
            Decimal(line.qty), line.unit, line.unit_price_cents, line.amount_cents)


def draft_is_current(invoice: Invoice) -> bool:
    """Whether the draft still bills what the rollup would bill now: a change or end
    backdated into its month, or usage metered into it late, leaves it stale until a forced
    rollup rebuilds it. (Read on the caller's connection, after its lock on the invoice.)"""
    terms, usage = billing_inputs(invoice.period_start, invoice.period_end,
                                  tenant_id=invoice.tenant_id)
    try:
        plan = plan_invoice(invoice.period_start, invoice.period_end,
                            terms.get(invoice.tenant_id, []), usage, tax_rule())
    except BillingError:
        return False
    stored = sorted(invoice.lines, key=lambda line: line.position)
    return ([_line_key(line) for line in stored] == [_line_key(line) for line in plan.lines]
            and plan.currency == invoice.currency)


def usage_as_billed(deployment: Deployment, period_start: date, period_end: date) -> dict:
    """A deployment's usage for a month as the rollup reads it: within the billed days of each
    subscription billing in the month (counters summed, gauges at their peak). Without such a
    subscription nothing is billed, and the month's metered usage is shown as it stands."""
    windows = [usage_window(period_start, period_end, s.starts_on, s.ends_on)
               for s in deployment.subscriptions
               if bills_in_period(period_start, period_end, s.starts_on, s.ends_on)]
    if not windows:
        return usage_for_period(deployment.id, period_start, period_end)
    total = {kind: Decimal(0) for kind in RESOURCE_KINDS}
    for start, end in windows:
        for kind, value in usage_for_period(deployment.id, start, end).items():
            total[kind] = total[kind] + value if RESOURCE_KINDS[kind] == COUNTER else max(total[kind], value)
    return total


def missed_periods(now: datetime, job_alive: Callable[[str], bool] | None = None) -> list[date]:
    """Months whose rollup was due by ``now`` (UTC) with billable subscriptions but no
    finished run, oldest first: what the scheduler catches up.

    A month whose only runs are unfinished is missed once they are all abandoned: a run
    with a job when ``job_alive(job_id)`` says its job is gone (without that answer, as for
    a run without a job: once it is older than a rollup job's timeout)."""
    first_start = db.session.scalar(select(func.min(Subscription.starts_on)))
    if first_start is None:
        return []
    done = set(db.session.scalars(
        select(RollupRun.period_start).where(RollupRun.finished_at.is_not(None))
    ))
    stale_before = now - timedelta(seconds=ROLLUP_TIMEOUT_SECONDS)
    for period_start, job_id, started_at in db.session.execute(
        select(RollupRun.period_start, RollupRun.job_id, RollupRun.started_at)
        .where(RollupRun.finished_at.is_(None))
    ):
        if period_start in done:
            continue
        alive = job_alive(job_id) if job_id and job_alive else as_utc(started_at) > stale_before
        if alive:  # still running: not missed, and not to be started twice
            done.add(period_start)
    periods, cursor = [], month_start(first_start)
    while True:
        end = next_month_start(cursor)
        due = datetime.combine(end, time(ROLLUP_HOUR_UTC), tzinfo=timezone.utc)
        if due > now:
            break
        if cursor not in done:
            periods.append(cursor)
        cursor = end
    return periods
