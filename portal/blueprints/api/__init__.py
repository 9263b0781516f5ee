"""The JSON API: bearer tokens, JSON in and out, the contract's error shape."""
from flask import Blueprint, g, request

from ...errors import BadRequest, Unauthorized
from ...inputs import check_json, check_query_and_form
from ...services import accounts

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
health_bp = Blueprint("health", __name__, url_prefix="/api")


@api_bp.before_request
def authenticate_bearer():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send a bearer token: Authorization: Bearer <token>.")
    user = accounts.user_for_token(token.strip())
    if user is None:
        raise Unauthorized("The bearer token is invalid or revoked.")
    g.api_user = user
    check_query_and_form()  # after the credentials: a 401 comes before anything else


def json_body() -> dict:
    """The request body as a JSON object; anything else is the contract's one 400. A string
    or number in it that no field could take is a 422 naming it."""
    try:
        data = request.get_json(force=True, silent=True)
    except RecursionError:  # absurdly deep nesting: not a body we take
        data = None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    check_json(data)
    return data


from . import catalog, deployments, health, invoices, provider, quotes  # noqa: E402,F401  (routes register on import)
