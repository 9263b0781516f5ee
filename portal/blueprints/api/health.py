"""Liveness and reachability of the database and Redis, and whether a worker and the
scheduler were seen alive in the last 2 minutes; no auth."""
from flask import current_app
from sqlalchemy import text

from ... import queue
from ...extensions import db
from . import health_bp


@health_bp.get("/health")
def health():
    checks = {"database": "ok", "redis": "not_configured", "worker": False, "scheduler": False}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any failure to reach it is the answer, not an error
        db.session.rollback()
        checks["database"] = "unreachable"
    url = current_app.config.get("REDIS_URL")
    if url:
        try:
            conn = queue.connect(url)
            conn.ping()
            checks["redis"] = "ok"
            checks["worker"] = queue.workers_alive(conn, queue.queue_prefix())
            checks["scheduler"] = queue.scheduler_alive(conn)
        except Exception:
            checks["redis"] = "unreachable"
    # A stopped worker is reported, not a reason to take the web app out of service.
    healthy = checks["database"] == "ok" and checks["redis"] in ("ok", "not_configured")
    return {"status": "ok" if healthy else "degraded", **checks}, 200 if healthy else 503
