"""The live quote builder: one route serves the page and, for HTMX, the breakdown alone."""
from decimal import Decimal, InvalidOperation

from flask import Blueprint, request

from ..auth import requires
from ..billing.terms import BASE_UNITS, RESOURCE_KINDS
from ..clock import today
from ..errors import ValidationError
from ..htmx import render_page_or_fragment
from ..services import catalog, quotes

bp = Blueprint("quotes", __name__, url_prefix="/quotes")


def _form_quantity(raw: str):
    """A typed quantity as a Decimal ("1,500,000" is fine); anything else stays as typed."""
    cleaned = raw.replace(",", "").replace("_", "").replace(" ", "")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return raw


def quote_input_from_args(args) -> dict:
    """The quote builder's query string as the same request the JSON API takes."""
    data = {
        "plan_code": args.get("plan_code", ""),
        "addons": args.getlist("addons"),
        "starts_on": args.get("starts_on", ""),
        "projected_usage": {},
    }
    for kind in RESOURCE_KINDS:
        raw = args.get(f"usage_{kind}", "").strip()
        if raw:
            data["projected_usage"][kind] = _form_quantity(raw)
    return data


def _field_errors(errors: dict, form) -> dict:
    """The service's errors keyed by the form's own inputs, worded for a person at the page:
    a usage error goes to that kind's box, a date error asks for a date (the browser shows
    its own date format, so "YYYY-MM-DD" would mislead)."""
    out = {}
    for name, message in errors.items():
        message = message if isinstance(message, str) else "; ".join(message)
        if name == "projected_usage":
            kind = next((k for k in RESOURCE_KINDS if message.startswith(k + " ")), None)
            if kind:
                out[f"usage_{kind}"] = message[len(kind) + 1:]
                continue
        if name == "starts_on" and "YYYY-MM-DD" in message:
            message = "enter a start date" if not form.get("starts_on") else "enter a real date"
        out[name] = message
    return out


@bp.get("/new")
@requires("quote.price")
def builder():
    plans = catalog.list_plans()
    if "plan_code" not in request.args:  # first visit: a sensible starting point
        args = {"plan_code": plans[0].code if plans else "", "starts_on": today().isoformat()}
        data = {**args, "addons": [], "projected_usage": {}}
        form = args
    else:
        data = quote_input_from_args(request.args)
        form = request.args
    quote, errors, status = None, {}, 200
    try:
        req, quote = quotes.price_quote(data)
    except ValidationError as exc:
        errors, status = _field_errors(exc.fields, form), 422
        req = None
    return render_page_or_fragment(
        "quotes/builder.html",
        "quotes/_breakdown.html",
        status=status,
        plans=plans,
        addons=catalog.list_addons(),
        kinds=RESOURCE_KINDS,
        base_units=BASE_UNITS,
        form=form,
        selected_addons=data["addons"],
        req=req,
        quote=quote,
        errors=errors,
    )
