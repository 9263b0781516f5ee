"""Cost against revenue for one month: loads the lines, lets billing/margin do the sums."""
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import select

from ..billing.margin import CostLine, MarginReport, RevenueLine, margin_report
from ..extensions import db
from ..models import Invoice, InvoiceLine, ProviderCostLine
from ..models.invoices import VOID
from .deployments import deployment_names


@dataclass(frozen=True)
class Dashboard:
    period_start: date
    currency: str
    provider_currency: str
    fx_rate: object
    report: MarginReport
    names: dict  # deployment id → "tenant / deployment"
    ignored_csv: bool = False  # CSV lines left out because the API has the month


def cost_vs_revenue(period_start: date) -> Dashboard:
    """Revenue from the period's invoices that are not void (drafts included: the month's
    revenue before it is issued) in the plan currency, against the provider's cost lines for
    that month. (Invoices in another currency would need their own rate; none are sold.)"""
    revenue = [
        RevenueLine(d, kind, resource_kind, amount)
        for d, kind, resource_kind, amount in db.session.execute(
            select(InvoiceLine.deployment_id, InvoiceLine.kind, InvoiceLine.resource_kind,
                   InvoiceLine.amount_cents)
            .join(Invoice, InvoiceLine.invoice_id == Invoice.id)
            .where(Invoice.period_start == period_start, Invoice.status != VOID,
                   Invoice.currency == current_app.config.get("PLAN_CURRENCY", "AUD")))
    ]
    rows = db.session.execute(
        select(ProviderCostLine.source, ProviderCostLine.deployment_id, ProviderCostLine.product,
               ProviderCostLine.amount_cents)
        .where(ProviderCostLine.period == period_start)).all()
    # The same bill may arrive by API and by a CSV an admin imported: count it once, trusting
    # the API when it has the month.
    sources = {source for source, *_ in rows}
    use = "api" if "api" in sources else "csv"
    costs = [CostLine(d, product, amount) for source, d, product, amount in rows if source == use]
    config = current_app.config
    report = margin_report(revenue, costs, config["PROVIDER_FX_RATE"])
    names = deployment_names(row.key for row in report.by_deployment)
    return Dashboard(
        period_start=period_start,
        currency=current_app.config.get("PLAN_CURRENCY", "AUD"),
        provider_currency=config["PROVIDER_CURRENCY"],
        fx_rate=config["PROVIDER_FX_RATE"],
        report=report,
        names=names,
        ignored_csv=use == "api" and "csv" in sources,
    )
