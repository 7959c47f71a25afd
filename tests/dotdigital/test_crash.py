"""A worker dying mid-export: the next run converges, nothing lost, nothing duplicated."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from rq import Queue
from rq import SimpleWorker
from sqlalchemy import select

import jobs
from extensions import db
from integrations.dotdigital.client import DotdigitalClient
from jobs import queue
from jobs.maintenance import fail_abandoned_runs
from models.integrations import ListConnection
from models.integrations import SyncState
from models.integrations import SyncStatus
from models.jobs import JobRun
from models.jobs import JobStatus
from tests import factories_dotdigital as dd_factories
from tests.worker_process import kill_job_when


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the job gets to handle it."""


@pytest.mark.redis
def test_a_worker_killed_after_the_import_post_converges_on_the_next_run(
        redis_app, dotdigital_server, monkeypatch):
    _dd, _mlist, rows, connection = dd_factories.connected(dotdigital_server, size=5)
    original = DotdigitalClient.import_contacts

    def post_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise WorkerKilled

    monkeypatch.setattr(DotdigitalClient, "import_contacts", post_then_die)
    run = jobs.enqueue("dotdigital_list_sync", connection.job_target,
                       {"connection_id": connection.id})
    # The worker took the job off the queue, then died before it noted the import id.
    Queue("sync", connection=queue.get_redis()).empty()
    with pytest.raises(WorkerKilled):
        jobs.runner.execute(run.id)
    db.session.rollback()
    run = db.session.get(JobRun, run.id)
    assert run.status is JobStatus.RUNNING
    assert all(s.pending_import_id is None for s in db.session.scalars(select(SyncState)))
    # Maintenance fails the orphan so the target is free again.
    run.started_at -= timedelta(hours=3)
    db.session.commit()
    assert fail_abandoned_runs() == 1
    monkeypatch.setattr(DotdigitalClient, "import_contacts", original)
    again = jobs.enqueue("dotdigital_list_sync", connection.job_target,
                         {"connection_id": connection.id})
    assert again.id != run.id and again.rq_job_id
    SimpleWorker(["sync"], connection=queue.get_redis()).work(burst=True)
    db.session.expire_all()
    assert db.session.get(JobRun, again.id).status is JobStatus.SUCCEEDED
    assert db.session.get(ListConnection, connection.id).sync_status is SyncStatus.UP_TO_DATE
    state = dd_factories.remote_state(dotdigital_server)
    emails = [c["email"] for c in state["contacts"]]
    assert sorted(emails) == sorted(r.email for r in rows)  # no duplicates, none lost
    assert dd_factories.book_members(dotdigital_server, "Newsletter") == sorted(emails)
    assert len(state["imports"]) == 2  # the orphaned import and the one that was confirmed


def _import_posts(base_url: str) -> int:
    calls = requests.get(f"{base_url}/_emulator/calls", timeout=5).json()
    return sum(1 for c in calls if c["method"] == "POST" and c["path"].endswith("/import"))


@pytest.mark.redis
def test_a_sigkilled_worker_mid_export_converges_on_the_next_run(
        redis_app, dotdigital_server, database_url, redis_url):
    _dd, _mlist, rows, connection = dd_factories.connected(dotdigital_server, size=40)
    # Import status polls hang, so the worker is surely mid-export when it is killed.
    dd_factories.control(dotdigital_server, "faults", {
        "delay": 30, "delay_rate": 1.0, "paths": ["/v2/contacts/import/"]})
    run = jobs.enqueue("dotdigital_list_sync", connection.job_target,
                       {"connection_id": connection.id})
    Queue("sync", connection=queue.get_redis()).empty()  # a subprocess is the worker
    db.session.commit()
    kill_job_when(redis_app, database_url, redis_url, run.id,
                  lambda: _import_posts(dotdigital_server) > 0)
    assert _import_posts(dotdigital_server) == 1
    dd_factories.control(dotdigital_server, "faults", {})
    db.session.rollback()
    run = db.session.get(JobRun, run.id)
    assert run.status is JobStatus.RUNNING  # nothing in the killed worker could say otherwise
    run.started_at -= timedelta(hours=3)
    db.session.commit()
    assert fail_abandoned_runs() == 1
    again = jobs.enqueue("dotdigital_list_sync", connection.job_target,
                         {"connection_id": connection.id})
    SimpleWorker(["sync"], connection=queue.get_redis()).work(burst=True)
    db.session.expire_all()
    assert db.session.get(JobRun, again.id).status is JobStatus.SUCCEEDED
    assert db.session.get(ListConnection, connection.id).sync_status is SyncStatus.UP_TO_DATE
    emails = [c["email"] for c in dd_factories.remote_state(dotdigital_server)["contacts"]]
    assert sorted(emails) == sorted(r.email for r in rows)  # no duplicates, none lost
    assert dd_factories.book_members(dotdigital_server, "Newsletter") == sorted(emails)
