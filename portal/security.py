"""Security headers on every response, set in one place."""
from flask import Flask, Response, request

# No inline script or style anywhere: templates use static files and classes, htmx's own
# indicator style is turned off (base.html's htmx-config) and lives in portal.css.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'none'",
])

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    response.headers.update(HEADERS)
    # Pages, fragments, PDFs and API answers show tenant data: never kept by a browser or a
    # proxy. Only the static assets (no data, versioned by name) may be cached.
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    app.after_request(add_security_headers)
