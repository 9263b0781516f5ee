def test_health_reports_database_and_redis_without_auth(app, client):
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "database": "ok", "redis": "not_configured",
                            "worker": False, "scheduler": False}


def test_health_pings_redis_when_configured(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:6379/0")
    assert client.get("/api/health").get_json()["redis"] == "ok"


def test_health_is_503_when_redis_is_unreachable(app, client, monkeypatch):
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    r = client.get("/api/health")
    assert r.status_code == 503
    assert r.get_json() == {"status": "degraded", "database": "ok", "redis": "unreachable",
                            "worker": False, "scheduler": False}
