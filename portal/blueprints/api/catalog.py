from ...auth import requires
from ...services import catalog
from . import api_bp, serializers


@api_bp.get("/catalog/plans")
@requires("catalog.read")
def plans():
    return {"plans": [serializers.plan(p) for p in catalog.list_plans()], "next": None}


@api_bp.get("/catalog/addons")
@requires("catalog.read")
def addons():
    return {"addons": [serializers.addon(a) for a in catalog.list_addons()], "next": None}
