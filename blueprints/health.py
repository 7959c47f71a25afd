"""/healthz for load balancers and monitors."""

from __future__ import annotations

from flask import Blueprint
from flask import jsonify
from sqlalchemy import text

from extensions import db
from jobs.queue import redis_status

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - report, never raise, from a health check
        db.session.rollback()
        database = f"error: {type(exc).__name__}"
    body = {"database": database, "redis": redis_status()}
    return jsonify(body), 200 if database == "ok" else 503
