"""A real worker process SIGKILLed mid-export; the next run, on a real RQ worker, converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue
from rq import SimpleWorker

from emulators.mailchimp_data import DEFAULT_LIST_ID
from extensions import db
from jobs import queue
from jobs.mailchimp import start_list_sync
from jobs.maintenance import fail_abandoned_runs
from models.integrations import ListConnection
from models.integrations import SyncStatus
from models.jobs import JobRun
from models.jobs import JobStatus
from tests import factories_mailchimp as mc_factories
from tests.mailchimp.test_sync import segment_of
from tests.mailchimp.test_sync import states

ROOT = Path(__file__).resolve().parents[2]
SEGMENT_DELAY = 4.0  # seconds each segment edit hangs while the worker is killed

# No handler, finally or rollback runs in a SIGKILLed process: the OOM killer's way.
_WORKER = """
import sys
from app import create_app
from jobs import runner
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "REDIS_URL": sys.argv[2],
                  "TESTING": True, "SECRET_KEY": "test-secret",
                  "ENCRYPTION_KEYS": sys.argv[3].split(",")})
with app.app_context():
    runner.execute(int(sys.argv[4]))
"""


def _segment_edits(base_url: str, segment: str) -> int:
    path = f"/lists/{DEFAULT_LIST_ID}/segments/{segment}"
    return sum(1 for c in mc_factories.calls(base_url)
               if c["method"] == "POST" and c["path"].endswith(path))


@pytest.mark.redis
def test_a_sigkilled_worker_mid_export_converges_on_the_next_run(
        redis_app, mailchimp_server, database_url, redis_url):
    _mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=1200)
    segment = segment_of(connection)
    # Members are subscribed, then the segment edits hang: killed between the two.
    mc_factories.control(mailchimp_server, "faults", {
        "delay": SEGMENT_DELAY, "delay_rate": 1.0,
        "paths": [f"/us21/3.0/lists/{DEFAULT_LIST_ID}/segments/{segment}"]})
    run = start_list_sync(connection)
    Queue("sync", connection=queue.get_redis()).empty()  # the subprocess is the worker
    db.session.commit()
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, database_url, redis_url,
         ",".join(redis_app.config["ENCRYPTION_KEYS"]), str(run.id)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _segment_edits(mailchimp_server, segment):
            time.sleep(0.05)
        assert _segment_edits(mailchimp_server, segment), "the export never reached the segment"
        assert worker.poll() is None, "the worker should still be mid-export"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    killed_at = time.monotonic()
    mc_factories.control(mailchimp_server, "faults", {})
    db.session.rollback()
    assert states(connection) == []  # nothing was confirmed, so nothing was recorded
    subscribed = mc_factories.get(mailchimp_server, f"/lists/{DEFAULT_LIST_ID}/members",
                                  count=1)["total_items"]
    assert 0 < subscribed <= len(rows)  # the killed run left members outside the segment
    run = db.session.get(JobRun, run.id)
    assert run.status is JobStatus.RUNNING
    run.started_at -= timedelta(hours=3)
    db.session.commit()
    assert fail_abandoned_runs() == 1

    again = start_list_sync(connection)
    SimpleWorker(["sync"], connection=queue.get_redis()).work(burst=True)
    db.session.expire_all()
    assert db.session.get(JobRun, again.id).status is JobStatus.SUCCEEDED
    assert db.session.get(ListConnection, connection.id).sync_status is SyncStatus.UP_TO_DATE
    emails = sorted(r.email for r in rows)
    assert mc_factories.segment_emails(mailchimp_server, segment) == emails
    total = mc_factories.get(mailchimp_server, f"/lists/{DEFAULT_LIST_ID}/members",
                             count=1)["total_items"]
    assert total == len(rows)  # upserts by subscriber hash: none twice
    assert len(states(connection)) == len(rows)
    # The edits hung at the kill still land in the emulator: let them, before the next
    # test resets it.
    time.sleep(max(0.0, killed_at + SEGMENT_DELAY + 0.5 - time.monotonic()))
