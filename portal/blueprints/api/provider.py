from flask import request

from ...auth import current_actor, requires
from ...errors import NotFound, ValidationError
from ...services import invoices, provider
from ...services.paging import next_page_path, page_of, parse_page
from ...services.provider_sync import provider_name
from . import api_bp, serializers


@api_bp.get("/inventory")
@requires("provider.read")
def inventory():
    rows, next_page = page_of(provider.inventory_query(), *parse_page(request.args))
    return {"resources": [serializers.resource(r) for r in rows],
            "provider": provider_name(), "next": next_page_path(".inventory", next_page)}


@api_bp.get("/billing/balance")
@requires("provider.read")
def balance():
    latest = provider.latest_balance()
    if latest is None:
        raise NotFound("no balance has been synced yet: run `flask --app portal provider sync`")
    return serializers.balance(latest)


@api_bp.get("/billing/cost-lines")
@requires("provider.read")
def cost_lines():
    start, _ = invoices.parse_period(request.args.get("period"))
    return {"cost_lines": [serializers.cost_line(c) for c in provider.cost_lines(start)],
            "next": None}


DRIFT_FILTERS = ("open", "accepted", "resolved")


@api_bp.get("/drift")
@requires("provider.read")
def drift():
    status = request.args.get("status") or None
    if status is not None and status not in DRIFT_FILTERS:
        raise ValidationError({"status": f"must be one of {', '.join(DRIFT_FILTERS)}"})
    rows, next_page = page_of(provider.drift_query(status), *parse_page(request.args))
    return {"drift": [serializers.drift(d) for d in rows], "next": next_page_path(".drift", next_page)}


@api_bp.post("/drift/<int:drift_id>/accept")
@requires("provider.manage")
def accept_drift(drift_id):
    return serializers.drift(provider.accept_drift(current_actor(), drift_id))
