from ...auth import current_actor, requires
from ...services import catalog, catalog_admin
from . import api_bp, json_body, serializers


@api_bp.get("/catalog/plans")
@requires("catalog.read")
def plans():
    return {"plans": [serializers.plan(p) for p in catalog.list_plans()], "next": None}


@api_bp.get("/catalog/addons")
@requires("catalog.read")
def addons():
    return {"addons": [serializers.addon(a) for a in catalog.list_addons()], "next": None}


@api_bp.post("/catalog/plans")
@requires("catalog.manage")
def create_plan():
    return serializers.plan(catalog_admin.create_plan(current_actor(), json_body())), 201


@api_bp.post("/catalog/plans/<plan_code>/versions")
@requires("catalog.manage")
def create_version(plan_code):
    version = catalog_admin.create_version(current_actor(), plan_code, json_body())
    return serializers.plan_version(version), 201


@api_bp.post("/catalog/addons")
@requires("catalog.manage")
def create_addon():
    return serializers.addon(catalog_admin.create_addon(current_actor(), json_body())), 201


@api_bp.post("/catalog/addons/<addon_code>/retire")
@requires("catalog.manage")
def retire_addon(addon_code):
    return serializers.addon(catalog_admin.retire_addon(current_actor(), addon_code))
