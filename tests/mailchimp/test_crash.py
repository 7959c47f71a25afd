"""A real worker process SIGKILLed mid-export; the next run, on a real RQ worker, converges."""

from __future__ import annotations

import time
from datetime import timedelta

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
from tests.worker_process import kill_job_when

SEGMENT_DELAY = 4.0  # seconds each segment edit hangs while the worker is killed


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
    Queue("sync", connection=queue.get_redis()).empty()  # a subprocess is the worker
    db.session.commit()
    kill_job_when(redis_app, database_url, redis_url, run.id,
                  lambda: _segment_edits(mailchimp_server, segment) > 0)
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
