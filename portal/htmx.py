"""One decision for every route: the full page, or the HTMX fragment it includes."""
from flask import make_response, render_template, request


def is_htmx() -> bool:
    # A boosted request wants the whole page; only a targeted one wants the fragment.
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def render_page_or_fragment(page: str, fragment: str, status: int = 200, **context):
    response = make_response(render_template(fragment if is_htmx() else page, **context), status)
    response.vary.add("HX-Request")
    return response
