from ...auth import requires
from ...services import quotes
from . import api_bp, json_body, serializers


@api_bp.post("/quote")
@requires("quote.price")
def quote():
    req, priced = quotes.price_quote(json_body())
    return serializers.quote(priced, req.plan_version, req.starts_on)
