"""Map every error to HTTP once: the contract's JSON shape under /api, a page elsewhere."""
import logging

from flask import Response, jsonify, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from .errors import DomainError, Throttled, Unauthorized
from .htmx import hx_problem, is_htmx

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}

QUEUE_UNAVAILABLE = ("The job queue (Redis) is unreachable, so this cannot be started or "
                     "followed now. Nothing was changed; try again in a minute.")


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _page(status: int, title: str, message: str):
    response = make_response(render_template("error.html", status=status, title=title,
                                             message=message), status)
    if is_htmx():  # htmx does not swap an error page: the toast says what went wrong
        hx_problem(response, message)
    return response


def handle_domain_error(exc: DomainError):
    headers = {}
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    if is_api_request():
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="arcadia"'
        return jsonify(error_body(exc.code, exc.message, exc.fields)), exc.status, headers
    if isinstance(exc, Unauthorized):
        login = url_for("auth.login", next=_page_path())
        if is_htmx():  # a fragment request: send the whole page to the sign-in, not a fragment
            return "", 401, {"HX-Redirect": login}
        return redirect(login)
    response = _page(exc.status, exc.code.replace("_", " ").capitalize(), exc.message)
    response.headers.update(headers)
    return response


def _page_path() -> str:
    """Where to come back to after signing in: the page an HTMX request was made from."""
    current = request.headers.get("HX-Current-URL", "") if is_htmx() else ""
    if current.startswith(request.host_url):
        return "/" + current[len(request.host_url):]
    return request.full_path.rstrip("?")


def handle_http_error(exc: HTTPException):
    if isinstance(exc, CSRFError):
        message = "The form had expired or lacked its security token. Reload the page and try again."
    else:
        message = exc.description or exc.name
    if is_api_request():
        code = _HTTP_CODES.get(exc.code, "error")
        response = jsonify(error_body(code, message))
        return response, exc.code, dict(exc.get_headers()) | {"Content-Type": "application/json"}
    return _page(exc.code, exc.name, message)


def handle_data_error(exc: DataError):
    """A value the database cannot store (out of range, too long) that validation missed."""
    from .extensions import db

    db.session.rollback()
    log.warning("data error on %s %s: %s", request.method, request.path, exc.orig)
    message = "A value is out of range or too long to store."
    if is_api_request():
        return jsonify(error_body("validation_error", message)), 422
    return _page(422, "Invalid input", message)


def handle_queue_unavailable(exc: Exception):
    """Redis down or too slow (its connection has short socket timeouts): 503, never a 500."""
    log.warning("job queue unreachable on %s %s: %s", request.method, request.path, exc)
    if is_api_request():
        return jsonify(error_body("queue_unavailable", QUEUE_UNAVAILABLE)), 503, {"Retry-After": "60"}
    if is_htmx():
        # A fragment in place of the rollup form's result or a progress bar (base.html swaps 503).
        return hx_problem(make_response(
            f'<p class="error-message" role="alert">{escape(QUEUE_UNAVAILABLE)}</p>', 503), QUEUE_UNAVAILABLE)
    return _page(503, "Job queue unavailable", QUEUE_UNAVAILABLE)


def handle_unexpected(exc: Exception):
    """Anything unforeseen: logged with its traceback, answered without one. The session is
    rolled back first (the error may have left its transaction unusable), and should the
    error page itself fail, a plain page is answered rather than Flask's or a debugger's."""
    from .extensions import db

    log.exception("unhandled error on %s %s", request.method, request.path)
    try:
        db.session.rollback()
    except Exception:  # the connection itself is gone: the answer below needs none
        log.exception("rollback after an unhandled error failed")
    if is_api_request():
        return jsonify(error_body("internal_error", "Something went wrong on our side.")), 500
    try:
        return _page(500, "Server error", "Something went wrong on our side. It has been logged.")
    except Exception:
        log.exception("the error page failed too")
        return Response(_PLAIN_500, 500, mimetype="text/html")


_PLAIN_500 = ("<!doctype html><title>Server error</title><h1>Server error</h1>"
              "<p>Something went wrong on our side. It has been logged.</p>")


def register(app) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(DataError, handle_data_error)
    app.register_error_handler(RedisConnectionError, handle_queue_unavailable)
    app.register_error_handler(RedisTimeoutError, handle_queue_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
