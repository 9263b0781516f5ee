"""Liveness and reachability of the database and Redis; no auth."""
from flask import current_app
from sqlalchemy import text

from ...extensions import db
from . import health_bp


@health_bp.get("/health")
def health():
    checks = {"database": "ok", "redis": "not_configured"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any failure to reach it is the answer, not an error
        db.session.rollback()
        checks["database"] = "unreachable"
    url = current_app.config.get("REDIS_URL")
    if url:
        from redis import Redis

        try:
            Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unreachable"
    healthy = checks["database"] == "ok" and checks["redis"] in ("ok", "not_configured")
    return {"status": "ok" if healthy else "degraded", **checks}, 200 if healthy else 503
