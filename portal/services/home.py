"""The home page's figures for each role: what is owed, this month so far, and the health of
the things an admin looks after. Reads only; every figure comes from the service that owns it."""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select

from ..billing.proration import month_start, next_month_start
from ..billing.rollup import BillingError, plan_invoice
from .. import queue
from ..extensions import db
from ..models import Invoice, RollupRun, User
from . import provider, statements
from .deployments import list_deployments
from .invoices import invoice_query, tax_rule
from .rollup import billing_inputs

@dataclass(frozen=True)
class Owed:
    """Money owed on issued invoices, by currency: all of it, and the part past its due date."""
    owed: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)
    owing_count: int = 0
    overdue_count: int = 0


def owed_cents(invoice: Invoice) -> int:
    """What one invoice still owes: its amount due while issued (payments, credit notes and
    credit applied come off it; paid and void owe nothing). Reminders and the account page
    follow the same rule."""
    from .payments import amount_due_cents

    return amount_due_cents(invoice) if invoice.status == "issued" else 0


def owed(user: User, on: date) -> Owed:
    """What the invoices ``user`` may see still owe, and how much of it is overdue on ``on``."""
    total, late = defaultdict(int), defaultdict(int)
    owing = overdue = 0
    for invoice in db.session.scalars(invoice_query(user, status="issued")):
        cents = owed_cents(invoice)
        if cents <= 0:
            continue
        owing += 1
        total[invoice.currency] += cents
        if invoice.due_on is not None and invoice.due_on < on:
            overdue += 1
            late[invoice.currency] += cents
    return Owed(dict(total), dict(late), owing, overdue)


@dataclass(frozen=True)
class MonthRevenue:
    period_start: date
    as_of: date
    totals: dict[str, int]      # before tax, by currency
    unpriced: int = 0           # tenants whose month cannot be priced (e.g. mixed currencies)


def revenue_so_far(on: date) -> MonthRevenue:
    """This month's revenue so far across all tenants, priced as the rollup will price it
    (before GST), with the usage metered until now."""
    start, end = month_start(on), next_month_start(on)
    terms, usage = billing_inputs(start, end)
    totals, unpriced = defaultdict(int), 0
    for tenant_id, subs in terms.items():
        try:
            plan = plan_invoice(start, end, subs, usage, tax_rule())
        except BillingError:
            unpriced += 1
            continue
        if plan is not None:
            totals[plan.currency] += plan.subtotal_cents
    return MonthRevenue(start, on, dict(totals), unpriced)


def last_rollup() -> RollupRun | None:
    return db.session.scalar(select(RollupRun).order_by(RollupRun.started_at.desc(), RollupRun.id.desc()).limit(1))


@dataclass(frozen=True)
class WorkerState:
    configured: bool            # False: no Redis, jobs run inline in the request
    alive: bool
    last_heartbeat: datetime | None = None
    error: str | None = None


def worker_state() -> WorkerState:
    """Whether a worker of ours was seen alive within the last two minutes: the rule health
    and the admins' banner use (``queue.workers_alive``), with the heartbeat to show."""
    conn = queue.connection()
    if conn is None:
        return WorkerState(configured=False, alive=True)
    try:
        latest = queue.last_worker_heartbeat(conn, queue.queue_prefix())
    except Exception as exc:  # Redis down is the answer here, not an error page
        return WorkerState(configured=True, alive=False, error=f"Redis unreachable ({type(exc).__name__})")
    return WorkerState(True, queue.heartbeat_is_recent(latest), latest)


def open_drift_count() -> int:
    query = provider.drift_query("open").order_by(None).options()
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


@dataclass(frozen=True)
class TenantHome:
    owed: Owed
    month: statements.MonthSoFar
    deployments: dict[str, int]  # status -> count
    deployment_count: int


def admin_home(user: User, on: date) -> dict:
    return {"owed": owed(user, on), "revenue": revenue_so_far(on), "rollup": last_rollup(),
            "worker": worker_state(), "drift": open_drift_count()}


def tenant_home(user: User, on: date) -> TenantHome:
    deployments = list_deployments(user)
    by_status: dict[str, int] = defaultdict(int)
    for d in deployments:
        by_status[d.status] += 1
    return TenantHome(owed(user, on), statements.month_so_far(user, user.tenant, on),
                      dict(by_status), len(deployments))
