"""The OpenAPI 3.1 document, built from the URL map and ``schemas.OPERATIONS`` (no auth), and
the browsable page for it (Swagger UI, vendored in static/vendor: no CDN, no inline script)."""
import re

from flask import current_app, render_template

from ...services import idempotency
from . import health_bp, schemas

ERRORS = {
    400: ("bad_request", "The body is not a JSON object."),
    401: ("unauthorized", "No valid bearer token."),
    403: ("forbidden", "The caller's role may not do this."),
    404: ("not_found", "Nothing the caller may see has this id (another tenant's object is "
                       "404, never 403)."),
    409: ("conflict", "A conflict: an invalid state transition, a duplicate, or a request with "
                      "the same Idempotency-Key still running."),
    422: ("validation_error", "An invalid field; `error.fields` names each one "
                              "(`events[3].quantity`)."),
    429: ("too_many_requests", "Throttled: retry after the `Retry-After` header's seconds."),
    503: ("unavailable", "A dependency (database, Redis) is unreachable."),
}

DESCRIPTION = """\
Arcadia's billing and operations API. Send `Authorization: Bearer <token>` (create tokens at
`POST /api/v1/tokens` or with `flask --app portal tokens create`). JSON in and out; quantities
are JSON numbers in base units, money is integer cents.

**Errors** are `{"error": {"code", "message", "fields"}}`: 400 only when the body is not a JSON
object, 422 for any invalid field (`fields` names each), 401 without valid credentials, 403 for
a role that may not act, 404 for what the caller may not see or what does not exist, 409 for a
conflict, 429 when throttled, 503 when a dependency is down.

**Lists** answer `{"<plural>": [...], "next": ...}`, `next` being the path and query of the
next page (starting with `/`) or null.

**Idempotency**: every `POST` honours an `Idempotency-Key` header (up to 255 characters): the
same key from the same token with the same body within 24 hours answers the first response
again (header `Idempotent-Replayed: true`); the same key with another body is 422; while the
first request still runs, 409.

**Webhooks** POST `{id, type, created_at, data}` with `Arcadia-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the webhook's secret>`; events
`invoice.issued`, `invoice.paid`, `invoice.voided`, `payment.recorded`, `credit_note.issued`,
`drift.opened`, `rollup.finished`.
"""

_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_CONVERTERS = {"int": {"type": "integer", "minimum": 0}, "float": {"type": "number"}}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def openapi_path(rule: str) -> str:
    """``/api/v1/invoices/<int:invoice_id>`` → ``/api/v1/invoices/{invoice_id}``."""
    return _ARG.sub(lambda m: "{" + m.group(2) + "}", rule)


def api_rules(app):
    """Every (method, rule) the URL map serves under /api."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api"):
            for method in sorted(rule.methods - SKIPPED_METHODS):
                yield method, rule.rule


def _error(status: int) -> dict:
    return {"$ref": f"#/components/responses/E{status}"}


def _operation(method: str, rule: str, operation: schemas.Operation) -> dict:
    params = [{"name": name, "in": "path", "required": True,
               "schema": _CONVERTERS.get(conv or "", {"type": "string"})}
              for conv, name in _ARG.findall(rule)]
    params += [{"name": p.name, "in": "query", "required": p.required, "schema": p.schema,
                **({"description": p.description} if p.description else {})}
               for p in operation.query]
    if method == "POST" and rule.startswith("/api/v1/"):
        params.append({"$ref": "#/components/parameters/IdempotencyKey"})
    responses = {}
    for status, schema in operation.responses.items():
        answer = {"description": "OK" if status < 300 else "See the body"}
        if schema is not None:
            answer["content"] = {"application/json": {"schema": schema}}
        elif status != 204:
            answer["content"] = {operation.content_type: {"schema": {
                "type": "string", "format": "binary"} if "pdf" in operation.content_type
                else {"type": "string"}}}
        responses[str(status)] = answer
    codes = set(operation.errors)
    if operation.auth:
        codes |= {401, 403}
    if operation.request is not None:
        codes |= {400, 422}
    if operation.query or any(conv == "" for conv, _ in _ARG.findall(rule)):
        codes.add(422)
    if method == "POST" and rule.startswith("/api/v1/"):
        codes |= {409, 422}  # Idempotency-Key: still running / reused with another body
    for status in sorted(codes):
        responses.setdefault(str(status), _error(status))
    body = {
        "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', openapi_path(rule).lower()).strip('_')}",
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": params,
        "responses": responses,
    }
    if operation.description:
        body["description"] = operation.description
    if operation.request is not None:
        body["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": operation.request}}}
    if not operation.auth:
        body["security"] = []
    return body


def document(app) -> dict:
    paths: dict[str, dict] = {}
    for method, rule in api_rules(app):
        operation = schemas.OPERATIONS.get((method, rule))
        if operation is not None:
            paths.setdefault(openapi_path(rule), {})[method.lower()] = \
                _operation(method, rule, operation)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Arcadia portal API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas.COMPONENTS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API token: `arc_…`"}},
            "parameters": {"IdempotencyKey": {
                "name": idempotency.HEADER, "in": "header", "required": False,
                "description": "Run this POST once per token and key; a retry with the same "
                               "body within 24 hours answers the first response again.",
                "schema": {"type": "string", "minLength": 1,
                           "maxLength": idempotency.KEY_MAX_LENGTH,
                           "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$"}}},
            "responses": {
                f"E{status}": {"description": f"{status}: {text}", "content": {
                    "application/json": {"schema": schemas.ref("Error"),
                                         "example": {"error": {"code": code, "message": text}}}}}
                for status, (code, text) in ERRORS.items()},
        },
    }


@health_bp.get("/v1/openapi.json")
def openapi_document():
    return document(current_app)


@health_bp.get("/docs")
def api_docs():
    return render_template("api/docs.html")
