"""One decision for every route: the full page, or the HTMX fragment it includes."""
import json

from flask import make_response, render_template, request


def is_htmx() -> bool:
    # A boosted request wants the whole page; only a targeted one wants the fragment.
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def render_page_or_fragment(page: str, fragment: str, status: int = 200, **context):
    response = make_response(render_template(fragment if is_htmx() else page, **context), status)
    response.vary.add("HX-Request")
    return response


def hx_status(response, message: str, *events: str):
    """After an HTMX action: announce ``message`` in the page's status region and fire
    ``events`` (e.g. "invoice-changed") so related parts refresh themselves
    (``hx-trigger="invoice-changed from:body"``) instead of reloading the page."""
    triggers = {"portal:status": message}
    triggers.update({event: True for event in events})
    response.headers["HX-Trigger"] = json.dumps(triggers)
    return response
