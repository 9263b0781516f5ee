"""The JSON API: bearer tokens, JSON in and out, the contract's error shape."""
from flask import Blueprint, current_app, g, request

from ...errors import BadRequest, Unauthorized, ValidationError
from ...inputs import check_json, check_query_and_form
from ...services import idempotency
from ...services.tokens import authenticate_token
from . import schemas

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
health_bp = Blueprint("health", __name__, url_prefix="/api")


@api_bp.before_request
def authenticate_bearer():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send a bearer token: Authorization: Bearer <token>.")
    found = authenticate_token(token.strip())
    if found is None:
        raise Unauthorized("The bearer token is invalid, expired or revoked.")
    g.api_token_id, g.api_user = found
    check_query_and_form()  # after the credentials: a 401 comes before anything else


@api_bp.before_request
def validate_request_body():
    """Each JSON body against its operation's schema (schemas.py), before the view runs: the
    same schema the OpenAPI document shows. Structure only; the services check the rest."""
    if request.url_rule is None:
        return None
    check = schemas.validator(request.method, request.url_rule.rule)
    if check is None:
        return None
    data = json_body()
    if request.portal_conforms:
        return None
    fields = schemas.problems(check, data)
    if fields:
        raise ValidationError(fields, schemas.message(request.method, request.url_rule.rule, fields))
    return None


@api_bp.before_request
def replay_or_claim_idempotency_key():
    """A POST with an Idempotency-Key runs once per token and key; its retries get its answer."""
    token_id = g.get("api_token_id")
    if request.method != "POST" or idempotency.HEADER not in request.headers or token_id is None:
        return None
    key = idempotency.validate_key(request.headers[idempotency.HEADER])
    request_hash = idempotency.fingerprint(request.method, request.path, request.query_string,
                                           request.get_data(cache=True))
    bearer = request.headers["Authorization"].partition(" ")[2].strip()  # as authenticated
    outcome = idempotency.claim(token_id, key, request_hash, bearer)
    if isinstance(outcome, idempotency.Replay):
        response = current_app.response_class(outcome.body, status=outcome.status,
                                              content_type=outcome.content_type)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    g.idempotency_claim = outcome
    return None


@api_bp.after_request
def keep_idempotent_response(response):
    claim = g.pop("idempotency_claim", None)
    if claim is not None:
        if response.status_code < 500:  # the work's own answer (2xx) or its refusal (4xx)
            idempotency.finish(claim, response.status_code, response.get_data(),
                               response.content_type)
        else:
            idempotency.release(claim)
    return response


@api_bp.teardown_request
def release_unanswered_claim(_exc):
    """An exception no handler answered: after_request never ran, so give the claim back."""
    claim = g.pop("idempotency_claim", None)
    if claim is not None:
        idempotency.release(claim)



def json_body() -> dict:
    """The request body as a JSON object; anything else is the contract's one 400. A string
    or number in it that no field could take is a 422 naming it. Parsed and checked once a
    request (the schema check and the view both ask for it): on the request, not on ``g``,
    which a caller's app context may share between requests."""
    checked = getattr(request, "portal_checked_json", None)
    if checked is not None:
        return checked
    try:
        data = request.get_json(force=True, silent=True)
    except RecursionError:  # absurdly deep nesting: not a body we take
        data = None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    rule = request.url_rule.rule if request.url_rule is not None else None
    request.portal_conforms = rule is not None and schemas.conforms(request.method, rule, data)
    if not request.portal_conforms:  # (a conforming body is proven clean: see Operation)
        check_json(data)
    request.portal_checked_json = data
    return data


from . import (catalog, credit_notes, deployments, health, invoices, payments, provider,  # noqa: E402,F401
               quotes, webhooks)  # (routes register on import)
from . import accounts, audit, tokens  # noqa: E402,F401  (the audit log; the caller's API tokens)
from . import openapi  # noqa: E402,F401  (the OpenAPI document and its page; no auth)
