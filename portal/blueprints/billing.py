"""A tenant's account: what it owes and the invoice this month is heading for."""
from flask import Blueprint, render_template, request

from ..auth import current_actor, requires
from ..clock import today
from ..services import accounts, statements

bp = Blueprint("billing", __name__, url_prefix="/billing")


@bp.get("/")
@requires("invoices.read")
def account():
    user = current_actor()
    slug = request.args.get("tenant")
    if user.is_platform_admin and not slug:
        return render_template("billing/choose.html", tenants=accounts.list_tenants())
    tenant = statements.tenant_for(user, slug)
    on = today()
    month = statements.month_so_far(user, tenant, on)
    return render_template("billing/account.html", tenant=tenant, month=month,
                           days=statements.days_counted(month), account=statements.account(tenant, on),
                           payments=statements.recent_payments(tenant),
                           credit_notes=statements.recent_credit_notes(tenant))
