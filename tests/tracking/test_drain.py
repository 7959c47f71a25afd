"""Draining the hit stream: acknowledged only after the commit, exactly once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import jobs
from extensions import db
from jobs import queue
from models.jobs import JobStatus
from models.tracking import TrackingEvent
from services.tracking import ingest
from tests import factories_tracking as tf

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]


def _count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(TrackingEvent))


def _queue(site_id: int, n: int) -> None:
    redis = queue.get_redis()
    pipe = redis.pipeline(transaction=False)
    for i in range(n):
        hit = tf.hit(site_id, url=f"https://shop.example.com/{i}", visitor=f"{i % 500:016x}")
        pipe.xadd(ingest.STREAM, {"h": json.dumps(hit)})
    pipe.execute()


def test_a_drain_that_dies_after_its_commit_duplicates_nothing(redis_app):
    site = tf.website()
    _queue(site.id, 30)
    redis = queue.get_redis()
    # Committed, then "killed" before acknowledging: the entries stay pending.
    assert ingest.drain_batch(redis, count=20, acknowledge=False) == (20, 20)
    assert redis.xpending(ingest.STREAM, ingest.GROUP)["pending"] == 20
    # The next drain reads them again first, finds them under the cursor, and only acks.
    assert ingest.drain() == (30, 10)
    assert _count() == 30
    assert redis.xlen(ingest.STREAM) == 0
    assert redis.xpending(ingest.STREAM, ingest.GROUP)["pending"] == 0


def test_a_drain_that_dies_before_its_commit_loses_nothing(redis_app):
    site = tf.website()
    _queue(site.id, 10)
    redis = queue.get_redis()
    redis.xgroup_create(ingest.STREAM, ingest.GROUP, id="0", mkstream=True)
    # Read but never written: what a worker killed mid-batch leaves behind.
    redis.xreadgroup(ingest.GROUP, ingest.CONSUMER, {ingest.STREAM: ">"}, count=6)
    assert ingest.drain() == (10, 10)
    assert _count() == 10


def test_hits_of_a_deleted_website_are_dropped_not_failed(redis_app):
    kept, gone = tf.website(), tf.website()
    _queue(kept.id, 3)
    _queue(gone.id, 2)
    from services.tracking import websites

    websites.delete_website(gone)
    assert ingest.drain() == (5, 3)
    assert ingest.pending_count() == 0


def test_drain_job_honours_the_rotation_interval_unless_forced(redis_app):
    site = tf.website()
    _queue(site.id, 4)
    from rq import SimpleWorker

    run = jobs.enqueue("tracking_drain", "", {"force": True})
    SimpleWorker(["default"], connection=queue.get_redis()).work(burst=True)
    db.session.expire_all()
    run = db.session.get(type(run), run.id)
    assert run.status is JobStatus.SUCCEEDED and run.counts["stored"] == 4
    _queue(site.id, 2)
    again = jobs.enqueue("tracking_drain", "", {})
    SimpleWorker(["default"], connection=queue.get_redis()).work(burst=True)
    db.session.expire_all()
    again = db.session.get(type(run), again.id)
    assert again.phase.startswith("skipped") and _count() == 4


_DRAINER = """
import sys
from app import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "REDIS_URL": sys.argv[2],
                  "TESTING": True})
with app.app_context():
    from jobs.queue import get_redis
    from services.tracking import ingest
    redis = get_redis()
    while ingest.drain_batch(redis, count=100)[0]:
        pass
"""


def test_killing_the_worker_mid_drain_stores_every_hit_exactly_once(redis_app, database_url,
                                                                    redis_url):
    site = tf.website()
    total = 20_000
    _queue(site.id, total)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-c", _DRAINER, database_url, redis_url],
                              cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline and stored < 2000:
            try:
                stored = _count()
            except OperationalError:  # SQLite busy while the worker commits
                stored = 0
            time.sleep(0.02)
        assert 0 < stored < total, "the worker should be killed mid-drain"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    ingest.drain()
    assert _count() == total
    urls = db.session.scalar(select(func.count(func.distinct(TrackingEvent.url))))
    assert urls == total
    assert ingest.pending_count() == 0
