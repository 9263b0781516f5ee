"""The caller's own API tokens. The secret is in the creation's answer and nowhere else."""
from flask import g, request

from ...auth import current_actor, requires
from ...services import tokens
from ...services.paging import next_page_path, page_of, parse_page
from . import api_bp, json_body, serializers


@api_bp.get("/tokens")
@requires("tokens.own")
def list_tokens():
    rows, next_page = page_of(tokens.tokens_of(current_actor()), *parse_page(request.args))
    return {
        "tokens": [serializers.api_token(t) for t in rows],
        "next": next_page_path(".list_tokens", next_page),
    }


@api_bp.post("/tokens")
@requires("tokens.own")
def create_token():
    name, days = tokens.parse_new_token(json_body())
    user = current_actor()
    token, secret = tokens.issue(user, name, days, actor=user, by_token_id=g.api_token_id)
    return serializers.new_api_token(token, secret), 201, {"Cache-Control": "no-store"}


@api_bp.delete("/tokens/<int:token_id>")
@requires("tokens.own")
def revoke_token(token_id):
    """Another user's token is 404; revoking a revoked one answers it again (200)."""
    return serializers.api_token(tokens.revoke(current_actor(), token_id))
