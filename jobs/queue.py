"""The Redis connection and RQ queues of the app (none in the embedded mode)."""

from __future__ import annotations

from flask import Flask
from flask import current_app
from redis import Redis
from rq import Queue


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    app.extensions["redis"] = Redis.from_url(url) if url else None


def get_redis(app: Flask | None = None) -> Redis | None:
    return (app or current_app).extensions.get("redis")


def get_queue(name: str) -> Queue:
    redis = get_redis()
    if redis is None:
        raise RuntimeError("no REDIS_URL: jobs run in-process")
    return Queue(name, connection=redis)


def redis_status(app: Flask | None = None) -> str:
    redis = get_redis(app)
    if redis is None:
        return "disabled"
    try:
        redis.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "down" for health checks
        return f"error: {type(exc).__name__}"
    return "ok"
