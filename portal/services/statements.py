"""A tenant's account: what it owes, and the invoice this month is heading for.

The month so far is priced by the rollup's own engine (``billing.rollup.plan_invoice`` on the
same terms and the usage metered until now), so the preview and the invoice can never
disagree on how; only the usage still to come can change the figures.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from ..billing.proration import month_start, next_month_start
from ..billing.quote import TAX, Line
from ..billing.rollup import BillingError, InvoicePlan, plan_invoice
from ..models import Tenant, User
from ..errors import NotFound
from ..extensions import db
from .deployments import deployments_query
from .invoices import tax_rule
from .rollup import billing_inputs


@dataclass(frozen=True)
class MonthSoFar:
    period_start: date
    period_end: date
    as_of: date                      # usage counted up to the end of this day (UTC)
    plan: InvoicePlan | None         # None: no subscription bills this month
    groups: tuple[tuple[str | None, tuple[Line, ...]], ...]  # (deployment name, lines); None: account
    error: str | None = None         # why it cannot be priced (e.g. mixed currencies)


def tenant_for(user: User, slug: str | None) -> Tenant:
    """The tenant whose account ``user`` may read: a tenant user its own, whatever it asks;
    an admin the one named."""
    if not user.is_platform_admin:
        return user.tenant
    tenant = db.session.scalar(db.select(Tenant).where(Tenant.slug == (slug or "")))
    if tenant is None:
        raise NotFound(f"no tenant {slug}")
    return tenant


def month_so_far(user: User, tenant: Tenant, on: date) -> MonthSoFar:
    start, end = month_start(on), next_month_start(on)
    terms, usage = billing_inputs(start, end, tenant_id=tenant.id)
    if tenant.id not in terms:
        return MonthSoFar(start, end, on, None, ())
    try:
        plan = plan_invoice(start, end, terms[tenant.id], usage, tax_rule())
    except BillingError as exc:
        return MonthSoFar(start, end, on, None, (), exc.message)
    names = {d.id: d.name for d in db.session.scalars(deployments_query(user, tenant.slug))}
    grouped: dict[int | None, list[Line]] = defaultdict(list)
    for line in plan.lines:
        if line.kind == TAX:  # tax is the totals' line, not a charge of its own
            continue
        grouped[line.deployment_id].append(line)
    groups = [(names.get(dep_id, f"#{dep_id}"), tuple(lines))
              for dep_id, lines in grouped.items() if dep_id is not None]
    if None in grouped:
        groups.append((None, tuple(grouped[None])))
    return MonthSoFar(start, end, on, plan, tuple(groups))


def days_counted(month: MonthSoFar) -> tuple[int, int]:
    """(days of usage counted so far, days in the month)."""
    counted = min((month.as_of - month.period_start).days + 1, (month.period_end - month.period_start).days)
    return counted, (month.period_end - month.period_start).days

