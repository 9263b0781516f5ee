from tests.factories import make_user


def test_plans_list_the_seeded_studio_plan(catalog, api_as):
    r = api_as(make_user("tenant_admin")).get("/api/v1/catalog/plans")
    assert r.status_code == 200
    body = r.get_json()
    assert body["next"] is None
    (studio,) = body["plans"]
    assert {k: studio[k] for k in ("code", "name")} == {"code": "studio", "name": "Studio"}
    assert studio["versions"] == [
        {
            "version": 1,
            "base_price_cents": 5000,
            "currency": "AUD",
            "effective_from": "2026-01-01",
            "items": [
                {"resource_kind": "droplet_hours", "included_qty": 1488, "overage_price_cents": 1,
                 "overage_unit": "hour", "hard_cap_qty": None},
                {"resource_kind": "llm_tokens", "included_qty": 1000000, "overage_price_cents": 1,
                 "overage_unit": "1k_tokens", "hard_cap_qty": None},
                {"resource_kind": "spaces_gb", "included_qty": 100, "overage_price_cents": 2,
                 "overage_unit": "gb", "hard_cap_qty": None},
            ],
        }
    ]


def test_addons_list_storage_50gb(catalog, api_as):
    r = api_as(make_user()).get("/api/v1/catalog/addons")
    assert r.status_code == 200
    (addon,) = r.get_json()["addons"]
    assert {k: v for k, v in addon.items() if k != "id"} == {
        "code": "storage_50gb", "name": "Storage 50 GB", "price_cents": 750, "currency": "AUD",
        "resource_kind": "spaces_gb", "qty": 50, "retired": False,
    }


def test_catalog_needs_a_token(client, catalog):
    assert client.get("/api/v1/catalog/plans").status_code == 401
    assert client.get("/api/v1/catalog/addons").status_code == 401
