"""One decision for every route: the full page, or the HTMX fragment it includes; and the
status message and refresh events an HTMX action answers with."""
import json

from flask import make_response, render_template, request


def is_htmx() -> bool:
    # A boosted request wants the whole page; only a targeted one wants the fragment.
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def render_page_or_fragment(page: str, fragment: str, status: int = 200, **context):
    response = make_response(render_template(fragment if is_htmx() else page, **context), status)
    response.vary.add("HX-Request")
    return response


def hx_status(response, message: str, *events: str, tone: str = "ok"):
    """After an HTMX action: announce ``message`` in the page's status toast and fire
    ``events`` (e.g. "invoice-changed") so related parts refresh themselves
    (``ui.refresh_on("invoice-changed", url)`` in _ui.html) instead of reloading the page.

    The message rides on HX-Trigger (heard at once, whatever the status); a failure's is
    ``{"value": message, "tone": "bad"}`` so the toast reads as an error. The events ride on
    HX-Trigger-After-Swap: by then the part the action replaced is gone and its replacement
    does not listen yet (htmx wires new content when it settles), so only the *other* parts
    fetch themselves again, each once."""
    response.headers["HX-Trigger"] = json.dumps(
        {"portal:status": message if tone == "ok" else {"value": message, "tone": tone}})
    if events:
        response.headers["HX-Trigger-After-Swap"] = json.dumps({event: True for event in events})
    return response


def hx_problem(response, message: str):
    """The toast for an action that did not happen (a 409, a 422, a job that failed)."""
    return hx_status(response, message, tone="bad")


def problem_text(exc, doing: str, labels: dict[str, str] | None = None) -> str:
    """One line for a refused action: "Could not subscribe: Starts on: must be a date".
    ``labels`` names the fields as the form does (else "starts_on" reads "Starts on")."""
    from .errors import ValidationError

    labels = labels or {}
    if isinstance(exc, ValidationError) and exc.fields:  # each field named with its message
        detail = "; ".join(
            f"{labels.get(name) or name.replace('_', ' ').capitalize()}: {'; '.join(m) if isinstance(m, list) else m}"
            for name, m in exc.fields.items())
    else:  # a conflict says what stands in the way
        detail = getattr(exc, "message", None) or str(exc)
    return f"Could not {doing}: {detail}"
