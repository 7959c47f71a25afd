"""JobRun lifecycle, in-process and on a real RQ worker, and the cron table."""

import pytest
from rq import SimpleWorker
from rq.cron import CronScheduler

import jobs
from extensions import db
from jobs import queue
from jobs.maintenance import fail_abandoned_runs
from jobs.registry import registry
from jobs.schedule import SCHEDULE
from jobs.schedule import register_schedule
from models.base import utcnow
from models.jobs import JobRun
from models.jobs import JobStatus
from models.users import Role


@jobs.job("test_count")
def _count_job(run, upto: int, fail_at: int | None = None):
    jobs.report(run, phase="counting", total=upto)
    for n in range(1, upto + 1):
        if n == fail_at:
            raise jobs.runner.JobError(f"stopped at {n}")
        jobs.report(run, progress=n, counted=n)


def test_in_process_job_runs_and_records_progress(app):
    run = jobs.enqueue("test_count", "thing:1", {"upto": 3})
    db.session.refresh(run)
    assert run.status is JobStatus.SUCCEEDED
    assert (run.progress, run.total, run.counts) == (3, 3, {"counted": 3})
    assert run.started_at and run.finished_at and run.duration_seconds >= 0


def test_failure_is_recorded_with_the_message(app):
    run = jobs.enqueue("test_count", "thing:2", {"upto": 5, "fail_at": 2})
    db.session.refresh(run)
    assert run.status is JobStatus.FAILED
    assert run.error == "stopped at 2"
    assert run.progress == 1


def test_one_active_run_per_target(app):
    first = JobRun(kind="test_count", target="thing:3", params={"upto": 1},
                   status=JobStatus.RUNNING)
    db.session.add(first)
    db.session.commit()
    again = jobs.enqueue("test_count", "thing:3", {"upto": 1})
    assert again.id == first.id
    assert db.session.query(JobRun).count() == 1


def test_the_database_refuses_a_second_active_run(app):
    from sqlalchemy.exc import IntegrityError

    db.session.add(JobRun(kind="k", target="t", status=JobStatus.RUNNING))
    db.session.commit()
    db.session.add(JobRun(kind="k", target="t", status=JobStatus.QUEUED))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(JobRun(kind="k", target="t", status=JobStatus.SUCCEEDED))
    db.session.commit()


def test_a_finished_run_is_not_executed_again(app):
    run = jobs.enqueue("test_count", "thing:4", {"upto": 2})
    assert jobs.runner.execute(run.id) == "already succeeded"


def test_a_failed_run_retried_while_another_is_active_stands_down(app):
    failed = jobs.enqueue("test_count", "thing:4b", {"upto": 3, "fail_at": 1})
    other = JobRun(kind="test_count", target="thing:4b", params={"upto": 1},
                   status=JobStatus.RUNNING)
    db.session.add(other)
    db.session.commit()
    assert jobs.runner.execute(failed.id) == "superseded"
    db.session.refresh(failed)
    assert failed.status is JobStatus.FAILED


def test_progress_fragment_polls_while_active_and_stops_when_done(client, auth):
    auth.login_as(Role.VIEWER)
    run = JobRun(kind="test_count", target="x", status=JobStatus.RUNNING, progress=2, total=4)
    db.session.add(run)
    db.session.commit()
    html = client.get(f"/jobs/{run.id}/progress", headers={"HX-Request": "true"}).get_data(
        as_text=True)
    assert 'hx-trigger="every 1s"' in html and 'value="2" max="4"' in html
    assert "<html" not in html
    run.status = JobStatus.SUCCEEDED
    db.session.commit()
    html = client.get(f"/jobs/{run.id}/progress", headers={"HX-Request": "true"}).get_data(
        as_text=True)
    assert "hx-trigger" not in html and "Succeeded" in html


def test_abandoned_runs_are_failed_by_maintenance(app):
    from datetime import timedelta

    stale = JobRun(kind="test_count", target="y", status=JobStatus.RUNNING,
                   started_at=utcnow() - timedelta(days=1))
    fresh = JobRun(kind="test_count", target="z", status=JobStatus.RUNNING, started_at=utcnow())
    db.session.add_all([stale, fresh])
    db.session.commit()
    assert fail_abandoned_runs() == 1
    assert stale.status is JobStatus.FAILED and "abandoned" in stale.error
    assert fresh.status is JobStatus.RUNNING


@pytest.mark.redis
def test_job_runs_on_a_real_rq_worker(redis_app):
    run = jobs.enqueue("test_count", "thing:5", {"upto": 4})
    assert run.status is JobStatus.QUEUED and run.rq_job_id
    redis = queue.get_redis()
    SimpleWorker(["default"], connection=redis).work(burst=True)
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    assert run.status is JobStatus.SUCCEEDED
    assert run.counts == {"counted": 4}


@pytest.mark.redis
def test_rq_records_a_failed_job_and_the_run_says_why(redis_app):
    from rq import Queue

    run = jobs.enqueue("test_count", "thing:6", {"upto": 3, "fail_at": 3})
    redis = queue.get_redis()
    SimpleWorker(["default"], connection=redis).work(burst=True)
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    assert run.status is JobStatus.FAILED and run.error == "stopped at 3"
    assert Queue("default", connection=redis).failed_job_registry.count == 1


@pytest.mark.redis
def test_scheduled_entry_runs_through_rq(redis_app):
    from rq import Queue

    redis = queue.get_redis()
    Queue("default", connection=redis).enqueue("jobs.runner.run_scheduled", "maintenance")
    SimpleWorker(["default"], connection=redis).work(burst=True)
    db.session.expire_all()
    run = db.session.query(JobRun).filter_by(kind="maintenance").one()
    assert run.status is JobStatus.SUCCEEDED
    assert "runs_pruned" in run.counts


@pytest.mark.redis
def test_registering_the_schedule_twice_schedules_nothing_twice(redis_app):
    scheduler = CronScheduler(connection=queue.get_redis())
    assert register_schedule(scheduler) == len(SCHEDULE)
    assert register_schedule(scheduler) == 0
    assert len(scheduler.get_jobs()) == len(SCHEDULE)


def test_every_scheduled_kind_is_a_registered_job():
    assert all(entry.kind in registry for entry in SCHEDULE)


@pytest.mark.redis
def test_second_scheduler_waits_for_the_leader(redis_app):
    from jobs.cli import LeaderCronScheduler

    redis = queue.get_redis()
    first = LeaderCronScheduler(connection=redis, name="first")
    second = LeaderCronScheduler(connection=redis, name="second")
    for scheduler in (first, second):
        scheduler.register(_noop, queue_name="default", interval=60)
    assert len(first.enqueue_jobs()) == 1
    assert second.enqueue_jobs() == []


def _noop():
    return None


def test_embedded_scheduler_runs_the_cron_table_without_redis(app, monkeypatch):
    from jobs import schedule
    from jobs.cli import run_embedded_schedule
    from jobs.schedule import Scheduled

    # croniter's optional sixth field is seconds: due within a second.
    monkeypatch.setattr(schedule, "SCHEDULE", [Scheduled("maintenance", "* * * * * *")])
    run_embedded_schedule(stop_after=1)
    run = db.session.query(JobRun).filter_by(kind="maintenance").one()
    assert run.status is JobStatus.SUCCEEDED
