"""The home page's figures for each role: what is owed, this month so far, and the health of
the things an admin looks after. Reads only; every figure comes from the service that owns it."""
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from ..billing.proration import month_start, next_month_start
from ..billing.rollup import BillingError, plan_invoice
from .. import queue
from ..extensions import db
from ..models import RollupRun, User
from . import provider, statements
from .deployments import list_deployments
from .invoices import invoice_query, tax_rule
from .rollup import billing_inputs


def owed(user: User, on: date) -> statements.Owed:
    """What the invoices ``user`` may see still owe, and how much of it is overdue on ``on``."""
    return statements.owed(db.session.scalars(invoice_query(user, status="issued")), on)


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
    owed: statements.Owed
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
